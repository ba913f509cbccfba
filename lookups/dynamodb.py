"""Lab 4's orders table (4.1), its status index and its stream (4.3), found by the lab's names.

A table name is unique in an account's region, so there is never a choice to make: the table
is there or not. The stream reads are pure reads (shard iterators are not state), so the
checks and provisioning (which adopts a stream that already holds the app's changes) share them.
"""

from __future__ import annotations

from boto3.dynamodb.types import TypeDeserializer

from provisioning import naming
from provisioning.errors import unless_missing

from .found import Found, missing, unique

TABLE = naming.ORDERS_TABLE
INDEX = naming.STATUS_INDEX


def describe_table(client, name: str = TABLE) -> dict | None:
    """The table's description, None when there is none (provisioning polls on this)."""
    return unless_missing(lambda: client.describe_table(TableName=name)["Table"])


def table(client, name: str = TABLE) -> Found:
    return unique(f"DynamoDB table {name}", describe_table(client, name), f"table named {name}")


def status_index(orders: Found) -> Found:
    """The table's global secondary index the lab queries by status."""
    subject = f"global secondary index {INDEX} of {orders.subject}"
    if not orders:
        return missing(subject, orders.not_found)
    indexes = orders.get("GlobalSecondaryIndexes") or []
    for index in indexes:
        if index["IndexName"] == INDEX:
            return Found(subject, index, f"the index named {INDEX}")
    return missing(subject, f"the table's indexes are {[i['IndexName'] for i in indexes]}")


def tags(client, orders: Found) -> list[dict]:
    """Every tag of the table (ListTagsOfResource pages)."""
    kwargs = {"ResourceArn": orders["TableArn"]}
    found: list[dict] = []
    while True:
        response = client.list_tags_of_resource(**kwargs)
        found += response.get("Tags", [])
        if not response.get("NextToken"):
            return found
        kwargs["NextToken"] = response["NextToken"]


# --- the stream (4.3) --------------------------------------------------------------------------

def read_stream_records(streams, arn: str, max_pages: int = 1000) -> list[dict]:
    """Every record now readable in the stream, all shards from TRIM_HORIZON; images deserialised."""
    records: list[dict] = []
    shards: list[dict] = []
    kwargs = {"StreamArn": arn}
    while True:
        description = streams.describe_stream(**kwargs)["StreamDescription"]
        shards.extend(description.get("Shards", ()))
        if "LastEvaluatedShardId" not in description:
            break
        kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        ).get("ShardIterator")
        for _ in range(max_pages):
            if not iterator:
                break
            response = streams.get_records(ShardIterator=iterator)
            records.extend(_plain(record) for record in response.get("Records", ()))
            if not response.get("Records"):
                break  # an open shard hands out iterators forever; empty means caught up
            iterator = response.get("NextShardIterator")
    return records


_deserializer = TypeDeserializer()


def _plain(record: dict) -> dict:
    """A stream record with Keys/NewImage/OldImage as plain Python (numbers as Decimal)."""
    body = dict(record.get("dynamodb", {}))
    for part in ("Keys", "NewImage", "OldImage"):
        if part in body:
            body[part] = {key: _deserializer.deserialize(value) for key, value in body[part].items()}
    return {**record, "dynamodb": body}


def record_customer(record: dict) -> str:
    return record["dynamodb"].get("Keys", {}).get("customer_id", "")

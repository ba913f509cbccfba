"""Lab 4: the orders table and its status index (4.1), the lab's app (4.2), Streams (4.3).

Everything is found by the table's name. The checks only read, except those marked
writes_data: they run the reference OrderRepository on a customer of their own and delete
what they wrote. The lab's orders are recognised by what they hold (products and quantities),
not by count, so an account where the app ran twice still grades.
"""

from __future__ import annotations

import uuid
import warnings
from contextlib import contextmanager
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.apps.orders import LAB_ORDERS, PENDING, SHIPPED, OrderRepository, products
from provisioning.dynamodb import STREAM_VIEW_TYPE, describe_table, read_stream_records, record_customer
from provisioning.polling import DeadlineExceeded, wait_until

TABLE = naming.ORDERS_TABLE
INDEX = naming.STATUS_INDEX
CHECK_PREFIX = "CHECK-"  # customers of the writes_data checks; the stream checks ignore them
FIRST, SECOND, LAST = LAB_ORDERS  # CUST-001 laptop order, CUST-001 mouse order, CUST-002 desk order


def _table(lab) -> dict:
    table = describe_table(lab.client("dynamodb"))
    assert table is not None, f"DynamoDB table {TABLE} does not exist"
    return table


def _keys(schema) -> dict[str, str]:
    return {part["AttributeName"]: part["KeyType"] for part in schema}


def _status_index(lab) -> dict:
    indexes = _table(lab).get("GlobalSecondaryIndexes") or []
    for index in indexes:
        if index["IndexName"] == INDEX:
            return index
    pytest.fail(f"DynamoDB table {TABLE}: no global secondary index {INDEX} (has {[i['IndexName'] for i in indexes]})")


def _repo(lab) -> OrderRepository:
    _table(lab)
    return OrderRepository(lab.clients.resource("dynamodb").Table(TABLE))


def _eventually(lab, probe, failure: str):
    """Reads through a GSI, a query or a stream converge on AWS: poll up to lab.timeout."""
    try:
        return wait_until(probe, timeout=lab.timeout, what=failure).value
    except DeadlineExceeded as exc:
        cause = f" (last error: {exc.__cause__})" if exc.__cause__ else ""
        pytest.fail(f"{failure} within {lab.timeout:g}s{cause}")


def _lab_orders(lab, customer_id: str, data: dict) -> list[dict]:
    return [o for o in _repo(lab).get_customer_orders(customer_id) if products(o) == products(data)]


def _label(data: dict) -> str:
    return f"{data['customer_id']}'s " + " + ".join(item["product"] for item in data["items"]) + " order"


# --- 4.1 the table ---------------------------------------------------------------------------

@pytest.mark.step("4.1")
def test_orders_table_keys_are_customer_id_hash_and_order_date_range(lab):
    keys = _keys(_table(lab)["KeySchema"])
    assert keys == {"customer_id": "HASH", "order_date": "RANGE"}, (
        f"DynamoDB table {TABLE}: key schema is {keys}, expected customer_id HASH and order_date RANGE"
    )


@pytest.mark.step("4.1")
def test_orders_key_attributes_are_strings(lab):
    types = {a["AttributeName"]: a["AttributeType"] for a in _table(lab)["AttributeDefinitions"]}
    wrong = {name: types.get(name) for name in ("customer_id", "order_date", "status") if types.get(name) != "S"}
    assert not wrong, f"DynamoDB table {TABLE}: attribute types {wrong}, expected S (string) for each"


@pytest.mark.step("4.1")
def test_status_index_keys_are_status_hash_and_order_date_range(lab):
    keys = _keys(_status_index(lab)["KeySchema"])
    assert keys == {"status": "HASH", "order_date": "RANGE"}, (
        f"DynamoDB table {TABLE}: index {INDEX} keys are {keys}, expected status HASH and order_date RANGE"
    )


@pytest.mark.step("4.1")
def test_status_index_projects_all_attributes(lab):
    projection = _status_index(lab).get("Projection", {}).get("ProjectionType")
    assert projection == "ALL", f"DynamoDB table {TABLE}: index {INDEX} projects {projection}, expected ALL"


@pytest.mark.step("4.1")
def test_orders_table_bills_pay_per_request(lab):
    # AWS omits BillingModeSummary for tables that were always provisioned.
    mode = (_table(lab).get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    assert mode == "PAY_PER_REQUEST", f"DynamoDB table {TABLE}: billing mode is {mode}, expected PAY_PER_REQUEST"


@pytest.mark.step("4.1")
def test_orders_table_is_tagged_environment_lab(lab):
    client = lab.client("dynamodb")
    kwargs = {"ResourceArn": _table(lab)["TableArn"]}
    tags = []
    while True:
        response = client.list_tags_of_resource(**kwargs)
        tags += response.get("Tags", [])
        if not response.get("NextToken"):
            break
        kwargs["NextToken"] = response["NextToken"]
    key, value = naming.LAB_TAG
    found = naming.tag_value(tags, key)
    assert found == value, f"DynamoDB table {TABLE}: tag {key} is {found!r}, expected {value!r}"


# --- 4.2 what the lab's app left behind --------------------------------------------------------

@pytest.mark.step("4.2")
def test_customer_001_has_the_labs_two_orders(lab):
    orders = _repo(lab).get_customer_orders("CUST-001")
    held = [products(o) for o in orders]
    missing = [_label(data) for data in (FIRST, SECOND) if products(data) not in held]
    assert not missing, f"DynamoDB table {TABLE}: no {' and no '.join(missing)} (CUST-001 holds {held})"


@pytest.mark.step("4.2")
def test_customer_001_first_order_is_shipped_with_updated_at(lab):
    orders = _lab_orders(lab, "CUST-001", FIRST)
    assert orders, f"DynamoDB table {TABLE}: no {_label(FIRST)}"
    for order in orders:
        assert order.get("status") == SHIPPED, (
            f"DynamoDB table {TABLE}: {_label(FIRST)} {order['order_date']} has status {order.get('status')!r}, expected {SHIPPED}"
        )
        assert order.get("updated_at") and order["updated_at"] >= order.get("created_at", ""), (
            f"DynamoDB table {TABLE}: {_label(FIRST)} {order['order_date']} has no updated_at from the status update"
        )


@pytest.mark.step("4.2")
def test_customer_002_order_was_deleted(lab):
    orders = _repo(lab).get_customer_orders("CUST-002")
    assert not orders, (
        f"DynamoDB table {TABLE}: CUST-002 still has {len(orders)} order(s); the app deletes its last order"
    )


@pytest.mark.step("4.2")
def test_customer_001_totals_are_the_labs_decimals(lab):
    for data in (FIRST, SECOND):
        orders = _lab_orders(lab, "CUST-001", data)
        assert orders, f"DynamoDB table {TABLE}: no {_label(data)}"
        expected = Decimal(str(data["total"]))
        for order in orders:
            total = order.get("total")
            assert isinstance(total, Decimal) and total == expected, (
                f"DynamoDB table {TABLE}: {_label(data)} has total {total!r}, expected the number {expected}"
            )


@pytest.mark.step("4.2")
def test_pending_orders_are_found_through_status_index(lab):
    repo = _repo(lab)

    def second_order_listed():
        return [o for o in repo.get_orders_by_status(PENDING)
                if o.get("customer_id") == "CUST-001" and products(o) == products(SECOND)]

    _eventually(lab, second_order_listed,
                f"DynamoDB table {TABLE}: the {PENDING} query through {INDEX} did not return {_label(SECOND)} with its items")


# --- 4.2 the app's access patterns, on the check's own customer ----------------------------------

@contextmanager
def _scratch_customer(lab):
    repo = _repo(lab)
    customer = f"{CHECK_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        yield repo, customer
    finally:
        try:
            kwargs = {"KeyConditionExpression": Key("customer_id").eq(customer), "ConsistentRead": True}
            while True:
                response = repo.table.query(**kwargs)
                for order in response["Items"]:
                    repo.delete_order(customer, order["order_date"])
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except ClientError as error:  # the check's verdict matters more than its cleanup
            warnings.warn(f"could not remove the orders of {customer} from {TABLE}: {error}")


def _create_lab_orders(repo, customer) -> list[dict]:
    return [repo.create_order(customer, data["items"], data["total"]) for data in LAB_ORDERS]


def _when_count(count: int, items: list):
    return items if len(items) == count else None


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_query_by_customer_returns_every_order_in_date_order(lab):
    with _scratch_customer(lab) as (repo, customer):
        created = _create_lab_orders(repo, customer)
        orders = _eventually(lab, lambda: _when_count(3, repo.get_customer_orders(customer)),
                             f"DynamoDB table {TABLE}: a query for {customer} did not return its 3 orders")
        assert [o["order_id"] for o in orders] == [o["order_id"] for o in created], (
            f"DynamoDB table {TABLE}: a query for {customer} returned orders out of order_date order"
        )


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_query_by_customer_from_a_start_date_skips_earlier_orders(lab):
    with _scratch_customer(lab) as (repo, customer):
        created = _create_lab_orders(repo, customer)
        start = created[1]["order_date"]
        orders = _eventually(lab, lambda: _when_count(2, repo.get_customer_orders(customer, start_date=start)),
                             f"DynamoDB table {TABLE}: a query for {customer} with order_date >= {start} "
                             "did not return exactly its last 2 orders")
        assert [o["order_id"] for o in orders] == [o["order_id"] for o in created[1:]], (
            f"DynamoDB table {TABLE}: a query for {customer} with order_date >= {start} returned the wrong orders"
        )


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_status_index_query_returns_a_new_pending_order_whole(lab):
    with _scratch_customer(lab) as (repo, customer):
        order = repo.create_order(customer, SECOND["items"], SECOND["total"])
        found = _eventually(lab, lambda: [o for o in repo.get_orders_by_status(PENDING) if o["customer_id"] == customer],
                            f"DynamoDB table {TABLE}: a new {PENDING} order of {customer} did not appear in {INDEX}")
        assert found == [order], (
            f"DynamoDB table {TABLE}: {INDEX} returned {found} for {customer}, expected the whole order {order}"
        )


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_update_status_returns_all_new_attributes(lab):
    with _scratch_customer(lab) as (repo, customer):
        order = repo.create_order(customer, FIRST["items"], FIRST["total"])
        updated = repo.update_status(customer, order["order_date"], SHIPPED)
        expected = {**order, "status": SHIPPED, "updated_at": updated.get("updated_at")}
        assert updated.get("updated_at") and updated == expected, (
            f"DynamoDB table {TABLE}: update_status returned {updated}, expected the whole order, SHIPPED, with updated_at"
        )


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_delete_order_returns_the_old_item(lab):
    with _scratch_customer(lab) as (repo, customer):
        order = repo.create_order(customer, LAST["items"], LAST["total"])
        old = repo.delete_order(customer, order["order_date"])
        assert old == order, f"DynamoDB table {TABLE}: delete_order returned {old}, expected the deleted order {order}"


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_batch_write_then_count_sees_every_order(lab):
    with _scratch_customer(lab) as (repo, customer):
        orders = [repo.new_order(customer, data["items"], data["total"]) for data in LAB_ORDERS]
        repo.batch_write_orders(orders)
        _eventually(lab, lambda: repo.count_orders(customer) == len(orders),
                    f"DynamoDB table {TABLE}: counting {customer}'s orders after a batch write of {len(orders)} "
                    f"did not give {len(orders)}")


# --- 4.3 Streams -------------------------------------------------------------------------------

@pytest.mark.step("4.3")
def test_orders_stream_is_enabled(lab):
    table = _table(lab)
    assert (table.get("StreamSpecification") or {}).get("StreamEnabled") is True, f"DynamoDB table {TABLE}: Streams is off"
    assert table.get("LatestStreamArn"), f"DynamoDB table {TABLE}: Streams is on but there is no LatestStreamArn"


@pytest.mark.step("4.3")
def test_orders_stream_view_type_is_new_and_old_images(lab):
    view = (_table(lab).get("StreamSpecification") or {}).get("StreamViewType")
    assert view == STREAM_VIEW_TYPE, f"DynamoDB table {TABLE}: stream view type is {view}, expected {STREAM_VIEW_TYPE}"


def _app_records(lab, event: str) -> list[dict]:
    """The stream's `event` records, except those of the writes_data checks' customers."""
    arn = _table(lab).get("LatestStreamArn")
    assert arn, f"DynamoDB table {TABLE}: no stream (LatestStreamArn) to read"
    streams = lab.client("dynamodbstreams")

    def records():
        return [r for r in read_stream_records(streams, arn)
                if r["eventName"] == event and not record_customer(r).startswith(CHECK_PREFIX)]

    # The lab enables the stream after running the app, and a stream keeps records 24 hours:
    # the hint says what to do when nothing is there.
    return _eventually(lab, records, f"stream of {TABLE}: no {event} record of the app's changes "
                                     "(run dynamodb_app.py again after enabling the stream)")


def _images(record: dict) -> set[str]:
    return {part for part in ("NewImage", "OldImage") if part in record["dynamodb"]}


@pytest.mark.step("4.3")
def test_stream_insert_records_carry_the_new_image_only(lab):
    records = _app_records(lab, "INSERT")
    wrong = [sorted(_images(r)) for r in records if _images(r) != {"NewImage"}]
    assert not wrong, f"stream of {TABLE}: INSERT records carry {wrong}, expected NewImage only"


@pytest.mark.step("4.3")
def test_stream_modify_records_carry_both_images_of_the_status_change(lab):
    records = _app_records(lab, "MODIFY")
    wrong = [sorted(_images(r)) for r in records if _images(r) != {"NewImage", "OldImage"}]
    assert not wrong, f"stream of {TABLE}: MODIFY records carry {wrong}, expected NewImage and OldImage"
    changes = [(r["dynamodb"]["OldImage"].get("status"), r["dynamodb"]["NewImage"].get("status")) for r in records]
    assert (PENDING, SHIPPED) in changes, (
        f"stream of {TABLE}: no MODIFY record shows status {PENDING} -> {SHIPPED} (status changes: {changes})"
    )


@pytest.mark.step("4.3")
def test_stream_remove_records_carry_the_old_image_only(lab):
    records = _app_records(lab, "REMOVE")
    wrong = [sorted(_images(r)) for r in records if _images(r) != {"OldImage"}]
    assert not wrong, f"stream of {TABLE}: REMOVE records carry {wrong}, expected OldImage only"

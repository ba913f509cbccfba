"""Lab 4.2's dynamodb_app.py: OrderRepository and main(), as a reference that works.

Differences from the lab's text, each on purpose:
- The table is a parameter (the lab binds a module-level Table in us-east-1), so the same
  code runs against moto, LocalStack or any account.
- Floats anywhere in an order become Decimal (erratum 3: the lab's main() passes float prices
  inside `items` and boto3 refuses them with "TypeError: Float types are not supported").
- order_date is the RANGE key, so two orders of one customer stamped with the same
  timestamp overwrite each other without a word. The reference stamps UTC (the lab's naive
  local time repeats an hour when DST ends, so order_date order is then not time order) at a
  fixed width, never hands out the same stamp twice, and writes with
  attribute_not_exists so a clash with another writer retries with a later stamp instead of
  overwriting. batch_write_orders keeps the lab's overwrite semantics: BatchWriteItem takes
  no conditions.
- Query, index query and count follow LastEvaluatedKey; the lab reads the first 1 MB page only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from .. import naming

PENDING = "PENDING"
SHIPPED = "SHIPPED"
LAB_CUSTOMERS = ("CUST-001", "CUST-002")

# The lab's main() data as printed in the lab, floats included (boto3 refuses them as is).
LAB_ORDERS = (
    {
        "customer_id": "CUST-001",
        "items": [
            {"product": "Laptop Pro", "quantity": 1, "price": 1299.99},
            {"product": "USB-C Hub", "quantity": 2, "price": 49.99},
        ],
        "total": 1399.97,
    },
    {
        "customer_id": "CUST-001",
        "items": [{"product": "Wireless Mouse", "quantity": 1, "price": 29.99}],
        "total": 29.99,
    },
    {
        "customer_id": "CUST-002",
        "items": [
            {"product": "Standing Desk", "quantity": 1, "price": 599.99},
            {"product": "Desk Chair", "quantity": 1, "price": 249.99},
        ],
        "total": 849.98,
    },
)

# Attempts when another writer holds the same (customer_id, order_date).
_CREATE_ATTEMPTS = 5


class OrderKeyConflict(RuntimeError):
    """Every fresh order_date was refused: the table is not keyed as the lab keys it (or other
    writers hold every stamp)."""


def to_dynamodb(value):
    """Floats (at any depth) to Decimal through their shortest repr, as the lab does for total."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {key: to_dynamodb(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_dynamodb(item) for item in value]
    return value


def stamp(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601, so string order is time order."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def products(order: dict) -> tuple[tuple[str, int], ...]:
    """What an order holds, as (product, quantity) pairs: how the lab's orders are recognised."""
    return tuple((item["product"], int(item["quantity"])) for item in order.get("items", ()))


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class OrderRepository:
    """The lab's OrderRepository bound to a boto3 Table resource instead of a global."""

    def __init__(self, table, clock: Callable[[], datetime] = utc_now):
        self.table = table
        self._clock = clock
        self._last: datetime | None = None

    def _next_stamp(self) -> str:
        moment = self._clock()
        if self._last is not None and moment <= self._last:
            moment = self._last + timedelta(microseconds=1)
        self._last = moment
        return stamp(moment)

    def new_order(self, customer_id: str, items, total) -> dict:
        """The item create_order writes, without writing it (batch_write_orders takes these)."""
        order_date = self._next_stamp()
        return {
            "customer_id": customer_id,
            "order_date": order_date,
            "order_id": str(uuid.uuid4()),
            "items": to_dynamodb(items),
            "total": Decimal(str(total)),
            "status": PENDING,
            "created_at": order_date,
        }

    def create_order(self, customer_id: str, items, total) -> dict:
        for _ in range(_CREATE_ATTEMPTS):
            order = self.new_order(customer_id, items, total)
            try:
                self.table.put_item(Item=order, ConditionExpression=Attr("order_date").not_exists())
                return order
            except ClientError as error:
                if _code(error) != "ConditionalCheckFailedException":
                    raise
        raise OrderKeyConflict(
            f"{customer_id}: put_item refused {_CREATE_ATTEMPTS} fresh order_date stamps in a row: other writers "
            f"hold them, or table {self.table.name} is not keyed on customer_id + order_date"
        )

    def get_order(self, customer_id: str, order_date: str) -> dict | None:
        response = self.table.get_item(Key={"customer_id": customer_id, "order_date": order_date})
        return response.get("Item")

    def _query_all(self, **kwargs) -> list[dict]:
        items: list[dict] = []
        while True:
            response = self.table.query(**kwargs)
            items.extend(response["Items"])
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def get_customer_orders(self, customer_id: str, start_date: str | None = None) -> list[dict]:
        condition = Key("customer_id").eq(customer_id)
        if start_date:
            condition = condition & Key("order_date").gte(start_date)
        return self._query_all(KeyConditionExpression=condition)

    def get_orders_by_status(self, status: str) -> list[dict]:
        # A GSI is eventually consistent: right after a write it may not show it yet.
        return self._query_all(IndexName=naming.STATUS_INDEX, KeyConditionExpression=Key("status").eq(status))

    def update_status(self, customer_id: str, order_date: str, new_status: str) -> dict:
        response = self.table.update_item(
            Key={"customer_id": customer_id, "order_date": order_date},
            UpdateExpression="SET #status = :status, updated_at = :updated",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": new_status, ":updated": stamp(self._clock())},
            ReturnValues="ALL_NEW",
        )
        return response["Attributes"]

    def delete_order(self, customer_id: str, order_date: str) -> dict | None:
        response = self.table.delete_item(
            Key={"customer_id": customer_id, "order_date": order_date},
            ReturnValues="ALL_OLD",
        )
        return response.get("Attributes")

    def batch_write_orders(self, orders) -> None:
        with self.table.batch_writer() as batch:
            for order in orders:
                batch.put_item(Item=to_dynamodb(order))

    def count_orders(self, customer_id: str | None = None) -> int:
        """The lab's `scan(Select='COUNT')` over every page; one customer's orders by query."""
        if customer_id is not None:
            kwargs = {"KeyConditionExpression": Key("customer_id").eq(customer_id), "Select": "COUNT"}
            call = self.table.query
        else:
            kwargs, call = {"Select": "COUNT"}, self.table.scan
        count = 0
        while True:
            response = call(**kwargs)
            count += response["Count"]
            if "LastEvaluatedKey" not in response:
                return count
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


@dataclass
class AppRun:
    """What the lab's main() did, step by step (its numbered prints)."""

    created: list[dict] = field(default_factory=list)  # 1. three orders
    customer_orders: list[dict] = field(default_factory=list)  # 2. CUST-001's orders
    fetched: dict | None = None  # 3. the first order read back
    updated: dict | None = None  # 4. the first order, now SHIPPED
    pending: list[dict] = field(default_factory=list)  # 5. PENDING orders through the GSI
    deleted: dict | None = None  # 6. the last order, as it was before deletion
    count: int = 0  # 7. items in the table

    def summary(self) -> list[str]:
        return [
            "created " + ", ".join(f"{o['order_id'][:8]} for {o['customer_id']}" for o in self.created),
            f"CUST-001 has {len(self.customer_orders)} order(s)",
            f"first order read back: {'yes' if self.fetched else 'NO'}",
            f"first order status: {self.updated['status'] if self.updated else 'not updated'}",
            f"PENDING through {naming.STATUS_INDEX}: {len(self.pending)}",
            f"deleted: {self.deleted['order_id'][:8] if self.deleted else 'nothing'}",
            f"table holds {self.count} item(s)",
        ]


def run_lab_app(table, log: Callable[[str], None] | None = None, repository: OrderRepository | None = None) -> AppRun:
    """Replay the lab's main(): create 3 orders, read back, ship the first, list PENDING, delete the last, count."""
    repo = repository or OrderRepository(table)
    run = AppRun()
    for data in LAB_ORDERS:
        run.created.append(repo.create_order(data["customer_id"], data["items"], data["total"]))
    run.customer_orders = repo.get_customer_orders("CUST-001")
    first, last = run.created[0], run.created[-1]
    run.fetched = repo.get_order(first["customer_id"], first["order_date"])
    run.updated = repo.update_status(first["customer_id"], first["order_date"], SHIPPED)
    run.pending = repo.get_orders_by_status(PENDING)
    run.deleted = repo.delete_order(last["customer_id"], last["order_date"])
    run.count = repo.count_orders()
    if log is not None:
        for line in run.summary():
            log(f"lab 4.2 app: {line}")
    return run

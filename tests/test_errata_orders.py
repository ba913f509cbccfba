"""Lab 4's defects, each shown failing the lab's way and working the reference way."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from provisioning import dynamodb
from provisioning.apps.orders import LAB_ORDERS, OrderRepository, run_lab_app
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password

FIRST = LAB_ORDERS[0]
FROZEN = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture
def ctx(aws_clients):
    return ProvisionContext(clients=aws_clients, run_id="test-errata", dataplane=DataPlane(),
                            master_password=generate_password(), timeout=10, log=lambda message: None)


@pytest.fixture
def table(ctx):
    dynamodb.create_orders_table(ctx)
    return dynamodb.orders_table(ctx)


def lab_create_order(table, customer_id, items, total, order_date=None):
    """The lab's OrderRepository.create_order, verbatim but for the table and an optional fixed date."""
    order_date = order_date or datetime.now().isoformat()
    order = {
        "customer_id": customer_id,
        "order_date": order_date,
        "order_id": str(uuid.uuid4()),
        "items": items,
        "total": Decimal(str(total)),
        "status": "PENDING",
        "created_at": order_date,
    }
    table.put_item(Item=order)
    return order


# Erratum 3: floats inside items.

def test_lab_main_float_prices_are_refused_by_boto3(table):
    with pytest.raises(TypeError, match="Float types are not supported"):
        lab_create_order(table, FIRST["customer_id"], FIRST["items"], FIRST["total"])
    assert table.scan()["Count"] == 0


def test_reference_stores_the_labs_prices_as_decimals(table):
    order = OrderRepository(table).create_order(FIRST["customer_id"], FIRST["items"], FIRST["total"])
    stored = OrderRepository(table).get_order(order["customer_id"], order["order_date"])
    assert [item["price"] for item in stored["items"]] == [Decimal("1299.99"), Decimal("49.99")]
    assert stored["total"] == Decimal("1399.97")


# order_date is the RANGE key: equal stamps are one item.

def test_lab_overwrites_an_order_stamped_in_the_same_microsecond(table):
    items = [{"product": "Wireless Mouse", "quantity": 1, "price": Decimal("29.99")}]
    date = FROZEN.replace(tzinfo=None).isoformat()
    lab_create_order(table, "CUST-001", items, 29.99, order_date=date)
    lab_create_order(table, "CUST-001", items, 29.99, order_date=date)
    assert table.scan()["Count"] == 1  # the first order is gone, silently


def test_reference_keeps_orders_stamped_in_the_same_microsecond(table):
    repo = OrderRepository(table, clock=lambda: FROZEN)
    first = repo.create_order("CUST-001", FIRST["items"], FIRST["total"])
    second = repo.create_order("CUST-001", FIRST["items"], FIRST["total"])
    assert first["order_date"] < second["order_date"]
    assert len(repo.get_customer_orders("CUST-001")) == 2


def test_reference_writers_sharing_a_stamp_do_not_overwrite_each_other(table):
    # Two processes, one clock reading: the conditional put makes the second retry later.
    one = OrderRepository(table, clock=lambda: FROZEN)
    other = OrderRepository(table, clock=lambda: FROZEN)
    one.create_order("CUST-001", FIRST["items"], FIRST["total"])
    other.create_order("CUST-001", FIRST["items"], FIRST["total"])
    assert len(one.get_customer_orders("CUST-001")) == 2


# The lab enables the stream (4.3) after running the app (4.2): the stream holds nothing.

def test_lab_order_leaves_the_stream_empty_until_the_app_writes_again(ctx, table):
    run_lab_app(table)
    arn = ctx.clients("dynamodb").update_table(
        TableName=dynamodb.TABLE,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": dynamodb.STREAM_VIEW_TYPE},
    )["TableDescription"]["LatestStreamArn"]
    streams = ctx.clients("dynamodbstreams")
    assert dynamodb.read_stream_records(streams, arn) == []
    dynamodb.make_stream_changes(OrderRepository(table))
    assert [r["eventName"] for r in dynamodb.read_stream_records(streams, arn)] == ["INSERT", "MODIFY", "REMOVE"]


# main() is not idempotent: every run adds two orders for CUST-001.

def test_lab_main_run_twice_leaves_four_orders_for_cust_001(table):
    first = run_lab_app(table)
    second = run_lab_app(table)
    assert (first.count, second.count) == (2, 4)


def test_suite_app_step_run_twice_keeps_the_labs_orders(ctx, table):
    dynamodb.run_orders_app(ctx)
    assert dynamodb.run_orders_app(ctx) is None  # adopted: the end state is there already
    assert len(OrderRepository(table).get_customer_orders("CUST-001")) == 2


# order_date is naive local time: when the clocks go back, a later order sorts first.

def lab_order_date(instant: datetime, zone) -> str:
    """What the lab's datetime.now().isoformat() gives at `instant` on a machine in `zone`."""
    return instant.astimezone(zone).replace(tzinfo=None).isoformat()


def test_lab_dates_sort_a_later_order_first_when_the_clocks_go_back():
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    first = datetime(2025, 11, 2, 5, 45, tzinfo=timezone.utc)  # 01:45 EDT
    second = datetime(2025, 11, 2, 6, 15, tzinfo=timezone.utc)  # 01:15 EST, half an hour later
    assert lab_order_date(second, zone) < lab_order_date(first, zone)


def test_reference_dates_keep_the_order_of_time():
    from provisioning.apps.orders import stamp

    first = datetime(2025, 11, 2, 5, 45, tzinfo=timezone.utc)
    second = datetime(2025, 11, 2, 6, 15, tzinfo=timezone.utc)
    assert stamp(first) < stamp(second) and stamp(first).endswith("+00:00")

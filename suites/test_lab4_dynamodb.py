"""Lab 4: the orders table and its status index (4.1), the lab's app (4.2), Streams (4.3).

Everything is found by the table's name (lookups/dynamodb.py). The checks only read, except
those marked writes_data: they run the reference OrderRepository on a customer of their own
(named by the scratch-name policy, provisioning/naming.py) and delete what they wrote. The
lab's orders are recognised by what they hold (products and quantities), not by count, so an
account where the app ran twice still grades.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from fixtures.checks import eventually, require
from lookups import dynamodb
from lookups.dynamodb import read_stream_records, record_customer
from lookups.found import Found
from provisioning import naming
from provisioning.apps.orders import LAB_ORDERS, PENDING, SHIPPED, OrderKeyConflict, OrderRepository, products
from provisioning.dynamodb import STREAM_VIEW_TYPE

FIRST, SECOND, LAST = LAB_ORDERS  # CUST-001 laptop order, CUST-001 mouse order, CUST-002 desk order


def _keys(schema) -> dict[str, str]:
    return {part["AttributeName"]: part["KeyType"] for part in schema}


def _repository(lab, table: Found) -> OrderRepository:
    """The reference OrderRepository on the table the look-up found (or the check fails)."""
    return OrderRepository(lab.clients.resource("dynamodb").Table(require(table)["TableName"]))


def _lab_orders(repo: OrderRepository, customer_id: str, data: dict) -> list[dict]:
    return [o for o in repo.get_customer_orders(customer_id) if products(o) == products(data)]


def _label(data: dict) -> str:
    return f"{data['customer_id']}'s " + " + ".join(item["product"] for item in data["items"]) + " order"


# --- 4.1 the table ---------------------------------------------------------------------------

@pytest.mark.step("4.1")
def test_orders_table_keys_are_customer_id_hash_and_order_date_range(lab):
    table = dynamodb.table(lab.client("dynamodb"))
    keys = _keys(require(table)["KeySchema"])
    assert keys == {"customer_id": "HASH", "order_date": "RANGE"}, (
        f"{table.subject}: key schema is {keys}, expected customer_id HASH and order_date RANGE"
    )


@pytest.mark.step("4.1")
def test_orders_key_attributes_are_strings(lab):
    table = dynamodb.table(lab.client("dynamodb"))
    types = {a["AttributeName"]: a["AttributeType"] for a in require(table)["AttributeDefinitions"]}
    wrong = {name: types.get(name) for name in ("customer_id", "order_date", "status") if types.get(name) != "S"}
    assert not wrong, f"{table.subject}: attribute types {wrong}, expected S (string) for each"


@pytest.mark.step("4.1")
def test_status_index_keys_are_status_hash_and_order_date_range(lab):
    index = dynamodb.status_index(dynamodb.table(lab.client("dynamodb")))
    keys = _keys(require(index)["KeySchema"])
    assert keys == {"status": "HASH", "order_date": "RANGE"}, (
        f"{index.subject}: keys are {keys}, expected status HASH and order_date RANGE"
    )


@pytest.mark.step("4.1")
def test_status_index_projects_all_attributes(lab):
    index = dynamodb.status_index(dynamodb.table(lab.client("dynamodb")))
    projection = require(index).get("Projection", {}).get("ProjectionType")
    assert projection == "ALL", f"{index.subject}: projects {projection}, expected ALL"


@pytest.mark.step("4.1")
def test_orders_table_bills_pay_per_request(lab):
    table = dynamodb.table(lab.client("dynamodb"))
    # AWS omits BillingModeSummary for tables that were always provisioned.
    mode = (require(table).get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    assert mode == "PAY_PER_REQUEST", f"{table.subject}: billing mode is {mode}, expected PAY_PER_REQUEST"


@pytest.mark.step("4.1")
def test_orders_table_is_tagged_environment_lab(lab):
    client = lab.client("dynamodb")
    table = dynamodb.table(client)
    require(table)
    key, value = naming.LAB_TAG
    tags = dynamodb.tags(client, table)
    assert naming.is_lab_tagged(tags), f"{table.subject}: tag {key} is {naming.lab_tag_value(tags)!r}, expected {value!r}"


# --- 4.2 what the lab's app left behind --------------------------------------------------------

# The widest gap between a stamp without a zone (the lab's datetime.now(): local time, erratum 13)
# and one with a zone: local time is UTC-12 to UTC+14.
_UNKNOWN_ZONE_SLACK = timedelta(hours=14)
# A naive stamp against a naive one: the same machine's clock, which goes back an hour when
# daylight saving time ends.
_DST_SLACK = timedelta(hours=1)


def _instant(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _utc_wall_clock(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(timezone.utc).replace(tzinfo=None)


def updated_before_created(updated_at, created_at) -> bool:
    """Whether updated_at is surely earlier than created_at, comparing instants, not strings.

    The lab writes both with naive datetime.now() (local time, no zone), the errata with UTC, and
    a student may mix them; the lab intends nothing about the zone, so a stamp without one may be
    any local time: only an order that no zone or clock change explains counts. Stamps that are
    not ISO 8601 are not judged (the lab asks for an updated_at, not its format).
    """
    updated, created = _instant(updated_at), _instant(created_at)
    if updated is None or created is None:
        return False
    naive = (updated.tzinfo is None) + (created.tzinfo is None)
    if naive == 1:  # the one with a zone as UTC; the one without may be any zone's local time
        slack = _UNKNOWN_ZONE_SLACK
        updated, created = _utc_wall_clock(updated), _utc_wall_clock(created)
    else:
        slack = _DST_SLACK if naive == 2 else timedelta(0)
    return updated < created - slack

@pytest.mark.step("4.2")
def test_customer_001_has_the_labs_two_orders(lab):
    table = dynamodb.table(lab.client("dynamodb"))
    held = [products(o) for o in _repository(lab, table).get_customer_orders("CUST-001")]
    missing = [_label(data) for data in (FIRST, SECOND) if products(data) not in held]
    assert not missing, f"{table.subject}: no {' and no '.join(missing)} (CUST-001 holds {held})"


@pytest.mark.step("4.2")
def test_customer_001_first_order_is_shipped_with_updated_at(lab):
    table = dynamodb.table(lab.client("dynamodb"))
    orders = _lab_orders(_repository(lab, table), "CUST-001", FIRST)
    assert orders, f"{table.subject}: no {_label(FIRST)}"
    for order in orders:
        assert order.get("status") == SHIPPED, (
            f"{table.subject}: {_label(FIRST)} {order['order_date']} has status {order.get('status')!r}, expected {SHIPPED}"
        )
        assert order.get("updated_at"), (
            f"{table.subject}: {_label(FIRST)} {order['order_date']} has no updated_at from the status update"
        )
        assert not updated_before_created(order.get("updated_at"), order.get("created_at")), (
            f"{table.subject}: {_label(FIRST)} {order['order_date']} has updated_at {order['updated_at']} before "
            f"its created_at {order['created_at']}: the status update must stamp the time it ran"
        )


@pytest.mark.step("4.2")
def test_customer_002_order_was_deleted(lab):
    table = dynamodb.table(lab.client("dynamodb"))
    orders = _repository(lab, table).get_customer_orders("CUST-002")
    assert not orders, (
        f"{table.subject}: CUST-002 still has {len(orders)} order(s); the app deletes its last order"
    )


@pytest.mark.step("4.2")
def test_customer_001_totals_are_the_labs_decimals(lab):
    table = dynamodb.table(lab.client("dynamodb"))
    repo = _repository(lab, table)
    for data in (FIRST, SECOND):
        orders = _lab_orders(repo, "CUST-001", data)
        assert orders, f"{table.subject}: no {_label(data)}"
        expected = Decimal(str(data["total"]))
        for order in orders:
            total = order.get("total")
            assert isinstance(total, Decimal) and total == expected, (
                f"{table.subject}: {_label(data)} has total {total!r}, expected the number {expected}"
            )


@pytest.mark.step("4.2")
def test_pending_orders_are_found_through_status_index(lab):
    table = dynamodb.table(lab.client("dynamodb"))
    repo = _repository(lab, table)

    def second_order_listed():
        return [o for o in repo.get_orders_by_status(PENDING)
                if o.get("customer_id") == "CUST-001" and products(o) == products(SECOND)]

    # Reads through a GSI converge on AWS.
    eventually(lab, second_order_listed, f"{table.subject}: the {PENDING} query through "
               f"{naming.STATUS_INDEX} did not return {_label(SECOND)} with its items")


# --- 4.2 the app's access patterns, on the check's own customer ----------------------------------

@contextmanager
def _scratch_customer(lab, lab_apps):
    """The app's OrderRepository (the reference's, or the student's: fixtures/apps.py) on the lab's
    table, and a customer of the check's own, whose orders are removed afterwards."""
    table = dynamodb.table(lab.client("dynamodb"))
    repo = lab_apps.orders.OrderRepository(lab.clients.resource("dynamodb").Table(require(table)["TableName"]))
    customer = naming.scratch_name("orders")
    try:
        yield repo, customer, table.subject
    except OrderKeyConflict as exc:
        pytest.fail(f"{table.subject}: the lab's app cannot store an order: {exc}")
    except ClientError as error:
        # The app's requests are valid against the lab's table: a table that refuses them as
        # invalid (a key of another type) is the student's table, seen through the app.
        if error.response["Error"].get("Code") != "ValidationException":
            raise
        pytest.fail(f"{table.subject}: the lab's app cannot store an order: {error}")
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
            warnings.warn(f"could not remove the orders of {customer} from {table.subject}: {error}")


def _create_lab_orders(repo, customer) -> list[dict]:
    return [repo.create_order(customer, data["items"], data["total"]) for data in LAB_ORDERS]


def _when_count(count: int, items: list):
    return items if len(items) == count else None


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_query_by_customer_returns_every_order_in_date_order(lab, lab_apps):
    with _scratch_customer(lab, lab_apps) as (repo, customer, subject):
        created = _create_lab_orders(repo, customer)
        orders = eventually(lab, lambda: _when_count(3, repo.get_customer_orders(customer)),
                            f"{subject}: a query for {customer} did not return its 3 orders")
        assert [o["order_id"] for o in orders] == [o["order_id"] for o in created], (
            f"{subject}: a query for {customer} returned orders out of order_date order"
        )


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_query_by_customer_from_a_start_date_skips_earlier_orders(lab, lab_apps):
    with _scratch_customer(lab, lab_apps) as (repo, customer, subject):
        created = _create_lab_orders(repo, customer)
        start = created[1]["order_date"]
        orders = eventually(lab, lambda: _when_count(2, repo.get_customer_orders(customer, start_date=start)),
                            f"{subject}: a query for {customer} with order_date >= {start} "
                            "did not return exactly its last 2 orders")
        assert [o["order_id"] for o in orders] == [o["order_id"] for o in created[1:]], (
            f"{subject}: a query for {customer} with order_date >= {start} returned the wrong orders"
        )


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_status_index_query_returns_a_new_pending_order_whole(lab, lab_apps):
    with _scratch_customer(lab, lab_apps) as (repo, customer, subject):
        order = repo.create_order(customer, SECOND["items"], SECOND["total"])
        found = eventually(lab, lambda: [o for o in repo.get_orders_by_status(PENDING) if o["customer_id"] == customer],
                           f"{subject}: a new {PENDING} order of {customer} did not appear in {naming.STATUS_INDEX}")
        assert found == [order], (
            f"{subject}: {naming.STATUS_INDEX} returned {found} for {customer}, expected the whole order {order}"
        )


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_update_status_returns_all_new_attributes(lab, lab_apps):
    with _scratch_customer(lab, lab_apps) as (repo, customer, subject):
        order = repo.create_order(customer, FIRST["items"], FIRST["total"])
        updated = repo.update_status(customer, order["order_date"], SHIPPED)
        expected = {**order, "status": SHIPPED, "updated_at": updated.get("updated_at")}
        assert updated.get("updated_at") and updated == expected, (
            f"{subject}: update_status returned {updated}, expected the whole order, SHIPPED, with updated_at"
        )


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_delete_order_returns_the_old_item(lab, lab_apps):
    with _scratch_customer(lab, lab_apps) as (repo, customer, subject):
        order = repo.create_order(customer, LAST["items"], LAST["total"])
        old = repo.delete_order(customer, order["order_date"])
        assert old == order, f"{subject}: delete_order returned {old}, expected the deleted order {order}"


@pytest.mark.step("4.2")
@pytest.mark.writes_data
def test_batch_write_then_count_sees_every_order(lab, lab_apps):
    with _scratch_customer(lab, lab_apps) as (repo, customer, subject):
        orders = [repo.new_order(customer, data["items"], data["total"]) for data in LAB_ORDERS]
        repo.batch_write_orders(orders)
        eventually(lab, lambda: repo.count_orders(customer) == len(orders),
                   f"{subject}: counting {customer}'s orders after a batch write of {len(orders)} "
                   f"did not give {len(orders)}")


# --- 4.3 Streams -------------------------------------------------------------------------------

@pytest.mark.step("4.3")
def test_orders_stream_is_enabled(lab):
    table = dynamodb.table(lab.client("dynamodb"))
    assert (require(table).get("StreamSpecification") or {}).get("StreamEnabled") is True, f"{table.subject}: Streams is off"
    assert table.get("LatestStreamArn"), f"{table.subject}: Streams is on but there is no LatestStreamArn"


@pytest.mark.step("4.3")
def test_orders_stream_view_type_is_new_and_old_images(lab):
    table = dynamodb.table(lab.client("dynamodb"))
    view = (require(table).get("StreamSpecification") or {}).get("StreamViewType")
    assert view == STREAM_VIEW_TYPE, f"{table.subject}: stream view type is {view}, expected {STREAM_VIEW_TYPE}"


def _app_records(lab, event: str) -> tuple[list[dict], str]:
    """The stream's `event` records, except those of the writes_data checks' customers (their
    scratch names), and the stream's subject for messages."""
    table = dynamodb.table(lab.client("dynamodb"))
    arn = require(table).get("LatestStreamArn")
    stream = f"stream of {table.subject}"
    assert arn, f"{table.subject}: no stream (LatestStreamArn) to read"
    streams = lab.client("dynamodbstreams")

    def records():
        return [r for r in read_stream_records(streams, arn)
                if r["eventName"] == event and not record_customer(r).startswith(naming.CHECK_SCRATCH)]

    # The lab enables the stream after running the app, and a stream keeps records 24 hours:
    # the hint says what to do when nothing is there.
    return eventually(lab, records, f"{stream}: no {event} record of the app's changes "
                                    "(run dynamodb_app.py again after enabling the stream)"), stream


def _images(record: dict) -> set[str]:
    return {part for part in ("NewImage", "OldImage") if part in record["dynamodb"]}


@pytest.mark.step("4.3")
def test_stream_insert_records_carry_the_new_image_only(lab):
    records, stream = _app_records(lab, "INSERT")
    wrong = [sorted(_images(r)) for r in records if _images(r) != {"NewImage"}]
    assert not wrong, f"{stream}: INSERT records carry {wrong}, expected NewImage only"


@pytest.mark.step("4.3")
def test_stream_modify_records_carry_both_images_of_the_status_change(lab):
    records, stream = _app_records(lab, "MODIFY")
    wrong = [sorted(_images(r)) for r in records if _images(r) != {"NewImage", "OldImage"}]
    assert not wrong, f"{stream}: MODIFY records carry {wrong}, expected NewImage and OldImage"
    changes = [(r["dynamodb"]["OldImage"].get("status"), r["dynamodb"]["NewImage"].get("status")) for r in records]
    assert (PENDING, SHIPPED) in changes, (
        f"{stream}: no MODIFY record shows status {PENDING} -> {SHIPPED} (status changes: {changes})"
    )


@pytest.mark.step("4.3")
def test_stream_remove_records_carry_the_old_image_only(lab):
    records, stream = _app_records(lab, "REMOVE")
    wrong = [sorted(_images(r)) for r in records if _images(r) != {"OldImage"}]
    assert not wrong, f"{stream}: REMOVE records carry {wrong}, expected OldImage only"

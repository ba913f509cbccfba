"""Lab 4 against the emulator: provisioning, re-runs, teardown, and every check both ways
(passes on the lab as built, fails on a seeded fault)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

import suites.test_lab4_dynamodb as lab4
from fixtures.lab import LabContext
from provisioning import dynamodb, naming
from provisioning.apps.orders import LAB_ORDERS, PENDING, OrderRepository, products
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.secrets import generate_password

TABLE = naming.ORDERS_TABLE
CHECKS = {name: check for name, check in vars(lab4).items() if name.startswith("test_") and callable(check)}
WRITES_DATA = {name for name, check in CHECKS.items()
               if any(mark.name == "writes_data" for mark in getattr(check, "pytestmark", ()))}
FAILED = (AssertionError, pytest.fail.Exception)


@pytest.fixture
def messages():
    return []


@pytest.fixture
def ctx(aws_clients, messages):
    return ProvisionContext(clients=aws_clients, run_id="test-lab4", dataplane=DataPlane(),
                            master_password=generate_password(), timeout=10, log=messages.append)


@pytest.fixture
def lab(aws_clients):
    # A short deadline: polls that wait for a record a fault removed give up quickly.
    return LabContext(clients=aws_clients, dataplane=DataPlane(), timeout=0.5, target="local")


def provision(ctx):
    for step in dynamodb.STEPS:
        step.run(ctx)


def table_resource(ctx):
    return dynamodb.orders_table(ctx)


# --- the lab as built ----------------------------------------------------------------------------

def test_steps_and_teardown_are_declared_with_the_lab_ids():
    assert [s.step for s in dynamodb.STEPS] == ["4.1", "4.2", "4.3"]
    assert [s.step for s in dynamodb.TEARDOWN] == ["7.2"]


def test_every_check_is_marked_with_a_lab_4_step():
    for name, check in CHECKS.items():
        steps = [m.args[0] for m in getattr(check, "pytestmark", ()) if m.name == "step"]
        assert len(steps) == 1 and steps[0] in ("4.1", "4.2", "4.3"), f"{name}: step marks {steps}"


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_check_passes_on_the_provisioned_lab(ctx, lab, check):
    provision(ctx)
    CHECKS[check](lab)
    left = [i["customer_id"] for i in table_resource(ctx).scan()["Items"] if i["customer_id"].startswith(lab4.CHECK_PREFIX)]
    assert not left, f"{check} left orders behind: {left}"


def test_provisioning_logs_the_app_run_without_secrets(ctx, messages):
    provision(ctx)
    assert any("lab 4.2 app: table holds 2 item(s)" in m for m in messages), messages
    assert not any(str(ctx.master_password) in m for m in messages)


def snapshot(ctx) -> dict:
    client = ctx.clients("dynamodb")
    table = dynamodb.describe_table(client)
    items = table_resource(ctx).scan()["Items"]
    return {
        "tables": client.list_tables()["TableNames"],
        "created": table["CreationDateTime"],
        "stream": table["LatestStreamArn"],
        "items": sorted((i["customer_id"], i["order_date"], i["status"]) for i in items),
        "records": len(dynamodb.read_stream_records(ctx.clients("dynamodbstreams"), table["LatestStreamArn"])),
    }


def test_second_provisioning_adopts_everything_and_adds_nothing(ctx, lab, messages):
    # The app is not re-run once its end state is there: main() adds two orders per run.
    provision(ctx)
    first = snapshot(ctx)
    provision(ctx)
    assert snapshot(ctx) == first
    assert any("adopted" in m for m in messages)
    for name, check in CHECKS.items():
        if name not in WRITES_DATA:
            check(lab)


def test_app_step_clears_an_unfinished_earlier_run(ctx, lab):
    dynamodb.create_orders_table(ctx)
    OrderRepository(table_resource(ctx)).create_order("CUST-001", LAB_ORDERS[0]["items"], LAB_ORDERS[0]["total"])
    dynamodb.run_orders_app(ctx)
    orders = OrderRepository(table_resource(ctx)).get_customer_orders("CUST-001")
    assert sorted(products(o) for o in orders) == sorted(products(d) for d in LAB_ORDERS[:2])
    lab4.test_customer_001_first_order_is_shipped_with_updated_at(lab)


def test_table_step_adopts_a_wrong_table_and_says_how_it_differs(ctx, messages):
    build(ctx, spec=spec_with(hash_only)(ctx), app=False, stream=None)
    dynamodb.create_orders_table(ctx)
    assert any("key schema" in m and "not the lab's" in m for m in messages), messages
    assert len(ctx.clients("dynamodb").list_tables()["TableNames"]) == 1


def test_stream_step_refuses_to_replace_a_stream_on_the_emulator(ctx):
    dynamodb.create_orders_table(ctx)
    ctx.clients("dynamodb").update_table(
        TableName=TABLE, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    with pytest.raises(RuntimeError, match="cannot replace a stream"):
        dynamodb.enable_stream(ctx)
    # Nothing was switched off on the way.
    assert dynamodb.describe_table(ctx.clients("dynamodb"))["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"


def test_teardown_deletes_the_table(ctx):
    provision(ctx)
    dynamodb.delete_orders_table(ctx)
    client = ctx.clients("dynamodb")
    assert dynamodb.describe_table(client) is None
    assert TABLE not in client.list_tables()["TableNames"]


def test_teardown_twice_and_on_an_empty_account_is_harmless(ctx, messages):
    dynamodb.delete_orders_table(ctx)
    provision(ctx)
    dynamodb.delete_orders_table(ctx)
    dynamodb.delete_orders_table(ctx)
    assert sum("nothing to delete" in m for m in messages) == 2


def test_provisioning_after_teardown_starts_afresh(ctx, lab):
    provision(ctx)
    dynamodb.delete_orders_table(ctx)
    provision(ctx)
    lab4.test_stream_remove_records_carry_the_old_image_only(lab)
    assert len(table_resource(ctx).scan()["Items"]) == 2


# --- seeded faults ---------------------------------------------------------------------------------

def build(ctx, spec=None, app=True, stream=dynamodb.STREAM_VIEW_TYPE, changes=True):
    """The lab as the steps build it, or with one thing wrong."""
    client = ctx.clients("dynamodb")
    client.create_table(**(spec or dynamodb.table_spec(ctx.run_id)))
    if app:
        dynamodb.run_orders_app(ctx)
    if stream:
        client.update_table(TableName=TABLE, StreamSpecification={"StreamEnabled": True, "StreamViewType": stream})
        if changes:
            dynamodb.make_stream_changes(OrderRepository(table_resource(ctx)))


def spec_with(change):
    def builder(ctx):
        spec = dynamodb.table_spec(ctx.run_id)
        change(spec)
        return spec
    return builder


def _index(spec):
    return spec["GlobalSecondaryIndexes"][0]


def hash_only(spec):
    spec["KeySchema"] = spec["KeySchema"][:1]


def keys_only_index(spec):
    _index(spec)["Projection"] = {"ProjectionType": "KEYS_ONLY"}


def index_without_range(spec):
    _index(spec)["KeySchema"] = _index(spec)["KeySchema"][:1]


def provisioned_billing(spec):
    spec["BillingMode"] = "PROVISIONED"
    spec["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    _index(spec)["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}


def numeric_order_date(spec):
    spec["AttributeDefinitions"][1]["AttributeType"] = "N"


def untagged(spec):
    spec["Tags"] = [t for t in spec["Tags"] if t["Key"] != naming.LAB_TAG[0]]


def lab_order(ctx, customer, data):
    repo = OrderRepository(table_resource(ctx))
    return next(o for o in repo.get_customer_orders(customer) if products(o) == products(data))


def edit_order(customer, data, **update):
    """After a correct build, change one attribute of one of the lab's orders."""
    def fault(ctx):
        build(ctx)
        order = lab_order(ctx, customer, data)
        table_resource(ctx).put_item(Item={**{k: v for k, v in order.items() if k not in update}, **update})
    return fault


def shipped_order_reset(ctx):
    build(ctx)
    order = lab_order(ctx, "CUST-001", LAB_ORDERS[0])
    table_resource(ctx).update_item(
        Key={"customer_id": "CUST-001", "order_date": order["order_date"]},
        UpdateExpression="SET #s = :p REMOVE updated_at",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":p": PENDING})


def second_order_deleted(ctx):
    build(ctx)
    order = lab_order(ctx, "CUST-001", LAB_ORDERS[1])
    OrderRepository(table_resource(ctx)).delete_order("CUST-001", order["order_date"])


def last_order_kept(ctx):
    build(ctx)
    data = LAB_ORDERS[2]
    OrderRepository(table_resource(ctx)).create_order(data["customer_id"], data["items"], data["total"])


def stream_without_delete(ctx):
    build(ctx, changes=False)
    repo = OrderRepository(table_resource(ctx))
    order = repo.create_order(dynamodb.STREAM_CUSTOMER, LAB_ORDERS[1]["items"], LAB_ORDERS[1]["total"])
    repo.update_status(dynamodb.STREAM_CUSTOMER, order["order_date"], "SHIPPED")


def no_table(ctx):
    pass


def table_only(change):
    return lambda ctx: build(ctx, spec=spec_with(change)(ctx), app=False, stream=None)


FAULTS = {
    # 4.1
    "test_orders_table_keys_are_customer_id_hash_and_order_date_range": table_only(hash_only),
    "test_orders_key_attributes_are_strings": table_only(numeric_order_date),
    "test_status_index_keys_are_status_hash_and_order_date_range": table_only(index_without_range),
    "test_status_index_projects_all_attributes": table_only(keys_only_index),
    "test_orders_table_bills_pay_per_request": table_only(provisioned_billing),
    "test_orders_table_is_tagged_environment_lab": table_only(untagged),
    # 4.2 end state
    "test_customer_001_has_the_labs_two_orders": second_order_deleted,
    "test_customer_001_first_order_is_shipped_with_updated_at": shipped_order_reset,
    "test_customer_002_order_was_deleted": last_order_kept,
    "test_customer_001_totals_are_the_labs_decimals": edit_order("CUST-001", LAB_ORDERS[0], total="1399.97"),
    "test_pending_orders_are_found_through_status_index": edit_order("CUST-001", LAB_ORDERS[1], status="CANCELLED"),
    # 4.2 behaviour
    "test_query_by_customer_returns_every_order_in_date_order": table_only(hash_only),
    "test_query_by_customer_from_a_start_date_skips_earlier_orders": table_only(hash_only),
    "test_status_index_query_returns_a_new_pending_order_whole": table_only(keys_only_index),
    "test_update_status_returns_all_new_attributes": no_table,
    "test_delete_order_returns_the_old_item": no_table,
    "test_batch_write_then_count_sees_every_order": table_only(hash_only),
    # 4.3
    "test_orders_stream_is_enabled": lambda ctx: build(ctx, stream=None),
    "test_orders_stream_view_type_is_new_and_old_images": lambda ctx: build(ctx, stream="NEW_IMAGE"),
    "test_stream_insert_records_carry_the_new_image_only": lambda ctx: build(ctx, stream="KEYS_ONLY"),
    "test_stream_modify_records_carry_both_images_of_the_status_change": lambda ctx: build(ctx, stream="NEW_IMAGE"),
    "test_stream_remove_records_carry_the_old_image_only": stream_without_delete,
}


def test_every_check_has_a_seeded_fault():
    assert set(FAULTS) == set(CHECKS)


@pytest.mark.parametrize("check", sorted(FAULTS))
def test_check_fails_on_its_seeded_fault(ctx, lab, check):
    FAULTS[check](ctx)
    # A check that writes data may fail inside the app's own call (e.g. the table is gone);
    # a read-only check must fail on an assertion that names the subject.
    expected = FAILED + (ClientError, RuntimeError) if check in WRITES_DATA else FAILED
    with pytest.raises(expected) as failure:
        CHECKS[check](lab)
    if check not in WRITES_DATA:
        assert TABLE in str(failure.value)


def test_totals_fault_really_stores_a_string(ctx):
    # Guards the totals fault above: a string where the lab stores a number.
    FAULTS["test_customer_001_totals_are_the_labs_decimals"](ctx)
    assert lab_order(ctx, "CUST-001", LAB_ORDERS[0])["total"] == "1399.97"
    assert lab_order(ctx, "CUST-001", LAB_ORDERS[1])["total"] == Decimal("29.99")

"""Lab 4 against the emulator: provisioning, re-runs, teardown, and every check passing on the
lab as built. The seeded faults that make each check fail (and nothing else) are in
tests/faults/dynamodb.py, run by test_fault_catalogue.py."""

from __future__ import annotations


import pytest

import suites.test_lab4_dynamodb as lab4
from fixtures.lab import LabContext
from provisioning import dynamodb, naming
from provisioning import lab as lab_module
from provisioning.apps.orders import LAB_ORDERS, OrderRepository, products
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password

from .conftest import run_without_skipping, with_reference_apps

TABLE = naming.ORDERS_TABLE
CHECKS = {name: check for name, check in vars(lab4).items() if name.startswith("test_") and callable(check)}
WRITES_DATA = {name for name, check in CHECKS.items()
               if any(mark.name == "writes_data" for mark in getattr(check, "pytestmark", ()))}


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
    for step in lab_module.steps_of(dynamodb, lab_module.provisioning_steps()):
        step.run(ctx)


def table_resource(ctx):
    return dynamodb.orders_table(ctx)


# --- the lab as built ----------------------------------------------------------------------------

def test_steps_and_teardown_are_declared_with_the_lab_ids():
    assert [s.step for s in lab_module.steps_of(dynamodb, lab_module.provisioning_steps())] == ["4.1", "4.2", "4.3"]
    assert [s.step for s in lab_module.steps_of(dynamodb, lab_module.teardown_steps())] == ["7.2"]


def test_every_check_is_marked_with_a_lab_4_step():
    for name, check in CHECKS.items():
        steps = [m.args[0] for m in getattr(check, "pytestmark", ()) if m.name == "step"]
        assert len(steps) == 1 and steps[0] in ("4.1", "4.2", "4.3"), f"{name}: step marks {steps}"


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_check_passes_on_the_provisioned_lab(ctx, lab, check):
    provision(ctx)
    run_without_skipping(lambda: CHECKS[check](**with_reference_apps(CHECKS[check], lab=lab)), check)
    left = [i["customer_id"] for i in table_resource(ctx).scan()["Items"] if i["customer_id"].startswith(naming.CHECK_SCRATCH)]
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


# --- a wrong table, as a student might have made it ------------------------------------------------

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


def hash_only(spec):
    spec["KeySchema"] = spec["KeySchema"][:1]

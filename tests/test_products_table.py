"""Steps 2.3 and 3.2 against a local MariaDB primary+replica, and the 2.3/3.x checks.

The checks are called as plain functions with a LabContext on the pair and must pass on the
provisioned lab. The seeded faults that make each of them fail (and nothing else) are in
tests/faults/mysql.py, run by test_fault_catalogue.py.
"""

from __future__ import annotations

import inspect
from contextlib import closing
from types import SimpleNamespace

import pytest

from fixtures.lab import LabContext
from provisioning import naming, products_table
from provisioning.apps import products
from provisioning.aws import AwsClients, AwsTarget
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.local.mariadb import start_mysql_pair
from provisioning.passwords import generate_password
from suites import test_lab2_replication as lab2
from suites import test_lab3_application as lab3
from .conftest import CheckSkipped, run_without_skipping, with_reference_apps

CHECKS = {name: fn for module in (lab2, lab3) for name, fn in vars(module).items()
          if name.startswith("test_") and callable(fn)}


@pytest.fixture(scope="module")
def mysql_pair(tmp_path_factory):
    pair = start_mysql_pair(tmp_path_factory.mktemp("mysql-data"), generate_password())
    yield pair
    pair.stop()


@pytest.fixture
def logs():
    return []


@pytest.fixture
def ctx(mysql_pair, logs):
    dataplane = DataPlane(mysql={naming.DB_INSTANCE: mysql_pair.primary, naming.DB_REPLICA: mysql_pair.replica})
    return ProvisionContext(clients=None, run_id="test-mysql-data", dataplane=dataplane,
                            master_password=mysql_pair.primary.password, timeout=10, log=logs.append)


def make_lab(moto_server, dataplane, timeout=10.0) -> LabContext:
    clients = AwsClients(AwsTarget(region=naming.REGION, endpoint_url=moto_server.endpoint_url))
    return LabContext(clients=clients, dataplane=dataplane, timeout=timeout, target="local")


def reset(pair) -> None:
    """The replica read-only and replicating, and no products table: each test provisions from nothing."""
    with closing(pair.root_connect("replica")) as replica, replica.cursor() as cursor:
        cursor.execute("SET GLOBAL read_only = 1")
        cursor.execute("START SLAVE")  # a no-op (warning) when it runs
    with closing(pair.root_connect("primary")) as primary, primary.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {naming.DB_NAME}.products")
    pair.wait_replica_caught_up(timeout=10)


@pytest.fixture
def provisioned(mysql_pair, ctx, moto_server):
    reset(mysql_pair)
    products_table.create_replication_data(ctx)
    products_table.run_products_app(ctx)
    return make_lab(moto_server, ctx.dataplane)


def run_check(check, lab) -> str | None:
    """None when the check passes, else its failure message; a skip fails the self-test (CheckSkipped)."""
    kwargs = with_reference_apps(check, lab=lab)
    if "request" in inspect.signature(check).parameters:
        kwargs["request"] = SimpleNamespace(node=SimpleNamespace(name=check.__name__, user_properties=[]))
    try:
        run_without_skipping(lambda: check(**kwargs), check.__name__)
    except CheckSkipped:
        raise
    except (AssertionError, pytest.fail.Exception) as exc:
        return str(exc) or type(exc).__name__
    except Exception as exc:  # pytest would report this as a failure too
        return f"{type(exc).__name__}: {exc}"
    return None


def failing_checks(lab) -> dict[str, str]:
    return {name: message for name, check in CHECKS.items() if (message := run_check(check, lab)) is not None}


def products_rows(endpoint) -> tuple:
    with closing(endpoint.connect()) as connection:
        return products_table.table_contents(connection)


# -- provisioning ---------------------------------------------------------------------------

def test_every_check_passes_on_the_provisioned_lab(provisioned):
    assert failing_checks(provisioned) == {}


def test_steps_leave_the_lab_end_state(provisioned, mysql_pair):
    rows = [(r[0], r[1], r[3], r[4]) for r in products_rows(mysql_pair.primary)]
    assert rows == [(e.id, e.name, e.price, e.quantity) for e in products.expected_end_state()]


def test_running_the_steps_twice_gives_the_same_end_state(provisioned, mysql_pair, ctx, logs):
    before = products_rows(mysql_pair.primary)
    products_table.create_replication_data(ctx)
    assert products_table.run_products_app(ctx) is None
    assert products_rows(mysql_pair.primary) == before
    assert any("0 of 3 widgets inserted" in line for line in logs)
    assert any("already run" in line for line in logs)


def test_replica_catch_up_is_measured_and_logged(provisioned, logs):
    assert any(line.startswith(f"step 2.3: {naming.DB_REPLICA} caught up in ") for line in logs), logs


def test_steps_without_a_binding_log_one_line_and_do_nothing(mysql_pair):
    logs = []
    ctx = ProvisionContext(clients=None, run_id="test", dataplane=DataPlane(),
                           master_password=generate_password(), log=logs.append)
    products_table.create_replication_data(ctx)
    assert products_table.run_products_app(ctx) is None
    assert len(logs) == 2 and all("no data-plane binding" in line for line in logs)


def test_step_2_3_without_a_replica_binding_still_fills_the_primary(mysql_pair, ctx, logs):
    reset(mysql_pair)
    primary_only = ProvisionContext(clients=None, run_id="test", master_password=ctx.master_password,
                                    dataplane=DataPlane(mysql={naming.DB_INSTANCE: mysql_pair.primary}),
                                    log=logs.append)
    products_table.create_replication_data(primary_only)
    assert [r[1] for r in products_rows(mysql_pair.primary)] == [name for name, _ in products.LAB_WIDGETS]
    assert any(f"no data-plane binding for {naming.DB_REPLICA}" in line for line in logs)


def test_checks_accept_the_price_lab_5_3_gives_product_1(provisioned, mysql_pair):
    (price,) = products.later_prices(products.LAB_UPDATED_ID)
    with closing(mysql_pair.primary.connect()) as primary, primary.cursor() as cursor:
        cursor.execute("UPDATE products SET price = %s WHERE id = %s", (price, products.LAB_UPDATED_ID))
    mysql_pair.wait_replica_caught_up(timeout=10)
    assert failing_checks(provisioned) == {}


def test_lag_is_reported_by_the_replica_checks(provisioned):
    request = SimpleNamespace(node=SimpleNamespace(name="check", user_properties=[]))
    lab2.test_replica_has_the_same_products_as_the_primary(provisioned, request)
    lab2.test_row_written_on_primary_is_read_on_replica(provisioned, request)
    reported = dict(request.node.user_properties)
    assert list(reported) == ["replica_lag", "replica_converged_seconds", "replication_seconds"]
    assert reported["replica_lag"].startswith("Seconds_Behind_Master="), reported  # MariaDB's column name


def test_writes_data_checks_leave_no_rows_behind(provisioned, mysql_pair):
    before = products_rows(mysql_pair.primary)
    for name, check in CHECKS.items():
        if any(mark.name == "writes_data" for mark in getattr(check, "pytestmark", ())):
            assert run_check(check, provisioned) is None, name
    assert products_rows(mysql_pair.primary) == before
    mysql_pair.wait_replica_caught_up(timeout=10)
    assert products_rows(mysql_pair.replica) == before


def test_every_check_is_marked_with_its_lab_step():
    for name, check in CHECKS.items():
        module_marks = getattr(inspect.getmodule(check), "pytestmark", [])
        marks = list(getattr(check, "pytestmark", ())) + (module_marks if isinstance(module_marks, list) else [module_marks])
        steps = [mark.args[0] for mark in marks if mark.name == "step"]
        assert steps[:1] and steps[0] in ("2.3", "3.1", "3.2"), f"{name} has no step marker"

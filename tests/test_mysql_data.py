"""Steps 2.3 and 3.2 against a local MariaDB primary+replica, and the 2.3/3.x checks.

The checks are called as plain functions with a LabContext on the pair; every check must
pass on the provisioned lab and fail on at least one seeded fault (FAULTS names, for each
fault, exactly the checks it breaks, so a check that grows too broad shows up here).
"""

from __future__ import annotations

import inspect
from contextlib import closing
from types import SimpleNamespace

import pymysql
import pytest

from fixtures.lab import LabContext
from provisioning import mysql_data, naming
from provisioning.apps import products
from provisioning.aws import AwsClients, AwsTarget
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.local.mariadb import start_mysql_pair
from provisioning.secrets import generate_password
from suites import test_lab2_replication as lab2
from suites import test_lab3_application as lab3

ER_NONEXISTING_GRANT = 1141
FAULT_TIMEOUT = 0.5  # deadline for convergence polls while a fault keeps them from converging
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
    """Undo every fault below and drop the lab's table, so each test provisions from nothing."""
    with closing(pair.root_connect("replica")) as replica, replica.cursor() as cursor:
        cursor.execute("SET GLOBAL read_only = 1")
        cursor.execute("START SLAVE")  # a no-op (warning) when it runs
        cursor.execute("SELECT host FROM mysql.user WHERE user = %s", (naming.DB_MASTER_USER,))
        for (host,) in cursor.fetchall():
            try:
                cursor.execute("REVOKE READ_ONLY ADMIN ON *.* FROM %s@%s", (naming.DB_MASTER_USER, host))
            except pymysql.err.OperationalError as exc:
                if exc.args[0] != ER_NONEXISTING_GRANT:
                    raise
    with closing(pair.root_connect("primary")) as primary, primary.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {naming.DB_NAME}.products")
    pair.wait_replica_caught_up(timeout=10)


@pytest.fixture
def provisioned(mysql_pair, ctx, moto_server):
    reset(mysql_pair)
    mysql_data.create_replication_data(ctx)
    mysql_data.run_products_app(ctx)
    return make_lab(moto_server, ctx.dataplane)


def run_check(check, lab) -> str | None:
    """None when the check passes, else its failure message; skips are not tolerated here."""
    kwargs = {"lab": lab}
    if "request" in inspect.signature(check).parameters:
        kwargs["request"] = SimpleNamespace(node=SimpleNamespace(name=check.__name__, user_properties=[]))
    try:
        check(**kwargs)
    except (AssertionError, pytest.fail.Exception) as exc:
        return str(exc) or type(exc).__name__
    except pytest.skip.Exception:
        raise
    except Exception as exc:  # pytest would report this as a failure too
        return f"{type(exc).__name__}: {exc}"
    return None


def failing_checks(lab) -> dict[str, str]:
    return {name: message for name, check in CHECKS.items() if (message := run_check(check, lab)) is not None}


def products_rows(endpoint) -> tuple:
    with closing(endpoint.connect()) as connection:
        return mysql_data.table_contents(connection)


# -- provisioning ---------------------------------------------------------------------------

def test_every_check_passes_on_the_provisioned_lab(provisioned):
    assert failing_checks(provisioned) == {}


def test_steps_leave_the_lab_end_state(provisioned, mysql_pair):
    rows = [(r[0], r[1], r[3], r[4]) for r in products_rows(mysql_pair.primary)]
    assert rows == [(e.id, e.name, e.price, e.quantity) for e in products.expected_end_state()]


def test_running_the_steps_twice_gives_the_same_end_state(provisioned, mysql_pair, ctx, logs):
    before = products_rows(mysql_pair.primary)
    mysql_data.create_replication_data(ctx)
    assert mysql_data.run_products_app(ctx) is None
    assert products_rows(mysql_pair.primary) == before
    assert any("0 of 3 widgets inserted" in line for line in logs)
    assert any("already run" in line for line in logs)


def test_replica_catch_up_is_measured_and_logged(provisioned, logs):
    assert any(line.startswith(f"step 2.3: {naming.DB_REPLICA} caught up in ") for line in logs), logs


def test_steps_without_a_binding_log_one_line_and_do_nothing(mysql_pair):
    logs = []
    ctx = ProvisionContext(clients=None, run_id="test", dataplane=DataPlane(),
                           master_password=generate_password(), log=logs.append)
    mysql_data.create_replication_data(ctx)
    assert mysql_data.run_products_app(ctx) is None
    assert len(logs) == 2 and all("no data-plane binding" in line for line in logs)


def test_step_2_3_without_a_replica_binding_still_fills_the_primary(mysql_pair, ctx, logs):
    reset(mysql_pair)
    primary_only = ProvisionContext(clients=None, run_id="test", master_password=ctx.master_password,
                                    dataplane=DataPlane(mysql={naming.DB_INSTANCE: mysql_pair.primary}),
                                    log=logs.append)
    mysql_data.create_replication_data(primary_only)
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


# -- seeded faults --------------------------------------------------------------------------

def on(role, *statements):
    def apply(pair, ctx):
        with closing(pair.root_connect(role)) as connection, connection.cursor() as cursor:
            cursor.execute(f"USE {naming.DB_NAME}")
            for statement in statements:
                cursor.execute(statement)
    return apply


def lab_user_bypasses_read_only(pair, ctx):
    with closing(pair.root_connect("replica")) as replica, replica.cursor() as cursor:
        cursor.execute("SELECT host FROM mysql.user WHERE user = %s", (naming.DB_MASTER_USER,))
        for (host,) in cursor.fetchall():
            cursor.execute("GRANT READ_ONLY ADMIN ON *.* TO %s@%s", (naming.DB_MASTER_USER, host))


def lab_2_3_table(pair, ctx):
    # What the lab's literal Lab 2.3 leaves: four columns and the three widgets.
    with closing(pair.primary.connect()) as primary, primary.cursor() as cursor:
        cursor.execute("DROP TABLE products")
        cursor.execute(products.LAB_2_3_CREATE_TABLE_SQL)
        cursor.execute("INSERT INTO products (name, price) VALUES ('Widget A', 19.99), ('Widget B', 29.99), "
                       "('Gadget X', 49.99)")


def app_ran_twice(pair, ctx):
    products.run_lab_app(pair.primary)


BEHAVIOUR = {"test_create_returns_the_id_that_read_finds", "test_read_all_lists_newest_first",
             "test_update_changes_the_row_and_returns_the_rowcount", "test_update_refreshes_updated_at",
             "test_delete_returns_1_then_0_for_a_missing_id", "test_search_by_category_returns_only_that_category"}

FAULTS = {
    "replica_not_read_only": (on("replica", "SET GLOBAL read_only = 0"),
                              {"test_replica_is_read_only", "test_replica_refuses_writes_from_the_lab_user"}),
    "lab_user_bypasses_read_only": (lab_user_bypasses_read_only, {"test_replica_refuses_writes_from_the_lab_user"}),
    "replication_stopped": (on("replica", "STOP SLAVE"), {"test_row_written_on_primary_is_read_on_replica"}),
    "replica_row_changed": (on("replica", "UPDATE products SET quantity = quantity + 1 WHERE id = 2"),
                            {"test_replica_has_the_same_products_as_the_primary"}),
    "lab_2_3_four_column_table": (lab_2_3_table, BEHAVIOUR | {
        "test_products_has_the_lab3_columns", "test_updated_at_is_set_on_update", "test_quantity_defaults_to_zero",
        "test_product_1_has_the_lab_update", "test_product_5_is_deleted", "test_lab_products_present_except_the_deleted_one",
        "test_product_count_matches_the_lab_run"}),
    "widget_missing": (on("primary", "DELETE FROM products WHERE name = 'Gadget X'"),
                       {"test_products_table_has_the_three_widgets", "test_product_count_matches_the_lab_run"}),
    "widget_price_changed": (on("primary", "UPDATE products SET price = 99.99 WHERE name = 'Widget B'"),
                             {"test_widget_prices_match_the_lab"}),
    "product_1_changed": (on("primary", "UPDATE products SET quantity = 9 WHERE id = 1"),
                          {"test_product_1_has_the_lab_update"}),
    "product_5_not_deleted": (on("primary", "INSERT INTO products (id, name, price) VALUES (5, 'Restored', 1.00)"),
                              {"test_product_5_is_deleted", "test_product_count_matches_the_lab_run"}),
    "app_ran_twice": (app_ran_twice, {"test_lab_products_present_except_the_deleted_one",
                                      "test_product_count_matches_the_lab_run"}),
    "price_type_changed": (on("primary", "ALTER TABLE products MODIFY price DECIMAL(8,2) NOT NULL"),
                           {"test_products_column_types_match_lab3"}),
    "primary_key_dropped": (on("primary", "ALTER TABLE products DROP PRIMARY KEY, ADD UNIQUE KEY (id)"),
                            {"test_products_primary_key_is_auto_increment_id"}),
    "on_update_dropped": (on("primary", "ALTER TABLE products MODIFY updated_at TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP"),
                          {"test_updated_at_is_set_on_update", "test_update_refreshes_updated_at"}),
    "created_at_default_changed": (on("primary", "ALTER TABLE products ALTER created_at SET DEFAULT '2001-01-01 00:00:00'"),
                                   {"test_timestamps_default_to_current_timestamp"}),
    "quantity_default_changed": (on("primary", "ALTER TABLE products ALTER quantity SET DEFAULT 1"),
                                 {"test_quantity_defaults_to_zero"}),
    # The clock running backwards for new rows: newer rows get older created_at.
    "created_at_runs_backwards": (on("primary", "CREATE TRIGGER dblab_fault BEFORE INSERT ON products FOR EACH ROW "
                                     "SET NEW.created_at = TIMESTAMP('2030-01-01') - INTERVAL "
                                     "(SELECT COUNT(*) FROM products) SECOND"),
                                  {"test_read_all_lists_newest_first"}),
    # Category rewritten on insert: the search finds nothing, and create reads back another category.
    "category_rewritten": (on("primary", "CREATE TRIGGER dblab_fault BEFORE INSERT ON products FOR EACH ROW "
                              "SET NEW.category = 'Electronics'"),
                           {"test_search_by_category_returns_only_that_category",
                            "test_create_returns_the_id_that_read_finds"}),
    # Quantity ignored on update: the update reports a change (price) but quantity stays.
    "update_ignores_quantity": (on("primary", "CREATE TRIGGER dblab_fault BEFORE UPDATE ON products FOR EACH ROW "
                                   "SET NEW.quantity = OLD.quantity"),
                                {"test_update_changes_the_row_and_returns_the_rowcount", "test_update_refreshes_updated_at"}),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_seeded_fault_fails_exactly_its_checks(fault, provisioned, mysql_pair, ctx, moto_server):
    apply, expected = FAULTS[fault]
    try:
        apply(mysql_pair, ctx)
        if fault not in ("replication_stopped", "replica_row_changed"):
            mysql_pair.wait_replica_caught_up(timeout=10)
        failed = failing_checks(make_lab(moto_server, ctx.dataplane, timeout=FAULT_TIMEOUT))
    finally:
        with closing(mysql_pair.root_connect("primary")) as primary, primary.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {naming.DB_NAME}.dblab_fault")
        reset(mysql_pair)
    assert set(failed) == expected, failed


def test_every_check_fails_on_some_seeded_fault():
    covered = set().union(*(expected for _apply, expected in FAULTS.values()))
    assert set(CHECKS) - covered == set()

"""Erratum 1 and the other defects of Lab 3's app.py: the lab's version fails, the suite's works."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from decimal import Decimal

import pymysql
import pytest

from provisioning import naming, products_table
from provisioning.apps import products
from provisioning.apps.products import ProductRepository, run_lab_app
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.local.mariadb import start_mysql_pair
from provisioning.passwords import generate_password

ER_BAD_FIELD = 1054

# The lab's Lab 2.3 heredoc, verbatim.
LAB_2_3_INSERT_SQL = """
INSERT INTO products (name, price) VALUES
    ('Widget A', 19.99),
    ('Widget B', 29.99),
    ('Gadget X', 49.99)
"""


@pytest.fixture(scope="module")
def mysql_pair(tmp_path_factory):
    pair = start_mysql_pair(tmp_path_factory.mktemp("errata-products"), generate_password())
    yield pair
    pair.stop()


@pytest.fixture
def primary(mysql_pair):
    """The lab's primary with no products table."""
    with closing(mysql_pair.primary.connect()) as connection:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS products")
        yield mysql_pair.primary


def run_sql(endpoint, *statements):
    with closing(endpoint.connect()) as connection, connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        return cursor.fetchall()


def end_state(endpoint):
    return [tuple(row) for row in run_sql(endpoint, "SELECT id, name, price, quantity FROM products ORDER BY id")]


def expected_rows():
    return [(e.id, e.name, e.price, e.quantity) for e in products.expected_end_state()]


def steps_context(pair, logs):
    dataplane = DataPlane(mysql={naming.DB_INSTANCE: pair.primary, naming.DB_REPLICA: pair.replica})
    return ProvisionContext(clients=None, run_id="test-errata", dataplane=dataplane,
                            master_password=pair.primary.password, timeout=10, log=logs.append)


def test_lab_sequence_fails_with_unknown_column_description(primary):
    # Lab 2.3 as written, then Lab 3: CREATE TABLE IF NOT EXISTS keeps the 4-column table.
    run_sql(primary, products.LAB_2_3_CREATE_TABLE_SQL, LAB_2_3_INSERT_SQL)
    with ProductRepository(primary) as repo:
        repo.create_table()
        with pytest.raises(pymysql.err.OperationalError) as failure:
            repo.create(*products.LAB_PRODUCTS[0])
    assert failure.value.args[0] == ER_BAD_FIELD
    assert "Unknown column 'description'" in failure.value.args[1]


def test_reference_app_raises_where_the_labs_main_prints_and_carries_on(primary):
    run_sql(primary, products.LAB_2_3_CREATE_TABLE_SQL, LAB_2_3_INSERT_SQL)
    with pytest.raises(pymysql.err.OperationalError, match="Unknown column 'description'"):
        run_lab_app(primary)


def test_suite_sequence_runs_the_app_on_the_lab3_schema(primary, mysql_pair):
    logs = []
    ctx = steps_context(mysql_pair, logs)
    products_table.create_replication_data(ctx)
    run = products_table.run_products_app(ctx)
    assert run is not None and run.deleted == 1
    assert end_state(primary) == expected_rows()


def test_suite_2_3_adopts_a_table_made_by_the_labs_2_3(primary, mysql_pair):
    run_sql(primary, products.LAB_2_3_CREATE_TABLE_SQL, LAB_2_3_INSERT_SQL)
    logs = []
    ctx = steps_context(mysql_pair, logs)
    products_table.create_replication_data(ctx)
    assert any("added Lab 3 columns ['description', 'quantity', 'category', 'updated_at']" in line for line in logs)
    products_table.run_products_app(ctx)
    # The widgets keep ids 1-3 and are not inserted again; Lab 3's columns are in Lab 3's order.
    assert end_state(primary) == expected_rows()
    columns = [row[0] for row in run_sql(primary, "SHOW COLUMNS FROM products")]
    assert columns == [spec.name for spec in products.LAB3_COLUMNS]


def test_lab_ids_1_and_5_mean_other_products_once_lab_2_3_ran(primary, mysql_pair):
    # The lab's main() updates id 1 and deletes id 5 as if the table were empty.
    products_table.create_replication_data(steps_context(mysql_pair, []))
    run = run_lab_app(primary)
    assert run.created_ids == (4, 5, 6, 7, 8)
    assert run.product_before_update["name"] == "Widget A"
    assert (run.product_after_update["price"], run.product_after_update["quantity"]) == (Decimal("1199.99"), 8)
    assert run.category_matches == ("Laptop Pro", "Wireless Mouse", "USB-C Hub")
    assert (run.deleted, run.remaining) == (1, 7)
    assert "Wireless Mouse" not in [row[1] for row in end_state(primary)]


def test_lab_app_on_an_empty_table_does_what_the_lab_intended(primary):
    run = run_lab_app(primary)
    assert run.created_ids == (1, 2, 3, 4, 5)
    assert run.product_after_update["name"] == "Laptop Pro"
    assert [row[1] for row in end_state(primary)] == ["Laptop Pro", "Wireless Mouse", "Desk Chair", "USB-C Hub"]


def test_each_run_of_the_labs_main_inserts_its_products_again(primary):
    run_lab_app(primary)
    second = run_lab_app(primary)
    assert second.created_ids == (6, 7, 8, 9, 10)
    assert second.deleted == 0  # id 5 went in the first run
    assert second.update_rowcount == 0  # same values: MySQL counts changed rows, not matched ones


def _three_rows_of_one_second(repo) -> list[int]:
    """Three products whose created_at is the same second, as rows created together often are."""
    repo.create_table()
    ids = [repo.create(f"tie-{i}", None, Decimal("1.00"), 1, "ties") for i in range(3)]
    with repo.connection.cursor() as cursor:
        cursor.execute("UPDATE products SET created_at = %s", (datetime(2020, 1, 1),))
    return ids


def test_lab_read_all_lists_rows_of_the_same_second_oldest_first(primary):
    # The lab's read_all(): ORDER BY created_at DESC alone. created_at has one-second resolution, so
    # rows created in the same second tie, and the server returns them in its own order (by id here).
    with ProductRepository(primary) as repo:
        ids = _three_rows_of_one_second(repo)
        with repo.connection.cursor() as cursor:
            cursor.execute("SELECT id FROM products ORDER BY created_at DESC")
            listed = [row["id"] if isinstance(row, dict) else row[0] for row in cursor.fetchall()]
    assert listed != ids[::-1], f"the lab's ORDER BY happened to list the newest first: {listed}"


def test_read_all_breaks_created_at_ties_by_id(primary):
    with ProductRepository(primary) as repo:
        ids = _three_rows_of_one_second(repo)
        assert [row["id"] for row in repo.read_all()] == ids[::-1]


def test_create_returns_the_id_of_the_new_row(primary):
    with ProductRepository(primary) as repo:
        repo.create_table()
        product_id = repo.create("one", None, Decimal("1.00"), 1, "c")
        assert repo.read(product_id)["name"] == "one"


class RecordingConnection:
    """Fails the test if any SQL reaches it."""

    def cursor(self, *args):
        raise AssertionError("SQL was sent to the database")

    def close(self):
        pass


@pytest.mark.parametrize("fields", [
    {"price = 0 WHERE 1 = 1; --": 1},  # the lab would put this key into the SQL text
    {"id": 7},
    {},
])
def test_update_refuses_unknown_columns_before_any_sql(fields):
    with ProductRepository(RecordingConnection) as repo, pytest.raises(ValueError):
        repo.update(1, **fields)


def test_repository_rows_are_dicts_whatever_cursor_the_connection_makes(primary):
    # The lab relied on DictCursor in DB_CONFIG; the reference asks for it per cursor.
    with ProductRepository(lambda: primary.connect(cursorclass=pymysql.cursors.Cursor)) as repo:
        repo.create_table()
        product_id = repo.create("dicts", None, Decimal("2.00"), 2, "c")
        assert repo.read(product_id)["name"] == "dicts"


# Lab 2.3's CREATE TABLE has no IF NOT EXISTS: the step cannot be run twice.

ER_TABLE_EXISTS = 1050


def test_lab_2_3_run_twice_fails_with_table_exists(primary):
    run_sql(primary, products.LAB_2_3_CREATE_TABLE_SQL, LAB_2_3_INSERT_SQL)
    with pytest.raises(pymysql.err.OperationalError) as failure:
        run_sql(primary, products.LAB_2_3_CREATE_TABLE_SQL, LAB_2_3_INSERT_SQL)
    assert failure.value.args[0] == ER_TABLE_EXISTS


def test_suite_2_3_run_twice_keeps_the_three_widgets(primary, mysql_pair):
    ctx = steps_context(mysql_pair, [])
    products_table.create_replication_data(ctx)
    products_table.create_replication_data(ctx)
    assert [row[1] for row in end_state(primary)] == [name for name, _ in products.LAB_WIDGETS]


# Lab 2.3 reads the replica right after writing the primary: replication is asynchronous.

@pytest.fixture
def lag_replica(mysql_pair):
    """Makes the replica apply every event N seconds late (MariaDB's MASTER_DELAY): replica lag,
    made certain; returns the replica. Undone afterwards."""
    def delay(seconds: int):
        with closing(mysql_pair.root_connect("replica")) as replica, replica.cursor() as cursor:
            cursor.execute("STOP SLAVE")
            cursor.execute(f"CHANGE MASTER TO MASTER_DELAY = {seconds}")
            cursor.execute("START SLAVE")
        return mysql_pair.replica
    yield delay
    delay(0)
    mysql_pair.wait_replica_caught_up(timeout=10)


def test_lab_reads_the_replica_before_the_rows_arrive(primary, lag_replica):
    # A lag far longer than the next command takes, however loaded the machine: one second
    # was not enough under a parallel `make test`.
    lagging_replica = lag_replica(30)
    run_sql(primary, products.LAB_2_3_CREATE_TABLE_SQL, LAB_2_3_INSERT_SQL)
    # Lab 2.3's next command: SELECT * FROM products on the replica.
    with pytest.raises(pymysql.err.ProgrammingError):  # 1146: the table itself has not arrived yet
        run_sql(lagging_replica, "SELECT * FROM products")


def test_suite_waits_until_the_replica_has_the_rows(primary, mysql_pair, lag_replica):
    lagging_replica = lag_replica(1)
    logs = []
    products_table.create_replication_data(steps_context(mysql_pair, logs))
    assert len(run_sql(lagging_replica, "SELECT * FROM products")) == len(products.LAB_WIDGETS)
    assert any(line.startswith(f"step 2.3: {naming.DB_REPLICA} caught up in ") for line in logs), logs


# Lab 3's update(): the SQL is built from the keyword names, and no keyword at all is invalid SQL.

ER_PARSE_ERROR = 1064


class LabUpdate:
    """Lab 3's ProductRepository.update, verbatim but for the connection it is given."""

    def __init__(self, connection):
        self.connection = connection

    def update(self, product_id, **kwargs):
        fields = ', '.join([f"{k} = %s" for k in kwargs.keys()])
        values = list(kwargs.values()) + [product_id]

        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE products SET {fields} WHERE id = %s",
                values
            )
        self.connection.commit()
        return cursor.rowcount


@pytest.fixture
def lab_3_rows(primary):
    with ProductRepository(primary) as repo:
        repo.create_table()
        for product in products.LAB_PRODUCTS:
            repo.create(*product)
    return primary


def test_lab_update_without_fields_sends_invalid_sql(lab_3_rows):
    with closing(lab_3_rows.connect()) as connection, pytest.raises(pymysql.err.ProgrammingError) as failure:
        LabUpdate(connection).update(1)
    assert failure.value.args[0] == ER_PARSE_ERROR


def test_lab_update_lets_a_field_name_rewrite_the_statement(lab_3_rows):
    with closing(lab_3_rows.connect()) as connection:
        LabUpdate(connection).update(1, **{"quantity = 0 WHERE 1 = 1 #": 5})
    # Meant for product 1: every product is now out of stock.
    assert {row[3] for row in end_state(lab_3_rows)} == {0}


# Lab 3's main() catches every exception, prints it and ends normally.

def lab_3_main(endpoint, echo) -> None:
    """The shape of Lab 3's main(): every step inside one try, any exception printed."""
    repo = ProductRepository(endpoint)
    try:
        repo.connect()
        repo.create_table()
        for product in products.LAB_PRODUCTS:
            repo.create(*product)
    except Exception as e:
        echo(f"Error: {e}")
    finally:
        repo.disconnect()


def test_lab_main_reports_success_when_nothing_worked(primary):
    run_sql(primary, products.LAB_2_3_CREATE_TABLE_SQL, LAB_2_3_INSERT_SQL)
    printed = []
    assert lab_3_main(primary, printed.append) is None  # `python3 app.py` exits 0
    assert printed and printed[0].startswith("Error: (1054")
    assert run_sql(primary, "SELECT COUNT(*) FROM products") == ((len(products.LAB_WIDGETS),),)  # none of Lab 3's

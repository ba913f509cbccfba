"""Lab 2.3: data written on the primary is replicated to the read-only replica.

Read-only checks look at the products table the step created; the writes_data checks write
rows with a scratch name (naming.scratch_name: never one of the lab's) and delete them again.
Later steps change the widgets' rows (Lab 3.2's main() and Lab 5.3's cache demo reprice product 1):
those traces are the lab's, and the price check accepts them.
"""

from __future__ import annotations

import logging
from contextlib import closing
from decimal import Decimal

import pymysql
import pytest

from provisioning import naming
from provisioning.apps import products
from provisioning.products_table import table_contents
from provisioning.polling import DeadlineExceeded, wait_until
from provisioning.sql_errors import ER_NO_SUCH_TABLE, ER_OPTION_PREVENTS_STATEMENT

pytestmark = pytest.mark.step("2.3")
log = logging.getLogger("dblab")



def read_products(connection, instance_id: str) -> tuple[tuple, ...]:
    try:
        return table_contents(connection)
    except pymysql.err.ProgrammingError as exc:
        if exc.args[0] == ER_NO_SUCH_TABLE:
            pytest.fail(f"{instance_id}: table {naming.DB_NAME}.products does not exist")
        raise


def replica_lag(connection) -> str:
    """Seconds_Behind_Master (MariaDB, MySQL < 8.0.22) or Seconds_Behind_Source, as the replica reports it."""
    last_error = None
    for statement in ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
        try:
            with connection.cursor(pymysql.cursors.DictCursor) as cursor:
                cursor.execute(statement)
                status = cursor.fetchone()
        except pymysql.MySQLError as exc:
            last_error = exc
            continue
        if not status:
            return "no replication status (the server does not replicate from anything)"
        for column in ("Seconds_Behind_Source", "Seconds_Behind_Master"):
            if column in status:
                return f"{column}={status[column]}"
    return f"unavailable ({last_error.args[1] if last_error and len(last_error.args) > 1 else last_error})"


def report(request, name: str, value) -> None:
    # user_properties reach the JUnit report; record_property would warn under xunit2.
    request.node.user_properties.append((name, value))
    log.info("%s: %s = %s", request.node.name, name, value)


def test_products_table_has_the_three_widgets(lab):
    with closing(lab.mysql(naming.DB_INSTANCE)) as primary:
        read_products(primary, naming.DB_INSTANCE)
        with primary.cursor() as cursor:
            cursor.execute("SELECT name, COUNT(*) FROM products GROUP BY name")
            counts = dict(cursor.fetchall())
    missing = [name for name, _price in products.LAB_WIDGETS if name not in counts]
    duplicated = [name for name, _price in products.LAB_WIDGETS if counts.get(name, 0) > 1]
    assert not missing, f"{naming.DB_INSTANCE}: products lacks the Lab 2.3 rows {missing}"
    assert not duplicated, f"{naming.DB_INSTANCE}: products holds the Lab 2.3 rows {duplicated} more than once"


def test_widget_prices_match_the_lab(lab):
    with closing(lab.mysql(naming.DB_INSTANCE)) as primary:
        read_products(primary, naming.DB_INSTANCE)
        with primary.cursor() as cursor:
            cursor.execute("SELECT id, name, price FROM products WHERE name IN (%s, %s, %s) ORDER BY id",
                           [name for name, _price in products.LAB_WIDGETS])
            rows = cursor.fetchall()
    expected = dict(products.LAB_WIDGETS)
    wrong = []
    for product_id, name, price in rows:
        allowed = {expected[name]} | products.later_prices(product_id)  # Lab 5.3 reprices product 1
        if product_id == products.LAB_UPDATED_ID:  # Lab 3.2's main() updates product 1 afterwards
            allowed.add(products.LAB_UPDATE["price"])
        if price not in allowed:
            wrong.append(f"{name} (id {product_id}) costs {price}, expected {' or '.join(map(str, sorted(allowed)))}")
    assert rows, f"{naming.DB_INSTANCE}: products holds none of the Lab 2.3 rows"
    assert not wrong, f"{naming.DB_INSTANCE}: " + "; ".join(wrong)


def test_replica_has_the_same_products_as_the_primary(lab, request):
    with closing(lab.mysql(naming.DB_INSTANCE)) as primary, closing(lab.mysql(naming.DB_REPLICA)) as replica:
        # Two empty tables are equal and prove nothing about replication: the rows the lab
        # inserts (any of them) must be there to compare.
        assert read_products(primary, naming.DB_INSTANCE), (
            f"{naming.DB_INSTANCE}: products is empty, so there is nothing the replica could show "
            "(insert Lab 2.3's rows on the primary)")
        report(request, "replica_lag", replica_lag(replica))
        seen = {}

        def same_rows():
            seen["primary"] = read_products(primary, naming.DB_INSTANCE)
            seen["replica"] = read_products(replica, naming.DB_REPLICA)
            return seen["primary"] == seen["replica"]

        try:
            converged = wait_until(same_rows, timeout=lab.convergence_wait(), retry_on=(),
                                   what=f"{naming.DB_REPLICA} matching {naming.DB_INSTANCE}")
        except DeadlineExceeded:
            pytest.fail(f"{naming.DB_REPLICA}: products did not match {naming.DB_INSTANCE} {lab.convergence_limit}: "
                        f"{describe_difference(seen.get('primary', ()), seen.get('replica', ()))}")
    report(request, "replica_converged_seconds", round(converged.seconds, 3))


def describe_difference(primary_rows, replica_rows) -> str:
    on_primary = {row[0]: row for row in primary_rows}
    on_replica = {row[0]: row for row in replica_rows}
    missing = sorted(on_primary.keys() - on_replica.keys())
    extra = sorted(on_replica.keys() - on_primary.keys())
    changed = sorted(i for i in on_primary.keys() & on_replica.keys() if on_primary[i] != on_replica[i])
    return f"ids missing on the replica {missing}, only on the replica {extra}, different {changed}"


def test_replica_is_read_only(lab):
    with closing(lab.mysql(naming.DB_REPLICA)) as replica, replica.cursor() as cursor:
        cursor.execute("SELECT @@global.read_only")
        (read_only,) = cursor.fetchone()
    assert read_only == 1, f"{naming.DB_REPLICA}: read_only is {read_only}, a read replica must have read_only=1"


@pytest.mark.writes_data
def test_replica_refuses_writes_from_the_lab_user(lab):
    name = naming.scratch_name("product")
    endpoint = lab.mysql_endpoint(naming.DB_REPLICA)
    with closing(endpoint.connect()) as replica, replica.cursor() as cursor:
        try:
            cursor.execute("INSERT INTO products (name, price) VALUES (%s, %s)", (name, Decimal("0.01")))
        except pymysql.err.OperationalError as exc:
            assert exc.args[0] == ER_OPTION_PREVENTS_STATEMENT, (
                f"{naming.DB_REPLICA}: INSERT by {endpoint.user} failed with {exc.args}, expected error 1290 (read-only)")
            return
        cursor.execute("DELETE FROM products WHERE name = %s", (name,))  # undo what should never have worked
    pytest.fail(f"{naming.DB_REPLICA}: accepted an INSERT by {endpoint.user}; a read replica must refuse writes (error 1290)")


@pytest.mark.writes_data
def test_row_written_on_primary_is_read_on_replica(lab, request):
    name = naming.scratch_name("product")
    with closing(lab.mysql(naming.DB_INSTANCE)) as primary, closing(lab.mysql(naming.DB_REPLICA)) as replica:
        with primary.cursor() as cursor:
            cursor.execute("INSERT INTO products (name, price) VALUES (%s, %s)", (name, Decimal("0.01")))
        try:
            def replicated():
                with replica.cursor() as cursor:
                    return cursor.execute("SELECT 1 FROM products WHERE name = %s", (name,))

            try:
                converged = wait_until(replicated, timeout=lab.convergence_wait(),
                                       what=f"{name} on {naming.DB_REPLICA}", retry_on=())
            except DeadlineExceeded:
                pytest.fail(f"{naming.DB_REPLICA}: a row inserted on {naming.DB_INSTANCE} did not arrive "
                            f"{lab.convergence_limit} (replication status: {replica_lag(replica)})")
        finally:
            with primary.cursor() as cursor:
                cursor.execute("DELETE FROM products WHERE name = %s", (name,))
    report(request, "replication_seconds", round(converged.seconds, 4))

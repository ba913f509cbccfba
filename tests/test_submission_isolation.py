"""Issue 13: submissions graded in one local lab each have a database, a Redis database and an
orders table of their own (fixtures/apps.py: submission_lab, submission_table, bindings_of), and
the lab's own data is none of them."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest

from fixtures.apps import SubmissionParam, bindings_of, submission_lab, submission_table
from fixtures.lab import LabContext
from provisioning import naming
from provisioning.apps import products
from provisioning.context import ProvisionContext
from provisioning.dataplane import REDIS_PRIMARY
from provisioning.dynamodb import create_orders_table
from provisioning.local.engines import start_local_engines
from provisioning.passwords import generate_password

ALICE, BOB = SubmissionParam(0, Path("alice")), SubmissionParam(1, Path("bob"))


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    engines = start_local_engines(tmp_path_factory.mktemp("isolation"), generate_password(), moto=False)
    yield engines
    engines.stop()


@pytest.fixture
def lab(engines, aws_clients) -> LabContext:
    dataplane = engines.dataplane()
    ctx = ProvisionContext(clients=aws_clients, run_id="isolation", dataplane=dataplane,
                           master_password=generate_password(), log=lambda message: None)
    create_orders_table(ctx)
    with closing(dataplane.mysql[naming.DB_INSTANCE].connect()) as connection, connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS products")
        cursor.execute(products.CREATE_TABLE_SQL)
    return LabContext(clients=aws_clients, dataplane=dataplane, timeout=5, target="local")


def _rows(view) -> list[str]:
    with closing(view.mysql()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT name FROM products")
        return [row[0] for row in cursor.fetchall()]


def test_each_submission_has_a_database_and_a_redis_database_of_its_own(lab):
    alice, bob = submission_lab(lab, ALICE), submission_lab(lab, BOB)
    with closing(alice.mysql()) as connection, connection.cursor() as cursor:
        cursor.execute("INSERT INTO products (name, price) VALUES ('alice-row', 1.00)")
    assert (_rows(alice), _rows(bob), _rows(lab)) == (["alice-row"], [], [])
    with alice.redis() as client:
        client.set("product:1", "alice")
    with bob.redis() as other, lab.redis() as lab_client:
        assert other.get("product:1") is None and lab_client.get("product:1") is None
    assert alice.dataplane.mysql[naming.DB_INSTANCE].database == naming.submission_database(0)
    assert {alice.dataplane.redis[REDIS_PRIMARY].db, bob.dataplane.redis[REDIS_PRIMARY].db, 0} == {1, 2, 0}


def test_each_submission_has_an_orders_table_keyed_as_the_labs_and_its_code_is_bound_to_it(lab):
    dynamodb = lab.client("dynamodb")
    alice, bob = submission_table(lab, ALICE), submission_table(lab, BOB)
    assert alice != bob and naming.ORDERS_TABLE not in (alice, bob)
    lab_table, own = (dynamodb.describe_table(TableName=name)["Table"] for name in (naming.ORDERS_TABLE, alice))
    assert own["KeySchema"] == lab_table["KeySchema"]
    assert [i["IndexName"] for i in own["GlobalSecondaryIndexes"]] == [naming.STATUS_INDEX]
    assert submission_table(lab, ALICE) == alice  # made once
    bindings = bindings_of(submission_lab(lab, ALICE), alice)
    assert bindings.dynamodb["tables"] == {naming.ORDERS_TABLE: alice}
    assert bindings.mysql["database"] == naming.submission_database(0) and bindings.redis["db"] == 1

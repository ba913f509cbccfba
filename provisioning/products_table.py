"""Lab 2.3 (data on the primary, seen on the replica) and Lab 3.2 (run the products app).

Both steps talk to the databases bound in ctx.dataplane; on real AWS without a tunnel there
is no binding (RDS sits in private subnets) and they log one line and do nothing.

Idempotency:
- 2.3 creates products with Lab 3's schema (erratum 1), adds Lab 3's columns to a Lab 2.3
  table that already exists, and inserts each widget only if no row has its name.
- 3.2 runs the lab's main() only when none of main()'s five products exist. main() inserts
  them on every run and then updates id 1 and deletes id 5 by literal id, so a second run
  would leave duplicates and delete a different row: "the app has run" is therefore decided
  by its products being present, and a rerun is skipped (logged), not repeated.
"""

from __future__ import annotations

from . import naming
from .apps import products
from .context import ProvisionContext
from .polling import wait_until


def _endpoint(ctx: ProvisionContext, instance_id: str, step: str):
    endpoint = ctx.dataplane.mysql.get(instance_id)
    if endpoint is None:
        ctx.log(f"step {step}: no data-plane binding for {instance_id} (private subnet, no tunnel); "
                "database contents not provisioned")
    return endpoint


def existing_columns(connection, table: str = products.TABLE) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (table,),
        )
        return [row[0] for row in cursor.fetchall()]


def ensure_products_table(connection, log=lambda message: None) -> list[str]:
    """Create Lab 3's products table, or bring a Lab 2.3 table up to it; returns columns added."""
    with connection.cursor() as cursor:
        cursor.execute(products.CREATE_TABLE_SQL)
    present = set(existing_columns(connection))
    missing = [name for name in products.LAB3_ADDED_COLUMNS if name not in present]
    if missing:
        # A table made by the lab's literal 2.3 (or a student following it): adopt it rather
        # than drop it, so its rows and ids survive.
        clauses = ", ".join(f"ADD COLUMN {products.LAB3_ADDED_COLUMNS[name]}" for name in missing)
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE products {clauses}")
        log(f"products had the Lab 2.3 schema; added Lab 3 columns {missing}")
    return missing


def insert_widgets(connection) -> int:
    """Insert the lab's three widgets, each unless a row with its name exists; returns rows added."""
    added = 0
    with connection.cursor() as cursor:
        for name, price in products.LAB_WIDGETS:
            added += cursor.execute(
                "INSERT INTO products (name, price) SELECT %s, %s FROM DUAL "
                "WHERE NOT EXISTS (SELECT 1 FROM products WHERE name = %s)",
                (name, price, name),
            )
    return added


def table_contents(connection) -> tuple[tuple, ...]:
    """Every row of products, by id: what primary and replica must agree on."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM products ORDER BY id")
        return tuple(cursor.fetchall())


def wait_replica_matches(primary, replica, *, timeout: float, what: str):
    """Poll until the replica's products equal the primary's; returns polling.Converged."""
    expected = table_contents(primary)

    def caught_up():
        return table_contents(replica) == expected

    return wait_until(caught_up, timeout=timeout, what=what)


def create_replication_data(ctx: ProvisionContext) -> None:
    primary_endpoint = _endpoint(ctx, naming.DB_INSTANCE, "2.3")
    if primary_endpoint is None:
        return
    primary = primary_endpoint.connect()
    try:
        ensure_products_table(primary, log=lambda message: ctx.log(f"step 2.3: {message}"))
        added = insert_widgets(primary)
        ctx.log(f"step 2.3: {added} of {len(products.LAB_WIDGETS)} widgets inserted on {naming.DB_INSTANCE}")
        replica_endpoint = _endpoint(ctx, naming.DB_REPLICA, "2.3")
        if replica_endpoint is None:
            return
        replica = replica_endpoint.connect()  # autocommit: each poll sees the newest data
        try:
            converged = wait_replica_matches(primary, replica, timeout=ctx.timeout,
                                             what=f"{naming.DB_REPLICA} showing the products of {naming.DB_INSTANCE}")
        finally:
            replica.close()
        ctx.log(f"step 2.3: {naming.DB_REPLICA} caught up in {converged.seconds:.3f}s ({converged.attempts} polls)")
    finally:
        primary.close()


def app_products_present(connection) -> list[str]:
    """Names of the lab app's products that exist in the table."""
    placeholders = ", ".join(["%s"] * len(products.LAB_PRODUCT_NAMES))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT name FROM products WHERE name IN ({placeholders})",
                       products.LAB_PRODUCT_NAMES)
        return sorted(row[0] for row in cursor.fetchall())


def run_products_app(ctx: ProvisionContext) -> products.AppRun | None:
    endpoint = _endpoint(ctx, naming.DB_INSTANCE, "3.2")
    if endpoint is None:
        return None
    connection = endpoint.connect()
    try:
        ensure_products_table(connection)  # nothing to find before 3.1's table exists
        present = app_products_present(connection)
    finally:
        connection.close()
    if present:
        ctx.log(f"step 3.2: the lab app has already run ({len(present)} of its products exist); "
                "not run again, since each run inserts its products anew")
        return None
    run = products.run_lab_app(endpoint)
    ctx.log(f"step 3.2: app created ids {list(run.created_ids)}, updated product {products.LAB_UPDATED_ID} "
            f"({run.product_after_update['name']}), deleted {run.deleted} row(s) with id {products.LAB_DELETED_ID}, "
            f"{run.remaining} products remain")
    return run

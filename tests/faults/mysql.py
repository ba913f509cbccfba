"""Faults of the MySQL data plane: the primary answering (1.4), replication (2.3), the
products schema and app (3.1) and what the lab's main() left (3.2).

Changes to the products table are made on a copy: the lab's table is renamed aside and a
copy takes its name, so reverting (drop the copy, rename back) restores it exactly.
"""

from __future__ import annotations

from provisioning import naming
from provisioning.apps import products
from provisioning.local.mariadb import PRIMARY, REPLICA
from provisioning.passwords import generate_password

from .model import MYSQL, fault

ASIDE = "dblab_fault_reference_products"
USER = f"'{naming.DB_MASTER_USER}'@'%'"


def _on_a_copy(fc, *statements: str) -> None:
    """Replace products by a copy of itself, then change the copy (replicated to the replica)."""
    fc.sql(PRIMARY, f"RENAME TABLE products TO {ASIDE}", f"CREATE TABLE products LIKE {ASIDE}",
           f"INSERT INTO products SELECT * FROM {ASIDE}")
    fc.undo(fc.sql, PRIMARY, "DROP TABLE IF EXISTS products", f"RENAME TABLE {ASIDE} TO products")
    if statements:
        fc.sql(PRIMARY, *statements)


# --- 1.4: the primary answers as labdb -------------------------------------------------------------

@fault("1.4", "master-account-locked", "the master user cannot log in (account locked)",
       "test_primary_database_answers_as_labdb", breaks="account is locked")
def master_locked(fc):
    fc.sql(PRIMARY, f"ALTER USER {USER} ACCOUNT LOCK", database=None)
    fc.undo(fc.sql, PRIMARY, f"ALTER USER {USER} ACCOUNT UNLOCK", database=None)


@fault("1.4", "master-password-changed", "the master password is not the one the lab was given",
       "test_primary_database_answers_as_labdb", breaks="Access denied")
def master_password_changed(fc):
    other = generate_password()
    fc.secrets.append(other)  # neither password may appear in a check's message
    original = fc.dataplane.mysql[naming.DB_INSTANCE].password
    fc.sql(PRIMARY, f"ALTER USER {USER} IDENTIFIED BY '{other}'", database=None)
    fc.undo(fc.sql, PRIMARY, f"ALTER USER {USER} IDENTIFIED BY '{original}'", database=None)


@fault("1.4", "no-labdb-database", "the instance has no database labdb", "test_primary_database_answers_as_labdb",
       breaks="Unknown database 'labdb'")
def no_labdb(fc):
    fc.sql(PRIMARY, "CREATE DATABASE dblab_fault_aside", f"RENAME TABLE {naming.DB_NAME}.products TO dblab_fault_aside.products",
           f"DROP DATABASE {naming.DB_NAME}", database=None)
    fc.undo(fc.sql, PRIMARY, f"CREATE DATABASE {naming.DB_NAME}",
            f"RENAME TABLE dblab_fault_aside.products TO {naming.DB_NAME}.products", "DROP DATABASE dblab_fault_aside",
            database=None)


# --- 2.3: replication ------------------------------------------------------------------------------

@fault("2.3", "replica-not-read-only", "the replica accepts writes (read_only=0)",
       "test_replica_is_read_only", "test_replica_refuses_writes_from_the_lab_user",
       breaks=("read_only", "accepted an INSERT"))
def replica_writable(fc):
    fc.sql(REPLICA, "SET GLOBAL read_only = 0")
    fc.undo(fc.sql, REPLICA, "SET GLOBAL read_only = 1")


@fault("2.3", "lab-user-bypasses-read-only", "the lab user holds READ_ONLY ADMIN on the replica, so writes pass",
       "test_replica_refuses_writes_from_the_lab_user", breaks="accepted an INSERT")
def lab_user_bypasses_read_only(fc):
    # Replicated statements are not binlogged again: granted on the replica only.
    fc.sql(REPLICA, f"GRANT READ_ONLY ADMIN ON *.* TO {USER}", database=None)
    fc.undo(fc.sql, REPLICA, f"REVOKE READ_ONLY ADMIN ON *.* FROM {USER}", database=None)


@fault("2.3", "replication-stopped", "replication is stopped on the replica",
       "test_row_written_on_primary_is_read_on_replica", "test_replica_read_after_write_delay",
       breaks=("did not arrive", "was not visible"))
def replication_stopped(fc):
    fc.sql(REPLICA, "STOP SLAVE")
    fc.undo(fc.sql, REPLICA, "START SLAVE")


@fault("2.3", "replica-row-differs", "a row on the replica differs from the primary's",
       "test_replica_has_the_same_products_as_the_primary", breaks="different [2]")
def replica_row_differs(fc):
    # updated_at = updated_at: keep the ON UPDATE clock out of it, so the revert restores the row exactly.
    fc.sql(REPLICA, "UPDATE products SET quantity = quantity + 1, updated_at = updated_at WHERE id = 2")
    fc.undo(fc.sql, REPLICA, "UPDATE products SET quantity = quantity - 1, updated_at = updated_at WHERE id = 2")


@fault("2.3", "widget-missing", "Gadget X is missing from products",
       "test_products_table_has_the_three_widgets", breaks="Gadget X")
def widget_missing(fc):
    _on_a_copy(fc, "DELETE FROM products WHERE name = 'Gadget X'")


@fault("2.3", "widget-price", "Widget B costs 99.99, not 29.99", "test_widget_prices_match_the_lab", breaks="99.99")
def widget_price(fc):
    _on_a_copy(fc, "UPDATE products SET price = 99.99 WHERE name = 'Widget B'")


# --- 3.1: the schema and the repository's behaviour -------------------------------------------------

SCHEMA_AND_BEHAVIOUR = (
    "test_products_has_the_lab3_columns", "test_updated_at_is_set_on_update", "test_quantity_defaults_to_zero",
    "test_create_returns_the_id_that_read_finds", "test_read_all_lists_newest_first",
    "test_update_changes_the_row_and_returns_the_rowcount", "test_update_refreshes_updated_at",
    "test_delete_returns_1_then_0_for_a_missing_id", "test_search_by_category_returns_only_that_category",
)


@fault("3.1", "lab-2-3-four-column-table", "products is Lab 2.3's four-column table (erratum 1)", *SCHEMA_AND_BEHAVIOUR,
       breaks=("Unknown column 'description'", "no column", "missing Lab 3 columns"))
def four_column_table(fc):
    _on_a_copy(fc, "DROP TABLE products", products.LAB_2_3_CREATE_TABLE_SQL,
               f"INSERT INTO products (id, name, price, created_at) SELECT id, name, price, created_at FROM {ASIDE}")


@fault("3.1", "price-column-narrowed", "price is DECIMAL(8,2), not DECIMAL(10,2)", "test_products_column_types_match_lab3",
       breaks="price precision is 8")
def price_type(fc):
    _on_a_copy(fc, "ALTER TABLE products MODIFY price DECIMAL(8,2) NOT NULL")


@fault("3.1", "no-primary-key", "id is a unique key, not the primary key", "test_products_primary_key_is_auto_increment_id",
       breaks="primary key is missing")
def primary_key_dropped(fc):
    _on_a_copy(fc, "ALTER TABLE products DROP PRIMARY KEY, ADD UNIQUE KEY (id)")


@fault("3.1", "updated-at-not-on-update", "updated_at has no ON UPDATE CURRENT_TIMESTAMP",
       "test_updated_at_is_set_on_update", "test_update_refreshes_updated_at", breaks="updated_at")
def on_update_dropped(fc):
    _on_a_copy(fc, "ALTER TABLE products MODIFY updated_at TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP")


@fault("3.1", "created-at-default", "created_at defaults to a fixed date", "test_timestamps_default_to_current_timestamp",
       breaks="created_at defaults to")
def created_at_default(fc):
    _on_a_copy(fc, "ALTER TABLE products ALTER created_at SET DEFAULT '2001-01-01 00:00:00'")


@fault("3.1", "quantity-default", "quantity defaults to 1", "test_quantity_defaults_to_zero",
       breaks="quantity defaults to '1'")
def quantity_default(fc):
    _on_a_copy(fc, "ALTER TABLE products ALTER quantity SET DEFAULT 1")


@fault("3.1", "clock-runs-backwards", "newer rows get older created_at (a trigger)", "test_read_all_lists_newest_first",
       breaks="read_all listed")
def created_at_backwards(fc):
    _on_a_copy(fc, "CREATE TRIGGER dblab_fault BEFORE INSERT ON products FOR EACH ROW SET NEW.created_at = "
                   "TIMESTAMP('2030-01-01') - INTERVAL (SELECT COUNT(*) FROM products) SECOND")


@fault("3.1", "category-rewritten", "every new row's category becomes Electronics (a trigger)",
       "test_search_by_category_returns_only_that_category", "test_create_returns_the_id_that_read_finds",
       breaks=("Electronics", "search_by_category"))
def category_rewritten(fc):
    _on_a_copy(fc, "CREATE TRIGGER dblab_fault BEFORE INSERT ON products FOR EACH ROW SET NEW.category = 'Electronics'")


@fault("3.1", "update-ignores-quantity", "an update keeps the old quantity (a trigger)",
       "test_update_changes_the_row_and_returns_the_rowcount", "test_update_refreshes_updated_at",
       breaks=("quantity", "updated_at stayed"))
def update_ignores_quantity(fc):
    _on_a_copy(fc, "CREATE TRIGGER dblab_fault BEFORE UPDATE ON products FOR EACH ROW SET NEW.quantity = OLD.quantity")


def _delete_reports_one(self, product_id: int) -> int:
    with self._cursor() as cursor:
        cursor.execute("DELETE FROM products WHERE id = %s", (product_id,))
    self.connection.commit()
    return 1  # whatever the rowcount


@fault("3.1", "delete-ignores-the-rowcount", "ProductRepository.delete reports 1 even when nothing was deleted",
       "test_delete_returns_1_then_0_for_a_missing_id", breaks=("returned 1, expected 0"))
def delete_ignores_rowcount(fc):
    fc.patch(products.ProductRepository, "delete", _delete_reports_one)


# --- 3.2: what the lab's main() left ----------------------------------------------------------------

@fault("3.2", "product-1-not-updated", "product 1 does not carry main()'s update (quantity 9)",
       "test_product_1_has_the_lab_update", breaks="quantity 9")
def product_1_changed(fc):
    _on_a_copy(fc, f"UPDATE products SET quantity = 9 WHERE id = {products.LAB_UPDATED_ID}")


@fault("3.2", "product-5-not-deleted", "product 5 (Wireless Mouse) was never deleted", "test_product_5_is_deleted",
       "test_lab_products_present_except_the_deleted_one", "test_product_count_matches_the_lab_run",
       breaks=("Wireless Mouse", "8 products"))
def product_5_kept(fc):
    _on_a_copy(fc, f"INSERT INTO products (id, name, price) VALUES ({products.LAB_DELETED_ID}, 'Wireless Mouse', 29.99)")


# The second run's Wireless Mouse survives it (its delete of product 5 finds nothing), so by
# content main()'s deletion is not there either.
@fault("3.2", "app-ran-twice", "the lab's main() ran a second time", "test_lab_products_present_except_the_deleted_one",
       "test_product_count_matches_the_lab_run", "test_product_5_is_deleted",
       breaks=("more than once", "Laptop Pro x2", "still exist"))
def app_ran_twice(fc):
    _on_a_copy(fc)
    fc.touched.add(MYSQL)
    products.run_lab_app(fc.dataplane.mysql[naming.DB_INSTANCE])


FAULTS = [master_locked, master_password_changed, no_labdb,
          replica_writable, lab_user_bypasses_read_only, replication_stopped, replica_row_differs, widget_missing,
          widget_price,
          four_column_table, price_type, primary_key_dropped, on_update_dropped, created_at_default, quantity_default,
          created_at_backwards, category_rewritten, update_ignores_quantity, delete_ignores_rowcount,
          product_1_changed, product_5_kept, app_ran_twice]

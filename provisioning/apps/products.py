"""Lab 3's products application (app.py), with the lab's defects fixed.

What differs from the lab's app.py, and why:
- Connections come from a `MysqlEndpoint` or a connection factory, not a DB_CONFIG with the
  master password written into the code.
- `create` reads `lastrowid` inside the cursor block (the lab reads it from a closed cursor).
- `read_all` orders by `created_at DESC, id DESC`: created_at has one-second resolution, so
  rows inserted in the same second came back in no defined order.
- `update` accepts only the product's columns: the lab formats the keyword names into the
  SQL text, so any key reaches the statement unescaped. It returns MySQL's affected-row count,
  which is 0 when the new values equal the old ones.
- `run_lab_app` replays the lab's main() step by step but raises on the first error; the
  lab's main() catches every exception and prints it, so a failed run still exits 0.
- Rows come back as dicts whatever cursor class the connection was made with.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from ..dataplane import MysqlEndpoint

TABLE = "products"

# Lab 3's table. Lab 2.3 creates `products` with only id, name, price and created_at; Lab 3's
# CREATE TABLE IF NOT EXISTS then keeps that table and every insert fails with
# "Unknown column 'description'" (erratum 1). The suite creates this schema in step 2.3.
CREATE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS products (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    description TEXT,
    price DECIMAL(10,2) NOT NULL,
    quantity INT DEFAULT 0,
    category VARCHAR(50),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
)
"""

# The lab's literal Lab 2.3 table, kept to demonstrate erratum 1 and to adopt such a table.
LAB_2_3_CREATE_TABLE_SQL = """
CREATE TABLE products (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    price DECIMAL(10,2) NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
)
"""

# Columns Lab 3 adds to the Lab 2.3 table, in Lab 3's order, as ALTER TABLE clauses.
LAB3_ADDED_COLUMNS = {
    "description": "description TEXT AFTER name",
    "quantity": "quantity INT DEFAULT 0 AFTER price",
    "category": "category VARCHAR(50) AFTER quantity",
    "updated_at": "updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP AFTER created_at",
}


@dataclass(frozen=True)
class ColumnSpec:
    """A column as information_schema describes it; None means "not checked"."""

    name: str
    data_type: str
    length: int | None = None  # CHARACTER_MAXIMUM_LENGTH
    precision: int | None = None  # NUMERIC_PRECISION (decimal only: int display widths differ by engine)
    scale: int | None = None
    nullable: bool | None = None  # timestamps: nullability depends on explicit_defaults_for_timestamp


LAB3_COLUMNS = (
    ColumnSpec("id", "int", nullable=False),
    ColumnSpec("name", "varchar", length=100, nullable=False),
    ColumnSpec("description", "text", nullable=True),
    ColumnSpec("price", "decimal", precision=10, scale=2, nullable=False),
    ColumnSpec("quantity", "int", nullable=True),
    ColumnSpec("category", "varchar", length=50, nullable=True),
    ColumnSpec("created_at", "timestamp"),
    ColumnSpec("updated_at", "timestamp"),
)

# What the lab's Lab 2.3 inserts: (name, price).
LAB_WIDGETS = (
    ("Widget A", Decimal("19.99")),
    ("Widget B", Decimal("29.99")),
    ("Gadget X", Decimal("49.99")),
)

# What the lab's main() inserts: (name, description, price, quantity, category).
LAB_PRODUCTS = (
    ("Laptop Pro", "High-performance laptop", Decimal("1299.99"), 10, "Electronics"),
    ("Wireless Mouse", "Ergonomic wireless mouse", Decimal("29.99"), 50, "Electronics"),
    ("Desk Chair", "Comfortable office chair", Decimal("249.99"), 15, "Furniture"),
    ("USB-C Hub", "Multi-port USB-C hub", Decimal("49.99"), 30, "Electronics"),
    ("Standing Desk", "Adjustable standing desk", Decimal("599.99"), 5, "Furniture"),
)
LAB_PRODUCT_NAMES = tuple(product[0] for product in LAB_PRODUCTS)
# main() then reads and updates product 1 and deletes product 5 by literal id, as if the
# table had been empty. After Lab 2.3's three widgets, id 1 is Widget A and id 5 is the
# second product main() inserted (Wireless Mouse).
LAB_UPDATED_ID = 1
LAB_UPDATE = {"price": Decimal("1199.99"), "quantity": 8}
LAB_SEARCH_CATEGORY = "Electronics"
LAB_DELETED_ID = 5



def later_prices(product_id: int) -> set[Decimal]:
    """Prices later lab steps give a product: Lab 5.3's cache demo sets product 1 to 1149.99."""
    from . import cache  # the cache app owns that number

    return {cache.LAB_NEW_PRICE} if product_id == cache.LAB_PRODUCT_ID else set()


UPDATABLE_COLUMNS = frozenset(("name", "description", "price", "quantity", "category"))

ConnectionFactory = Callable[[], object]


class ProductRepository:
    """CRUD on the products table, as in the lab's app.py (see the module docstring)."""

    def __init__(self, source: MysqlEndpoint | ConnectionFactory):
        self._connect = source.connect if isinstance(source, MysqlEndpoint) else source
        self.connection = None

    def connect(self) -> "ProductRepository":
        if self.connection is None:
            self.connection = self._connect()
        return self

    def disconnect(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def __enter__(self) -> "ProductRepository":
        return self.connect()

    def __exit__(self, *exc_info) -> None:
        self.disconnect()

    def _cursor(self):
        import pymysql.cursors

        if self.connection is None:
            raise RuntimeError("ProductRepository is not connected; call connect() first")
        return self.connection.cursor(pymysql.cursors.DictCursor)

    def create_table(self) -> None:
        with self._cursor() as cursor:
            cursor.execute(CREATE_TABLE_SQL)
        self.connection.commit()

    def create(self, name, description, price, quantity, category) -> int:
        with self._cursor() as cursor:
            cursor.execute(
                "INSERT INTO products (name, description, price, quantity, category) VALUES (%s, %s, %s, %s, %s)",
                (name, description, price, quantity, category),
            )
            product_id = cursor.lastrowid
        self.connection.commit()
        return product_id

    def read(self, product_id: int) -> dict | None:
        with self._cursor() as cursor:
            cursor.execute("SELECT * FROM products WHERE id = %s", (product_id,))
            return cursor.fetchone()

    def read_all(self) -> list[dict]:
        with self._cursor() as cursor:
            cursor.execute("SELECT * FROM products ORDER BY created_at DESC, id DESC")
            return list(cursor.fetchall())

    def update(self, product_id: int, **fields) -> int:
        if not fields:
            raise ValueError("update needs at least one column to set")
        unknown = sorted(set(fields) - UPDATABLE_COLUMNS)
        if unknown:
            raise ValueError(f"cannot update {unknown}: products columns that can be set are {sorted(UPDATABLE_COLUMNS)}")
        names = sorted(fields)  # only whitelisted names reach the SQL text
        assignments = ", ".join(f"{name} = %s" for name in names)
        with self._cursor() as cursor:
            cursor.execute(f"UPDATE products SET {assignments} WHERE id = %s",
                           [fields[name] for name in names] + [product_id])
            changed = cursor.rowcount
        self.connection.commit()
        return changed

    def delete(self, product_id: int) -> int:
        with self._cursor() as cursor:
            cursor.execute("DELETE FROM products WHERE id = %s", (product_id,))
            deleted = cursor.rowcount
        self.connection.commit()
        return deleted

    def search_by_category(self, category: str) -> list[dict]:
        with self._cursor() as cursor:
            cursor.execute("SELECT * FROM products WHERE category = %s ORDER BY id", (category,))
            return list(cursor.fetchall())


@dataclass(frozen=True)
class AppRun:
    """What the lab's main() did, step by step."""

    created_ids: tuple[int, ...]  # in LAB_PRODUCTS order
    listed: int  # rows read_all returned after the inserts
    product_before_update: dict | None  # read(1) before the update (the lab prints it if present)
    update_rowcount: int
    product_after_update: dict
    category_matches: tuple[str, ...]  # names search_by_category("Electronics") returned
    deleted: int  # rows delete(5) removed
    remaining: int  # rows read_all returned at the end


def run_lab_app(source: MysqlEndpoint | ConnectionFactory, echo: Callable[[str], None] | None = None) -> AppRun:
    """Replay the lab's main() against the products table; raise on the first error.

    Each call inserts the five products again, as the lab's main() does: callers that must
    stay idempotent decide whether to call it (provisioning.products_table skips a second run).
    `echo` receives the lines the lab prints, when given.
    """
    say = echo or (lambda line: None)
    with ProductRepository(source) as repo:
        repo.create_table()
        created = []
        for name, description, price, quantity, category in LAB_PRODUCTS:
            product_id = repo.create(name, description, price, quantity, category)
            say(f"  Created: {name} (ID: {product_id})")
            created.append(product_id)
        listed = repo.read_all()
        for p in listed:
            say(f"  [{p['id']}] {p['name']}: ${p['price']} ({p['quantity']} in stock)")
        before = repo.read(LAB_UPDATED_ID)
        if before:
            say(f"Product {LAB_UPDATED_ID}: {before['name']}")
        changed = repo.update(LAB_UPDATED_ID, **LAB_UPDATE)
        after = repo.read(LAB_UPDATED_ID)
        if after is None:  # the lab's main() dies here with a TypeError it then swallows
            raise LookupError(f"product {LAB_UPDATED_ID} does not exist, so the lab's update of it changed nothing")
        say(f"  New price: ${after['price']}")
        say(f"  New quantity: {after['quantity']}")
        matches = tuple(p["name"] for p in repo.search_by_category(LAB_SEARCH_CATEGORY))
        deleted = repo.delete(LAB_DELETED_ID)
        say(f"  Deleted {deleted} product(s)")
        remaining = len(repo.read_all())
        say(f"Total products remaining: {remaining}")
    return AppRun(tuple(created), len(listed), before, changed, after, matches, deleted, remaining)


@dataclass(frozen=True)
class ExpectedRow:
    id: int
    name: str
    price: Decimal
    quantity: int | None


def expected_end_state() -> tuple[ExpectedRow, ...]:
    """The products table after the suite's 2.3 (three widgets) and one run of the lab's main().

    Derived by replaying the lab's sequence on ids assigned 1, 2, 3, ...: widgets first, then
    the five products; product 1 gets LAB_UPDATE; product 5 is deleted. Widgets have no
    quantity column in Lab 2.3, so they keep Lab 3's default 0.
    """
    rows = [ExpectedRow(i, name, price, 0) for i, (name, price) in enumerate(LAB_WIDGETS, start=1)]
    rows += [ExpectedRow(len(LAB_WIDGETS) + i, name, price, quantity)
             for i, (name, _description, price, quantity, _category) in enumerate(LAB_PRODUCTS, start=1)]
    rows = [ExpectedRow(r.id, r.name, LAB_UPDATE["price"], LAB_UPDATE["quantity"]) if r.id == LAB_UPDATED_ID else r
            for r in rows]
    return tuple(r for r in rows if r.id != LAB_DELETED_ID)

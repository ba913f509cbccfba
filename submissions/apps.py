"""A submission's apps, presented to the checks as the suite's reference apps are
(provisioning/apps/): the same constructors, the same methods, so the same checks judge them.

The lab's classes differ from the reference's in how they are built, not in what they do: they
keep their clients in module globals (`cache`, `table`, `DB_CONFIG`) and are used through static
methods, where the reference takes its clients as arguments. The facades here take the
reference's arguments and drop what the sandbox binds itself (the student's module reaches the
same stand-ins the check's client does); what the check needs of its own (a connection for its
own SQL, the table to clean up after itself, the reference's order builder) stays with the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from provisioning.naming import APP_FILES

from .sandbox import Bindings, Sandbox

# The classes the checks use, by the lab's file (provisioning/naming.py: APP_FILES).
CLASSES = {"app.py": ("ProductRepository",), "dynamodb_app.py": ("OrderRepository",),
           "cache_app.py": ("CachedProductRepository", "SessionStore", "RateLimiter", "Leaderboard")}


assert set(CLASSES) == set(APP_FILES.values())


class SubmittedCacheApp:
    """cache_app.py: the 5.3 checks' `cache_app` (provisioning/apps/cache.py's classes)."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    def CachedProductRepository(self, cache, connect, *args, **kwargs):  # noqa: N802 (the class's name)
        # The check counts database reads on its connection factory (cache-aside): the student's
        # connections are counted in the sandbox and added to it.
        def counted(n: int) -> None:
            if hasattr(connect, "calls"):
                connect.calls += n
        return self.sandbox.new("CachedProductRepository", on_connects=counted)

    def SessionStore(self, cache, *args, **kwargs):  # noqa: N802
        return self.sandbox.new("SessionStore")

    def RateLimiter(self, cache, *args, **kwargs):  # noqa: N802
        return self.sandbox.new("RateLimiter")

    def Leaderboard(self, cache, key: str | None = None):  # noqa: N802
        # The lab's board lives under the class's LEADERBOARD_KEY: the check's own key replaces it.
        return self.sandbox.new("Leaderboard", attrs={"LEADERBOARD_KEY": key} if key else None)


class SubmittedProductRepository:
    """app.py's ProductRepository as the 3.1 checks use the reference one: a context manager that
    connects and disconnects, and `connection`, the check's own connection for its own SQL."""

    def __init__(self, sandbox: Sandbox, endpoint):
        self.sandbox, self.endpoint = sandbox, endpoint
        self.remote = None
        self.connection = None

    def __enter__(self):
        self.connection = self.endpoint.connect()
        self.remote = self.sandbox.new("ProductRepository")
        self.remote.connect()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self.remote is not None:
                self.remote.disconnect()
        finally:
            if self.connection is not None:
                self.connection.close()

    def __getattr__(self, method: str):
        if method.startswith("_") or self.remote is None:
            raise AttributeError(method)
        return getattr(self.remote, method)


class SubmittedProductApp:
    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    def ProductRepository(self, endpoint):  # noqa: N802
        return SubmittedProductRepository(self.sandbox, endpoint)


class SubmittedOrderRepository:
    """dynamodb_app.py's OrderRepository as the 4.2 checks use the reference one. The student's
    methods are the lab's (create_order, get_customer_orders, get_orders_by_status, update_status,
    delete_order, batch_write_orders...); building an order to batch-write and counting after it
    are the check's own tools (the lab has no such methods), so they stay the reference's."""

    OWN = ("new_order", "count_orders")

    def __init__(self, sandbox: Sandbox, table, reference):
        self.table = table
        self.reference = reference
        self.remote = sandbox.new("OrderRepository")

    def __getattr__(self, method: str):
        if method in self.OWN:
            return getattr(self.reference, method)
        if method.startswith("_"):
            raise AttributeError(method)
        return getattr(self.remote, method)


class SubmittedOrderApp:
    def __init__(self, sandbox: Sandbox, own_table: Callable[[], object] | None = None):
        self.sandbox = sandbox
        self.own_table = own_table  # the submission's own orders table, when it has one

    def OrderRepository(self, table):  # noqa: N802
        from provisioning.apps.orders import OrderRepository

        # The check names the lab's table; the submission's code works on its own (the sandbox
        # maps the lab's table name onto it), and so do the check's own reads and clean-up.
        table = self.own_table() if self.own_table else table
        return SubmittedOrderRepository(self.sandbox, table, OrderRepository(table))


@dataclass
class Submission:
    """A student's files, each run in its own sandbox on first use; close() stops them all."""

    directory: Path
    bindings: Bindings
    workdir: Path
    orders_table: Callable[[], object] | None = None  # the submission's own orders table (a boto3 Table)

    def __post_init__(self):
        self.sandboxes = {name: Sandbox(self.directory / name, self.bindings, self.workdir / Path(name).stem)
                          for name in CLASSES}
        self.products = SubmittedProductApp(self.sandboxes["app.py"])
        self.orders = SubmittedOrderApp(self.sandboxes["dynamodb_app.py"], self.orders_table)
        self.cache = SubmittedCacheApp(self.sandboxes["cache_app.py"])

    def close(self) -> None:
        for sandbox in self.sandboxes.values():
            sandbox.close()

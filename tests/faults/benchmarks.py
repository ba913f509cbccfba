"""Faults of Lab 6: each benchmark's own failure paths. A benchmark must refuse to report numbers
that do not measure what they claim: a replica that never shows the row (2.3's fault, in
mysql.py, targets the read-after-write benchmark too), a cache that never hits or never expires
(5.3's, in cache.py, target the cache-aside benchmark), a concurrency result that miscounts,
and the product every benchmark reads missing.
"""

from __future__ import annotations

import importlib

from .dynamodb import FIRST, SECOND, _after_rebuild, _lab_order
from .model import MYSQL, fault
from .mysql import _on_a_copy

LAB6 = "suites.test_lab6_performance"


class _LossyPool:
    """A thread pool that loses the last worker's results, as a harness bug would."""

    def __init__(self, pool_class, *args, **kwargs):
        self._pool = pool_class(*args, **kwargs)

    def __enter__(self):
        self._pool.__enter__()
        return self

    def __exit__(self, *exc):
        return self._pool.__exit__(*exc)

    def map(self, function, items):
        return list(self._pool.map(function, items))[:-1]


@fault("6.1", "concurrent-results-lost", "the concurrency benchmark loses one thread's results",
       "test_concurrent_point_selects_10_threads_x_50", breaks="miscounts")
def concurrent_results_lost(fc):
    module = importlib.import_module(LAB6)
    pool_class = module.ThreadPoolExecutor
    fc.patch(module, "ThreadPoolExecutor", lambda *args, **kwargs: _LossyPool(pool_class, *args, **kwargs),
             system=MYSQL)


@fault("6.1", "product-1-missing", "product 1, which every benchmark reads, is missing",
       "test_point_select_by_primary_key", "test_redis_get_of_a_cached_product", "test_cache_aside_read_of_a_product",
       "test_concurrent_point_selects_10_threads_x_50",
       # ...and the 2.3 and 3.2 checks of the products the lab left, product 1 among them (3.2
       # counts main()'s own products only: Widget A is not one).
       "test_products_table_has_the_three_widgets", "test_product_1_has_the_lab_update",
       breaks=("no row id 1", "Widget A", "product 1"))
def product_1_missing(fc):
    _on_a_copy(fc, "DELETE FROM products WHERE id = 1")


def _customer_001_orders_deleted(fc, repo):
    for data in (FIRST, SECOND):
        repo.delete_order("CUST-001", _lab_order(fc, "CUST-001", data)["order_date"])


# The DynamoDB benchmarks read CUST-001's orders and the PENDING ones; so do 4.2's checks.
customer_001_without_orders = fault(
    "6.3", "customer-001-without-orders", "CUST-001, whose orders the DynamoDB benchmarks read, has none",
    "test_dynamodb_get_item_by_key", "test_dynamodb_status_index_query", "test_customer_001_has_the_labs_two_orders",
    "test_customer_001_totals_are_the_labs_decimals", "test_customer_001_first_order_is_shipped_with_updated_at",
    "test_pending_orders_are_found_through_status_index", breaks=("CUST-001", "no PENDING order"),
)(_after_rebuild(_customer_001_orders_deleted))


FAULTS = [concurrent_results_lost, product_1_missing, customer_001_without_orders]

"""Defects of Lab 5.3's cache_app.py and Lab 7.1, shown on the lab's own code next to the fix.

The Lab* classes below are the lab's code as printed, changed only to take their Redis client
and connection factory instead of module globals.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from decimal import Decimal

import pymysql
import pytest
import redis
from botocore.session import get_session

from provisioning.apps import cache
from provisioning.local.mariadb import start_mysql_pair
from provisioning.local.redis_server import start_redis_pair
from provisioning.polling import wait_until
from provisioning.passwords import generate_password

# The lab's code uses SETEX, which redis-py 8 marks deprecated (SET with ex= replaces it).
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")

CONCURRENT = 50
LIMIT = 10


class LabRateLimiter:
    """Lab 5.3's RateLimiter: GET, then SETEX or INCR in separate calls (erratum 2)."""

    def __init__(self, cache):
        self.cache = cache

    def is_allowed(self, user_id, max_requests=10, window_seconds=60):
        key = f"ratelimit:{user_id}"
        current = self.cache.get(key)
        if current is None:
            self.cache.setex(key, window_seconds, 1)
            return True, max_requests - 1
        current = int(current)
        if current >= max_requests:
            ttl = self.cache.ttl(key)
            return False, ttl
        self.cache.incr(key)
        return True, max_requests - current - 1


class LabCachedProductRepository:
    """Lab 5.3's CachedProductRepository (get_product, get_all_products, update_product)."""

    CACHE_TTL = 300

    def __init__(self, cache, get_db_connection):
        self.cache = cache
        self.get_db_connection = get_db_connection

    def get_product(self, product_id):
        cache_key = f"product:{product_id}"
        cached = self.cache.get(cache_key)
        if cached:
            return json.loads(cached)
        conn = self.get_db_connection()
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT * FROM products WHERE id = %s", (product_id,))
                product = cursor.fetchone()
            if product:
                product['price'] = float(product['price'])
                product['created_at'] = str(product['created_at'])
                product['updated_at'] = str(product['updated_at'])
                self.cache.setex(cache_key, self.CACHE_TTL, json.dumps(product))
            return product
        finally:
            conn.close()

    def update_product(self, product_id, **kwargs):
        conn = self.get_db_connection()
        try:
            with conn.cursor() as cursor:
                fields = ', '.join([f"{k} = %s" for k in kwargs.keys()])
                values = list(kwargs.values()) + [product_id]
                cursor.execute(f"UPDATE products SET {fields} WHERE id = %s", values)
            conn.commit()
            self.cache.delete(f"product:{product_id}")
            return True
        finally:
            conn.close()

    def get_all_products(self):
        cache_key = "products:all"
        cached = self.cache.get(cache_key)
        if cached:
            return json.loads(cached)
        conn = self.get_db_connection()
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT * FROM products")
                products = cursor.fetchall()
            for p in products:
                p['price'] = float(p['price'])
                p['created_at'] = str(p['created_at'])
                p['updated_at'] = str(p['updated_at'])
            self.cache.setex(cache_key, self.CACHE_TTL, json.dumps(products))
            return products
        finally:
            conn.close()


def lab_create_session(client, user_id, user_data) -> str:
    """Lab 5.3's SessionStore.create_session."""
    import time
    import uuid

    session_id = str(uuid.uuid4())
    session_data = {'user_id': user_id, 'created_at': time.time(), **user_data}
    client.setex(f"session:{session_id}", 3600, json.dumps(session_data))
    return session_id


# --- servers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def redis_pair(tmp_path_factory):
    pair = start_redis_pair(tmp_path_factory.mktemp("errata-redis"))
    yield pair
    pair.stop()


@pytest.fixture
def client(redis_pair):
    with redis_pair.primary.connect(max_connections=CONCURRENT + 10) as client:
        client.flushall()
        yield client


@pytest.fixture(scope="module")
def mysql_pair(tmp_path_factory):
    pair = start_mysql_pair(tmp_path_factory.mktemp("errata-mysql"), generate_password())
    yield pair
    pair.stop()


def _dict_connect(endpoint):
    return lambda: endpoint.connect(cursorclass=pymysql.cursors.DictCursor)


@pytest.fixture
def products(mysql_pair):
    """A fresh products table; the test says which schema. Returns (create, connect)."""
    connect = _dict_connect(mysql_pair.primary)

    def create(sql: str, rows: list[tuple[str, Decimal]]):
        with closing(connect()) as connection, connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS products")
            cursor.execute(sql)
            cursor.executemany("INSERT INTO products (name, price) VALUES (%s, %s)", rows)

    return create, connect


LAB_2_3_TABLE = """CREATE TABLE products (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL,
    price DECIMAL(10,2) NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"""
LAB_3_TABLE = """CREATE TABLE products (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL,
    description TEXT, price DECIMAL(10,2) NOT NULL, quantity INT DEFAULT 0, category VARCHAR(50),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)"""
WIDGETS = [("Widget A", Decimal("19.99")), ("Widget B", Decimal("29.99"))]


# --- erratum 2: the rate limiter's race --------------------------------------------------------

def allowed_of_concurrent(limiter, user: str) -> int:
    start = threading.Barrier(CONCURRENT)

    def request(_):
        start.wait(timeout=30)
        return limiter.is_allowed(user, max_requests=LIMIT, window_seconds=60)[0]

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        return sum(pool.map(request, range(CONCURRENT)))


def test_lab_rate_limiter_lets_more_than_the_limit_through_concurrently(client):
    allowed = allowed_of_concurrent(LabRateLimiter(client), "lab")
    assert allowed > LIMIT, f"the lab's limiter allowed {allowed} of {CONCURRENT}: the race did not show this time"


def test_fixed_rate_limiter_allows_exactly_the_limit_concurrently(client):
    for attempt in range(3):
        assert allowed_of_concurrent(cache.RateLimiter(client), f"fixed-{attempt}") == LIMIT


class _ExpiresAfterGet:
    """A client whose key expires right after a GET read it: the timing a busy server gives
    now and then (a window ending between two calls), made certain."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def get(self, key):
        value = self._client.get(key)
        self._client.pexpire(key, 1)
        wait_until(lambda: not self._client.exists(key), timeout=2, what=f"{key} expired")
        return value


def test_lab_rate_limiter_leaves_a_counter_without_expiry_when_the_window_ends_mid_request(client):
    client.setex("ratelimit:u", 60, 3)
    LabRateLimiter(_ExpiresAfterGet(client)).is_allowed("u", max_requests=5, window_seconds=60)
    assert client.ttl("ratelimit:u") == -1  # INCR re-created it without expiry: blocked for good at 5


def test_fixed_rate_limiter_gives_a_counter_without_expiry_its_window_back(client):
    client.set("ratelimit:u", 7)  # what the lab's version can leave behind
    allowed, retry_after = cache.RateLimiter(client).is_allowed("u", max_requests=5, window_seconds=60)
    assert (allowed, retry_after) == (False, 60)
    assert 0 < client.ttl("ratelimit:u") <= 60


def test_fixed_rate_limiter_never_reports_a_zero_retry_after(client):
    limiter = cache.RateLimiter(client)
    limiter.is_allowed("u", max_requests=1, window_seconds=60)
    client.pexpire("ratelimit:u", 300)  # 0.3 s left: TTL would say 0
    assert limiter.is_allowed("u", max_requests=1, window_seconds=60) == (False, 1)


# --- erratum 1: the cache code names columns the Lab 2.3 table does not have ----------------------

def test_lab_cache_code_raises_keyerror_updated_at_on_the_lab_2_3_table(client, products):
    create, connect = products
    create(LAB_2_3_TABLE, WIDGETS)
    with pytest.raises(KeyError, match="updated_at"):
        LabCachedProductRepository(client, connect).get_product(1)


@pytest.mark.parametrize("schema", [LAB_2_3_TABLE, LAB_3_TABLE], ids=["lab-2.3-table", "lab-3-table"])
def test_reference_caches_rows_of_either_schema(client, products, schema):
    create, connect = products
    create(schema, WIDGETS)
    repository = cache.CachedProductRepository(client, connect)
    first = repository.get_product(1)
    assert repository.get_product(1) == first
    assert (first["name"], first["price"], repository.hits, repository.misses) == ("Widget A", 19.99, 1, 1)
    assert isinstance(first["created_at"], str)


def test_reference_serialises_any_decimal_and_time_column():
    import datetime

    row = {"a": Decimal("0.10"), "b": Decimal("12345678901234567890.12"), "c": datetime.date(2024, 1, 2),
           "d": datetime.timedelta(hours=1), "e": b"raw"}
    assert json.loads(cache.serialise_row(row)) == {"a": 0.1, "b": "12345678901234567890.12", "c": "2024-01-02",
                                                    "d": "1:00:00", "e": "raw"}


# --- found while implementing 5.3 ------------------------------------------------------------------

def test_lab_update_leaves_the_cached_product_list_stale(client, products):
    create, connect = products
    create(LAB_3_TABLE, WIDGETS)
    repository = LabCachedProductRepository(client, connect)
    repository.get_all_products()
    repository.update_product(1, price=Decimal("1.00"))
    assert repository.get_all_products()[0]["price"] == 19.99  # stale for up to five minutes


def test_reference_update_refreshes_the_cached_product_list(client, products):
    create, connect = products
    create(LAB_3_TABLE, WIDGETS)
    repository = cache.CachedProductRepository(client, connect)
    repository.get_all_products()
    repository.update_product(1, price=Decimal("1.00"))
    assert repository.get_all_products()[0]["price"] == 1.0


def test_reference_update_refuses_column_names_that_are_not_identifiers(client, products):
    create, connect = products
    create(LAB_3_TABLE, WIDGETS)
    with pytest.raises(ValueError, match="cannot update"):
        cache.CachedProductRepository(client, connect).update_product(1, **{"price = 0, name": "x"})


def test_lab_session_lets_user_data_overwrite_the_user_id(client):
    session_id = lab_create_session(client, "user123", {"user_id": "admin"})
    assert json.loads(client.get(f"session:{session_id}"))["user_id"] == "admin"


def test_reference_session_keeps_the_user_id(client):
    store = cache.SessionStore(client)
    session_id = store.create_session("user123", {"user_id": "admin"})
    assert store.get_session(session_id)["user_id"] == "user123"


# --- erratum 4: Lab 7.1's --no-final-snapshot -----------------------------------------------------

def test_delete_replication_group_has_no_final_snapshot_switch():
    # The CLI turns each input member into --kebab-case (booleans also --no-...): none is "final-snapshot".
    members = get_session().get_service_model("elasticache").operation_model("DeleteReplicationGroup").input_shape.members
    assert "FinalSnapshot" not in members and "NoFinalSnapshot" not in members
    assert "FinalSnapshotIdentifier" in members  # a snapshot is taken only when this is given


# --- Lab 5.3's main() lists keys with KEYS * -------------------------------------------------------

@pytest.fixture
def keys_refused(redis_pair, client):
    """A user for whom KEYS is refused, as hardened servers and many managed Redis setups do
    (KEYS walks every key while the server serves nobody else)."""
    password = generate_password()
    client.acl_setuser("nokeys", enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all", "-keys"])
    endpoint = redis_pair.primary
    with redis.Redis(host=endpoint.host, port=endpoint.port, username="nokeys", password=str(password),
                     decode_responses=True) as limited:
        yield limited
    client.acl_deluser("nokeys")


def test_lab_main_key_listing_fails_where_keys_is_refused(client, keys_refused):
    client.set("product:1", "{}", ex=300)
    with pytest.raises(redis.exceptions.NoPermissionError):
        keys_refused.keys("*")  # Lab 5.3 main(): `for key in cache.keys('*')`


def test_reference_lists_keys_with_scan(client, keys_refused):
    client.set("product:1", "{}", ex=300)
    assert cache.key_ttls(keys_refused) == {"product:1": 300}


# --- Lab 6.2's benchmark_cache overwrites the app's cached product 1 -----------------------------------

def lab_benchmark_cache(r, iterations=10):
    """Lab 6.2's benchmark_cache, verbatim but for the client it is given."""
    r.set('product:1', json.dumps({'id': 1, 'name': 'Test', 'price': 99.99}))
    for _ in range(iterations):
        json.loads(r.get('product:1'))


def test_lab_benchmark_replaces_the_cached_product_for_good(client, products):
    create, connect = products
    create(LAB_3_TABLE, WIDGETS)
    repository = cache.CachedProductRepository(client, connect)
    repository.get_product(1)  # the app caches Widget A for five minutes
    lab_benchmark_cache(client)
    assert client.ttl("product:1") == -1
    assert repository.get_product(1)["name"] == "Test"  # the app now serves the benchmark's product, forever


def test_reference_benchmarks_write_keys_of_their_own_that_expire():
    # The suite's cache benchmarks (suites/test_lab6_performance.py) use keys named for them,
    # with a TTL, and delete them: the app's product:<id> keys are never touched.
    from suites import test_lab6_performance as lab6

    assert lab6.bench_token("get").startswith("dblab-bench-") and 0 < lab6.BENCH_KEY_TTL <= 300

"""Lab 5.3's cache application (cache_app.py), with the lab's defects fixed.

What differs from the lab's cache_app.py, and why:
- Every class takes its Redis client (and the repository a MySQL connection factory) instead
  of module globals built from a DB_CONFIG holding the master password.
- Rows are serialised generically (any Decimal, date, time or bytes column), not by naming
  price/created_at/updated_at: on the Lab 2.3 table, which has no updated_at, the lab's code
  raises KeyError 'updated_at' (erratum 1).
- A cached value counts as a hit when it exists (`is not None`), not when it is truthy.
- `update_product` also invalidates `products:all`: the lab deletes only `product:<id>`, so
  the list kept the old price for up to five minutes. Column names are checked to be plain
  identifiers before they reach the SQL text (the lab formats any keyword into it).
- `RateLimiter.is_allowed` counts and sets the window's expiry in one MULTI/EXEC (INCR, then
  EXPIRE NX): the lab reads, then increments in separate calls, so concurrent requests all
  read the same count and pass (erratum 2: 23-50 of 50 got through a limit of 10), and a key
  that expires between its GET and INCR is re-created without expiry, blocking that user for
  good. The retry-after is rounded up from PTTL, so it is never 0 or negative.
- `SessionStore.create_session` stores the caller's data first, so user data cannot overwrite
  user_id or created_at (the lab spreads it last).
- `Leaderboard.get_rank` is 1-based, as the lab's code (not its docstring) returns.
- `run_lab_app` lists keys with SCAN, not KEYS (KEYS blocks a production Redis), and raises on
  the first error instead of printing and carrying on.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from ..dataplane import MysqlEndpoint

ConnectionFactory = Callable[[], object]

PRODUCT_KEY_PREFIX = "product:"
ALL_PRODUCTS_KEY = "products:all"
SESSION_KEY_PREFIX = "session:"
RATE_LIMIT_KEY_PREFIX = "ratelimit:"
LEADERBOARD_KEY = "leaderboard:game1"
# Key patterns of what the app caches with an expiry (the leaderboard is kept on purpose).
EXPIRING_KEY_PATTERNS = (f"{PRODUCT_KEY_PREFIX}*", ALL_PRODUCTS_KEY, f"{SESSION_KEY_PREFIX}*", f"{RATE_LIMIT_KEY_PREFIX}*")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _json_default(value):
    if isinstance(value, Decimal):
        # A number, as the lab's float(); kept as text only where a float would change it.
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time, datetime.timedelta)):
        return str(value)  # the lab's str(): '2024-01-01 12:00:00'
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def serialise_row(row) -> str:
    """JSON for a row (or list of rows) whatever its columns are."""
    return json.dumps(row, default=_json_default)


class CachedProductRepository:
    """Cache-aside reads of the products table; updates invalidate what they change."""

    CACHE_TTL = 300  # 5 minutes

    def __init__(self, cache, connect: ConnectionFactory, ttl: int = CACHE_TTL,
                 key_prefix: str = PRODUCT_KEY_PREFIX, all_key: str = ALL_PRODUCTS_KEY):
        self.cache = cache
        self._connect = connect
        self.ttl = ttl
        self.key_prefix = key_prefix
        self.all_key = all_key
        self.hits = 0
        self.misses = 0

    def key(self, product_id) -> str:
        return f"{self.key_prefix}{product_id}"

    def _query(self, sql: str, params=()) -> list[dict]:
        import pymysql.cursors

        connection = self._connect()
        try:
            with connection.cursor(pymysql.cursors.DictCursor) as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def _cached(self, key: str):
        cached = self.cache.get(key)
        if cached is not None:
            self.hits += 1
            return True, json.loads(cached)
        self.misses += 1
        return False, None

    def get_product(self, product_id) -> dict | None:
        key = self.key(product_id)
        hit, value = self._cached(key)
        if hit:
            return value
        rows = self._query("SELECT * FROM products WHERE id = %s", (product_id,))
        if not rows:
            return None  # not cached: a product created later must be seen at once
        payload = serialise_row(rows[0])
        self.cache.set(key, payload, ex=self.ttl)
        return json.loads(payload)  # the same shape a hit returns

    def get_all_products(self) -> list[dict]:
        hit, value = self._cached(self.all_key)
        if hit:
            return value
        payload = serialise_row(self._query("SELECT * FROM products ORDER BY id"))
        self.cache.set(self.all_key, payload, ex=self.ttl)
        return json.loads(payload)

    def update_product(self, product_id, **changes) -> int:
        """Update the row, then drop every cached copy of it; returns the rows MySQL changed."""
        if not changes:
            raise ValueError("update_product needs at least one column to set")
        bad = sorted(name for name in changes if not _IDENTIFIER.match(name) or name == "id")
        if bad:
            raise ValueError(f"cannot update column(s) {bad}")
        names = sorted(changes)
        assignments = ", ".join(f"`{name}` = %s" for name in names)
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE products SET {assignments} WHERE id = %s",
                               [changes[name] for name in names] + [product_id])
                changed = cursor.rowcount
            connection.commit()
        finally:
            connection.close()
        # After the commit: a reader between the two would otherwise re-cache the old row.
        self.cache.delete(self.key(product_id), self.all_key)
        return changed


class SessionStore:
    SESSION_TTL = 3600  # 1 hour

    def __init__(self, cache, ttl: int = SESSION_TTL, key_prefix: str = SESSION_KEY_PREFIX):
        self.cache = cache
        self.ttl = ttl
        self.key_prefix = key_prefix

    def key(self, session_id: str) -> str:
        return f"{self.key_prefix}{session_id}"

    def create_session(self, user_id, user_data: dict) -> str:
        session_id = str(uuid.uuid4())
        data = {**user_data, "user_id": user_id, "created_at": time.time()}
        self.cache.set(self.key(session_id), json.dumps(data), ex=self.ttl)
        return session_id

    def get_session(self, session_id: str) -> dict | None:
        data = self.cache.get(self.key(session_id))
        return json.loads(data) if data is not None else None

    def delete_session(self, session_id: str) -> bool:
        return bool(self.cache.delete(self.key(session_id)))

    def extend_session(self, session_id: str) -> bool:
        """Reset the session's TTL to the full hour; False when it no longer exists."""
        return bool(self.cache.expire(self.key(session_id), self.ttl))


class RateLimiter:
    """Fixed-window rate limiting: at most max_requests per window_seconds per user."""

    def __init__(self, cache, key_prefix: str = RATE_LIMIT_KEY_PREFIX):
        self.cache = cache
        self.key_prefix = key_prefix

    def key(self, user_id) -> str:
        return f"{self.key_prefix}{user_id}"

    def is_allowed(self, user_id, max_requests: int = 10, window_seconds: int = 60) -> tuple[bool, int]:
        """(True, requests left in this window) or (False, seconds until the window ends)."""
        key = self.key(user_id)
        pipe = self.cache.pipeline(transaction=True)
        pipe.incr(key)
        # NX: only the first request of a window sets the expiry (and a key somehow left
        # without one gets it back instead of blocking its user forever).
        pipe.expire(key, window_seconds, nx=True)
        pipe.pttl(key)
        count, _, pttl = pipe.execute()
        if count <= max_requests:
            return True, max_requests - count
        return False, max(1, math.ceil(pttl / 1000))


class Leaderboard:
    def __init__(self, cache, key: str = LEADERBOARD_KEY):
        self.cache = cache
        self.key = key

    def add_score(self, player_id: str, score: float) -> None:
        self.cache.zadd(self.key, {player_id: score})

    def increment_score(self, player_id: str, points: float) -> float:
        return self.cache.zincrby(self.key, points, player_id)

    def get_rank(self, player_id: str) -> int | None:
        """1 for the highest score; None for an unknown player."""
        rank = self.cache.zrevrank(self.key, player_id)
        return rank + 1 if rank is not None else None

    def get_score(self, player_id: str) -> float | None:
        return self.cache.zscore(self.key, player_id)

    def get_top(self, n: int = 10) -> list[tuple[str, float]]:
        return self.cache.zrevrange(self.key, 0, n - 1, withscores=True)


# What the lab's main() does, as data.
LAB_PRODUCT_ID = 1
LAB_NEW_PRICE = Decimal("1149.99")
LAB_SESSION_USER = "user123"
LAB_SESSION_DATA = {"username": "john_doe", "email": "john@example.com", "role": "admin"}
LAB_RATE_LIMITED_USER = "user456"
LAB_RATE_LIMIT = 5
LAB_RATE_WINDOW = 60
LAB_RATE_REQUESTS = 7
LAB_SCORES = (("player1", 1500), ("player2", 2300), ("player3", 1800), ("player4", 2100), ("player5", 1950))
LAB_BONUS = ("player1", 1000)


def lab_final_standings() -> list[tuple[str, float]]:
    """The leaderboard after main(): player1's bonus takes it to the top."""
    scores = dict(LAB_SCORES)
    scores[LAB_BONUS[0]] += LAB_BONUS[1]
    return sorted(((player, float(score)) for player, score in scores.items()), key=lambda item: -item[1])


@dataclass(frozen=True)
class CacheAppRun:
    """What the lab's main() saw, step by step."""

    first_read_hit: bool
    second_read_hit: bool
    price_after_update: object
    read_after_update_hit: bool
    session_id: str
    session_extended: bool
    rate_limit: tuple[tuple[bool, int], ...]  # (allowed, remaining or retry-after) per request
    top_before_bonus: tuple[tuple[str, float], ...]
    bonus_score: float
    bonus_rank: int | None
    top_after_bonus: tuple[tuple[str, float], ...]
    key_ttls: dict  # every key the scan found -> TTL in seconds (-1: no expiry)


def key_ttls(cache, pattern: str = "*") -> dict[str, int]:
    return {key: cache.ttl(key) for key in cache.scan_iter(match=pattern, count=500)}


def run_lab_app(mysql: MysqlEndpoint | ConnectionFactory, redis_client,
                log: Callable[[str], None] | None = None) -> CacheAppRun:
    """Replay the lab's main() against a products table and a Redis primary.

    `log` receives the lines the lab prints (never a password: the session holds the lab's
    made-up user data only).
    """
    say = log or (lambda line: None)
    connect = mysql.connect if isinstance(mysql, MysqlEndpoint) else mysql

    # 1. cache-aside reads, an update, and the read after it
    products = CachedProductRepository(redis_client, connect)
    hits = products.hits
    product = products.get_product(LAB_PRODUCT_ID)
    if product is None:
        raise LookupError(f"products has no row {LAB_PRODUCT_ID}: Lab 3.2 must run before Lab 5.3")
    first_hit = products.hits > hits
    say(f"  [{'CACHE HIT' if first_hit else 'CACHE MISS'}] {products.key(LAB_PRODUCT_ID)}: "
        f"{product['name']} - ${product['price']}")
    hits = products.hits
    products.get_product(LAB_PRODUCT_ID)
    second_hit = products.hits > hits
    say(f"  [{'CACHE HIT' if second_hit else 'CACHE MISS'}] {products.key(LAB_PRODUCT_ID)}")
    products.update_product(LAB_PRODUCT_ID, price=LAB_NEW_PRICE)
    say(f"  [CACHE INVALIDATED] {products.key(LAB_PRODUCT_ID)}")
    hits = products.hits
    product = products.get_product(LAB_PRODUCT_ID)
    after_hit = products.hits > hits
    say(f"  New price: ${product['price']}")

    # 2. a session
    sessions = SessionStore(redis_client)
    session_id = sessions.create_session(LAB_SESSION_USER, LAB_SESSION_DATA)
    say(f"Created session: {session_id[:8]}...")
    extended = sessions.extend_session(session_id)

    # 3. rate limiting: 5 per minute, 7 requests
    limiter = RateLimiter(redis_client)
    decisions = []
    for number in range(1, LAB_RATE_REQUESTS + 1):
        allowed, value = limiter.is_allowed(LAB_RATE_LIMITED_USER, max_requests=LAB_RATE_LIMIT,
                                            window_seconds=LAB_RATE_WINDOW)
        decisions.append((allowed, value))
        say(f"  Request {number}: " + (f"ALLOWED ({value} remaining)" if allowed else f"BLOCKED (retry in {value}s)"))

    # 4. the leaderboard
    board = Leaderboard(redis_client)
    for player, score in LAB_SCORES:
        board.add_score(player, score)
    before = tuple(board.get_top(5))
    player, points = LAB_BONUS
    bonus_score = board.increment_score(player, points)
    bonus_rank = board.get_rank(player)
    say(f"  {player} earned {points} points: new score {int(bonus_score)}, rank {bonus_rank}")
    after = tuple(board.get_top(5))
    for rank, (name, score) in enumerate(after, 1):
        say(f"  {rank}. {name}: {int(score)} points")

    # 5. statistics, with SCAN instead of KEYS
    ttls = key_ttls(redis_client)
    say(f"Total keys: {len(ttls)}")
    return CacheAppRun(first_hit, second_hit, product["price"], after_hit, session_id, extended,
                       tuple(decisions), before, bonus_score, bonus_rank, after, ttls)

"""Lab 5.3, the caching patterns of the lab's cache app.

First what the lab's app run left (read-only: its keys expire, the leaderboard on the primary and
the replica), then the patterns themselves: the checks marked writes_data run them on keys of
their own (scratch names: provisioning/naming.py) and a product row of their own, and remove them.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import redis

from fixtures.checks import eventually
from fixtures.scratch_data import CountingConnect, own_product, redis_keys
from provisioning import naming
from provisioning.apps import cache
from provisioning.dataplane import REDIS_REPLICA
from provisioning.polling import DeadlineExceeded, wait_until

GROUP = naming.REPLICATION_GROUP
log = logging.getLogger("dblab")
CONCURRENT_REQUESTS = 50
CONCURRENT_LIMIT = 10
# Redis drops an expired key on the next access, so a 1 s window has ended well within this;
# not lab.timeout, which is sized for AWS convergence (up to 30 minutes on RDS). Nor the grade's
# convergence window: the limiter's own 1 s must pass whatever the run did before (and, a
# writes_data check, it never runs when grading).
WINDOW_RESET_DEADLINE = 5.0


@pytest.fixture
def cache_app(lab_apps):
    """The caching patterns the writes_data checks exercise: the suite's reference classes, or
    the student's with --lab-student-code (fixtures/apps.py). The suite's own tests pass faulty
    ones to prove each check can fail."""
    return lab_apps.cache


# --- 5.3 what the lab's app run left (read-only) -------------------------------------------------

def _keys_without_expiry(lab, patterns, excused=lambda client, key: False) -> tuple[list[str], list[str]]:
    """The keys matching `patterns` that never expire: (counted, excused)."""
    with lab.redis() as client:
        # SCAN, not KEYS: KEYS blocks a production Redis while it walks every key.
        keys = {key for pattern in patterns for key in client.scan_iter(match=pattern, count=1000)}
        forever = sorted(key for key in keys if client.ttl(key) == -1)  # -2: expired meanwhile
        spared = [key for key in forever if excused(client, key)]
        return [key for key in forever if key not in spared], spared


# Lab 6.2's benchmark_cache (the lab's own code, run after 5.3) primes the cache with exactly
# this, with a plain SET: no TTL (erratum 22). That key is the lab's trace, not the student's
# cache code, so the check does not count it (the rubric's note on the check says so).
LAB_6_2_KEY = f"{cache.PRODUCT_KEY_PREFIX}1"
LAB_6_2_VALUE = {"id": 1, "name": "Test", "price": 99.99}


def written_by_lab_6_2(client, key: str) -> bool:
    if key != LAB_6_2_KEY:
        return False
    try:
        return json.loads(client.get(key) or "null") == LAB_6_2_VALUE
    except (ValueError, redis.exceptions.ResponseError):  # not JSON, or not a string: not the benchmark's value
        return False


@pytest.mark.step("5.3")
def test_app_product_cache_keys_expire(lab):
    patterns = (f"{cache.PRODUCT_KEY_PREFIX}*", cache.ALL_PRODUCTS_KEY)
    forever, spared = _keys_without_expiry(lab, patterns, excused=written_by_lab_6_2)
    if spared:
        log.info("%s: not counted: %s holds Lab 6.2's benchmark product, set without a TTL by the lab's own "
                 "benchmark_cache (erratum 22)", GROUP, LAB_6_2_KEY)
    assert not forever, (
        f"replication group {GROUP}: product cache keys without a TTL: {forever[:10]}"
        + (f" ({LAB_6_2_KEY} is not counted: it holds Lab 6.2's benchmark product, which the lab's own "
           "benchmark_cache sets without a TTL)" if spared else ""))


@pytest.mark.step("5.3")
def test_app_session_keys_expire(lab):
    forever, _ = _keys_without_expiry(lab, (f"{cache.SESSION_KEY_PREFIX}*",))
    assert not forever, f"replication group {GROUP}: session keys without a TTL: {forever[:10]}"


@pytest.mark.step("5.3")
def test_app_rate_limit_keys_expire(lab):
    forever, _ = _keys_without_expiry(lab, (f"{cache.RATE_LIMIT_KEY_PREFIX}*",))
    assert not forever, (
        f"replication group {GROUP}: rate-limit keys without a TTL block their user for good: {forever[:10]}"
    )


def _standings(client) -> list[tuple[str, float]]:
    return client.zrevrange(cache.LEADERBOARD_KEY, 0, -1, withscores=True)


@pytest.mark.step("5.3")
def test_app_leaderboard_has_player1_first_after_its_bonus(lab):
    with lab.redis() as client:
        standings = _standings(client)
    expected = cache.lab_final_standings()
    assert standings, f"replication group {GROUP}: {cache.LEADERBOARD_KEY} is empty; the lab's cache app has not run"
    assert standings == expected, (
        f"replication group {GROUP}: {cache.LEADERBOARD_KEY} is {standings}, expected {expected} "
        "(player1's 1500 + 1000 first)"
    )


@pytest.mark.step("5.3")  # needs the app's data, so it belongs to 5.3 although it checks 5.2's replica
def test_redis_replica_holds_the_app_leaderboard(lab):
    with lab.redis() as client:
        primary = _standings(client)
    assert primary, f"replication group {GROUP}: {cache.LEADERBOARD_KEY} is empty on the primary; the lab's cache app has not run"
    seen = []

    def same():
        with lab.redis(REDIS_REPLICA) as client:
            seen[:] = _standings(client)
        return seen == primary

    try:
        wait_until(same, timeout=lab.convergence_wait(), what="replica leaderboard", retry_on=())
    except DeadlineExceeded:
        pytest.fail(f"replication group {GROUP}: the replica's {cache.LEADERBOARD_KEY} is {seen}, "
                    f"the primary's {primary} (still different {lab.convergence_limit})")


# --- 5.3 the caching patterns (writes_data: own keys and rows, removed afterwards) ---------------

@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_cache_aside_reads_the_database_on_a_miss_only(lab, cache_app):
    with own_product(lab) as product_id, redis_keys(lab) as (client, created):
        connect = CountingConnect(lab)
        repository = cache_app.CachedProductRepository(client, connect)
        key = f"{cache.PRODUCT_KEY_PREFIX}{product_id}"
        created.append(key)
        first = repository.get_product(product_id)
        assert connect.calls == 1, f"cache-aside: the first read of {key} made {connect.calls} database reads, expected 1 (a miss)"
        second = repository.get_product(product_id)
        assert connect.calls == 1, f"cache-aside: the second read of {key} went to the database, expected a cache hit"
        assert second == first, f"cache-aside: {key} came back as {second} from the cache, {first} from the database"


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_cached_product_expires_within_five_minutes(lab, cache_app):
    with own_product(lab) as product_id, redis_keys(lab) as (client, created):
        key = f"{cache.PRODUCT_KEY_PREFIX}{product_id}"
        created.append(key)
        cache_app.CachedProductRepository(client, lab.mysql).get_product(product_id)
        ttl = client.ttl(key)
        assert 0 < ttl <= cache.CachedProductRepository.CACHE_TTL, (
            f"cache-aside: {key} has TTL {ttl}, expected 1-{cache.CachedProductRepository.CACHE_TTL} s"
        )


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_product_update_invalidates_the_cache_so_the_next_read_is_fresh(lab, cache_app):
    new_price = Decimal("12.34")
    with own_product(lab) as product_id, redis_keys(lab) as (client, created):
        key = f"{cache.PRODUCT_KEY_PREFIX}{product_id}"
        created += [key, cache.ALL_PRODUCTS_KEY]
        repository = cache_app.CachedProductRepository(client, lab.mysql)
        repository.get_product(product_id)
        repository.get_all_products()  # the product list is cached too (products:all)
        repository.update_product(product_id, price=new_price)
        price = (repository.get_product(product_id) or {}).get("price")
        assert price is not None and Decimal(str(price)) == new_price, (
            f"cache invalidation: after updating product {product_id} to {new_price}, a read returned {price} "
            f"({key} {'still cached' if client.exists(key) else 'not cached'})"
        )
        listed = {row.get("id"): row for row in repository.get_all_products() or []}.get(product_id, {}).get("price")
        assert listed is not None and Decimal(str(listed)) == new_price, (
            f"cache invalidation: after updating product {product_id} to {new_price}, the product list shows "
            f"{listed} ({cache.ALL_PRODUCTS_KEY} {'still cached' if client.exists(cache.ALL_PRODUCTS_KEY) else 'not cached'}; "
            "update_product must delete it too)"
        )


def _session(client, cache_app) -> tuple[object, str, str]:
    store = cache_app.SessionStore(client)
    session_id = store.create_session(naming.scratch_name("user"), {"username": "check", "role": "grader"})
    return store, session_id, f"{cache.SESSION_KEY_PREFIX}{session_id}"


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_session_is_stored_for_one_hour(lab, cache_app):
    with redis_keys(lab) as (client, created):
        store, session_id, key = _session(client, cache_app)
        created.append(key)
        ttl = client.ttl(key)
        assert cache.SessionStore.SESSION_TTL - 5 <= ttl <= cache.SessionStore.SESSION_TTL, (
            f"session store: {key} has TTL {ttl}, expected {cache.SessionStore.SESSION_TTL} s"
        )
        assert (store.get_session(session_id) or {}).get("username") == "check", f"session store: {key} cannot be read back"


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_session_keeps_its_user_id_whatever_the_user_data(lab, cache_app):
    with redis_keys(lab) as (client, created):
        store, user = cache_app.SessionStore(client), naming.scratch_name("user")
        session_id = store.create_session(user, {"username": "check", "user_id": "someone-else"})
        created.append(f"{cache.SESSION_KEY_PREFIX}{session_id}")
        owner = (store.get_session(session_id) or {}).get("user_id")
        assert owner == user, (
            f"session store: a session created for {user} with user data holding user_id 'someone-else' "
            f"belongs to {owner!r}: the user data overwrote the session's user id"
        )


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_session_extend_resets_the_ttl_to_one_hour(lab, cache_app):
    with redis_keys(lab) as (client, created):
        store, session_id, key = _session(client, cache_app)
        created.append(key)
        client.expire(key, 60)  # as if most of the hour had passed
        store.extend_session(session_id)
        ttl = client.ttl(key)
        assert ttl >= cache.SessionStore.SESSION_TTL - 5, (
            f"session store: after extend_session, {key} has TTL {ttl}, expected {cache.SessionStore.SESSION_TTL} s"
        )


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_session_delete_removes_it(lab, cache_app):
    with redis_keys(lab) as (client, created):
        store, session_id, key = _session(client, cache_app)
        created.append(key)
        store.delete_session(session_id)
        assert not client.exists(key) and store.get_session(session_id) is None, (
            f"session store: {key} still exists after delete_session"
        )


def _limiter(client, cache_app, created: list[str]) -> tuple[object, str]:
    user = naming.scratch_name("user")
    created.append(f"{cache.RATE_LIMIT_KEY_PREFIX}{user}")
    return cache_app.RateLimiter(client), user


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_rate_limiter_allows_five_then_blocks_with_the_time_left(lab, cache_app):
    with redis_keys(lab) as (client, created):
        limiter, user = _limiter(client, cache_app, created)
        decisions = [limiter.is_allowed(user, max_requests=5, window_seconds=60) for _ in range(7)]
        assert [allowed for allowed, _ in decisions] == [True] * 5 + [False] * 2, (
            f"rate limiter (5 per 60 s): 7 requests were decided {decisions}, expected 5 allowed then 2 blocked"
        )
        assert [value for _, value in decisions[:5]] == [4, 3, 2, 1, 0], (
            f"rate limiter (5 per 60 s): allowed requests report {[v for _, v in decisions[:5]]} remaining, expected 4..0"
        )
        assert all(0 < value <= 60 for _, value in decisions[5:]), (
            f"rate limiter (5 per 60 s): blocked requests report retry-after {[v for _, v in decisions[5:]]}, expected 1-60 s"
        )


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_rate_limiter_allows_again_after_the_window(lab, cache_app):
    with redis_keys(lab) as (client, created):
        limiter, user = _limiter(client, cache_app, created)
        for _ in range(2):
            limiter.is_allowed(user, max_requests=2, window_seconds=1)
        assert not limiter.is_allowed(user, max_requests=2, window_seconds=1)[0], (
            "rate limiter (2 per 1 s): a third request in the window was allowed"
        )
        eventually(lab, lambda: limiter.is_allowed(user, max_requests=2, window_seconds=1)[0],
                   "rate limiter (2 per 1 s): requests were still blocked after the 1 s window ended; none was allowed again",
                   timeout=WINDOW_RESET_DEADLINE)


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_rate_limiter_allows_exactly_the_limit_under_concurrent_requests(lab, cache_app):
    with redis_keys(lab) as (client, created):
        limiter, user = _limiter(client, cache_app, created)
        start = threading.Barrier(CONCURRENT_REQUESTS)

        def request(_):
            start.wait(timeout=30)  # all at once, to give a read-then-increment race its chance
            return limiter.is_allowed(user, max_requests=CONCURRENT_LIMIT, window_seconds=60)[0]

        with ThreadPoolExecutor(max_workers=CONCURRENT_REQUESTS) as pool:
            allowed = sum(pool.map(request, range(CONCURRENT_REQUESTS)))
        assert allowed == CONCURRENT_LIMIT, (
            f"rate limiter ({CONCURRENT_LIMIT} per 60 s): {allowed} of {CONCURRENT_REQUESTS} concurrent requests "
            f"were allowed, expected exactly {CONCURRENT_LIMIT}"
        )


def _leaderboard(client, cache_app, created: list[str]):
    key = f"leaderboard:{naming.scratch_name('game')}"
    created.append(key)
    board = cache_app.Leaderboard(client, key=key)
    for player, score in cache.LAB_SCORES:
        board.add_score(player, score)
    return board, key


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_leaderboard_lists_the_highest_score_first(lab, cache_app):
    with redis_keys(lab) as (client, created):
        board, key = _leaderboard(client, cache_app, created)
        top = [player for player, _ in board.get_top(5)]
        expected = [player for player, _ in sorted(cache.LAB_SCORES, key=lambda item: -item[1])]
        assert top == expected, f"leaderboard {key}: top 5 is {top}, expected {expected} (highest score first)"


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_leaderboard_rank_counts_from_one_at_the_top(lab, cache_app):
    with redis_keys(lab) as (client, created):
        board, key = _leaderboard(client, cache_app, created)
        ranks = {player: board.get_rank(player) for player in ("player2", "player1")}
        assert ranks == {"player2": 1, "player1": 5}, (
            f"leaderboard {key}: ranks are {ranks}, expected player2 (2300) 1 and player1 (1500) 5"
        )


@pytest.mark.step("5.3")
@pytest.mark.writes_data
def test_leaderboard_increment_adds_points_and_moves_the_player_up(lab, cache_app):
    with redis_keys(lab) as (client, created):
        board, key = _leaderboard(client, cache_app, created)
        score = board.increment_score("player1", 1000)
        rank = board.get_rank("player1")
        assert (score, rank) == (2500, 1), (
            f"leaderboard {key}: player1 (1500) + 1000 gave score {score} and rank {rank}, expected 2500 and 1"
        )

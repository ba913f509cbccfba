"""Submissions to grade: the student's own app.py, dynamodb_app.py and cache_app.py.

Issue 13 grades the code a student hands in: the writes_data checks of Labs 3.1, 4.2 and 5.3
run the student's classes (in a sandboxed child process) instead of the suite's reference
classes. This module makes the files those self-tests hand to the grader, each a small,
readable change of the lab's own code, so that what a check should say about a file is known
in advance:

- `printed(dest)`: the three files exactly as the lab prints them (taken from the lab text by
  code, never copied by hand). They fail the checks each of ERRATA names, and no others
  (NOT_CLASS_ERRATA says why each other entry of the errata page is not one of ERRATA).
- `fixed(dest)`: the same files with the errata page's fixes (docs/errata.md) to the classes:
  every ERRATA edit, in order. They pass every writes_data check.
- `with_fault(dest, fault)`: fixed() with one defect of the fault catalogue (tests/faults/)
  written into the student's code, in the lab's style: it fails exactly `fault.checks`
  (NOT_SEEDED names the catalogue's faults of these checks that are not in the code).
- `adversarial(dest, kind)`: fixed() with cache_app.py made to misbehave (hang, exit, read the
  grader's AWS keys, reach outside the loopback, ...): the check that runs it must fail with a
  reason, never hang the grader or leak.

Plain Python (no pytest): the self-tests and the sandbox's own tests import it alike.
tests/test_submission_corpus.py checks the corpus itself (every edit applies exactly once,
every file but the syntax-error one compiles, the printed files are the lab text's blocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provisioning.lab_replay import lab_python
from provisioning.naming import APP_FILES as LAB_FILES  # the lab's step -> the file the student creates in it

# The suites whose writes_data checks run the student's classes (issue 13); every check a
# corpus entry names is one of those (tests/test_submission_corpus.py holds it to that).
GRADED_SUITES = ("suites/test_lab3_application.py", "suites/test_lab4_dynamodb.py",
                 "suites/test_lab5_redis_caching_patterns.py")

def lab_source(step: str) -> str:
    """The first ```python block after `### Step <step>:` in the lab text, as printed."""
    return lab_python(step)[0]


def printed(dest: Path) -> Path:
    """Write app.py, dynamodb_app.py and cache_app.py into `dest` exactly as the lab prints them."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for step, name in LAB_FILES.items():
        (dest / name).write_text(lab_source(step))
    return dest


@dataclass(frozen=True)
class Edit:
    """Replace `old` (which must occur exactly once in `file`) by `new`."""

    file: str
    old: str
    new: str
    why: str


class EditDoesNotApply(ValueError):
    """An edit's `old` text is missing from its file, or occurs more than once."""


def apply_edit(dest: Path, edit: Edit) -> None:
    path = Path(dest) / edit.file
    text = path.read_text()
    count = text.count(edit.old)
    if count != 1:
        raise EditDoesNotApply(f"{edit.file}: the text to replace occurs {count} times, expected once "
                               f"({edit.why}): {edit.old!r}")
    path.write_text(text.replace(edit.old, edit.new, 1))


@dataclass(frozen=True)
class Erratum:
    """An erratum of docs/errata.md in the code of the lab's classes, and its fix as edits."""

    number: int  # the entry's number in docs/errata.md
    title: str  # the entry's heading there
    edits: tuple[Edit, ...]  # the fix, applied to printed() after the edits of every earlier erratum
    checks: tuple[str, ...]  # the writes_data checks the printed code fails because of it
    hint: str  # what docs/errata.md says to do instead (quoted from its "Instead" line)


APP, ORDERS, CACHE = LAB_FILES["3.1"], LAB_FILES["4.2"], LAB_FILES["5.3"]

# The writes_data checks of Lab 4.2 that store an order through create_order, with the lab's
# items (provisioning/apps/orders.py LAB_ORDERS: float prices, as printed in the lab's main()).
_CREATE_ORDER_CHECKS = (
    "test_query_by_customer_returns_every_order_in_date_order",
    "test_query_by_customer_from_a_start_date_skips_earlier_orders",
    "test_status_index_query_returns_a_new_pending_order_whole",
    "test_update_status_returns_all_new_attributes",
    "test_delete_order_returns_the_old_item",
)

ERRATA: tuple[Erratum, ...] = (
    # No check sees it: the 3.1 checks update with known columns and at least one of them.
    # The 5.3 update_product formats the same keyword names into its SQL: fixed the same way.
    Erratum(
        10, "`update()` builds SQL from the keyword names",
        edits=(
            Edit(APP,
                 '        """Update a product"""\n',
                 '        """Update a product"""\n'
                 "        unknown = set(kwargs) - {'name', 'description', 'price', 'quantity', 'category'}\n"
                 "        if not kwargs or unknown:\n"
                 '            raise ValueError(f"cannot update columns {sorted(kwargs)}")\n',
                 "only the products columns reach the SQL text, and an update sets at least one"),
            Edit(CACHE,
                 '        """Update product with write-through cache pattern"""\n',
                 '        """Update product with write-through cache pattern"""\n'
                 "        unknown = set(kwargs) - {'name', 'description', 'price', 'quantity', 'category'}\n"
                 "        if not kwargs or unknown:\n"
                 '            raise ValueError(f"cannot update columns {sorted(kwargs)}")\n',
                 "cache_app.py's update_product builds its SQL with the same line as app.py's update"),
        ),
        checks=(),
        hint="accept only known column names (a fixed set) and refuse an empty update.",
    ),
    # The checks pass the lab's orders as printed: float prices inside `items`, which boto3
    # refuses with TypeError before anything is written. Not the batch check: it builds its
    # orders with new_order, the check's own tool (the lab's class has none), which is the
    # reference's and makes every float a Decimal (submissions/apps.py), so the printed
    # batch_write_orders never sees a float there.
    Erratum(
        11, "Prices are Python floats, which boto3 refuses (erratum 3)",
        edits=(
            Edit(ORDERS,
                 "            'items': items,\n",
                 "            # Every float, also inside lists and maps, as a Decimal (boto3 refuses floats)\n"
                 "            'items': json.loads(json.dumps(items, default=decimal_default), parse_float=Decimal),\n",
                 "create_order stores the items' prices as Decimal"),
            Edit(ORDERS,
                 "                batch.put_item(Item=order)\n",
                 "                batch.put_item(Item=json.loads(json.dumps(order, default=decimal_default),\n"
                 "                                               parse_float=Decimal))\n",
                 "batch_write_orders stores every number as Decimal too"),
        ),
        checks=_CREATE_ORDER_CHECKS,
        hint='`Decimal("1299.99")` for every number, also inside lists and maps.',
    ),
    # No check sees it: a check's orders are put one HTTP round trip apart, never in the same
    # microsecond.
    Erratum(
        12, "Two orders in the same microsecond overwrite each other",
        edits=(
            Edit(ORDERS,
                 "        table.put_item(Item=order)\n"
                 "        return order\n",
                 "        # Never overwrite an order stamped in the same microsecond: take the next one\n"
                 "        while True:\n"
                 "            try:\n"
                 "                table.put_item(Item=order, ConditionExpression=Attr('order_date').not_exists())\n"
                 "                return order\n"
                 "            except table.meta.client.exceptions.ConditionalCheckFailedException:\n"
                 "                later = datetime.fromisoformat(order['order_date']) + timedelta(microseconds=1)\n"
                 "                order['order_date'] = order['created_at'] = later.isoformat()\n",
                 "put_item refuses to replace an order with the same key; a refused order gets a new stamp"),
        ),
        checks=(),
        hint="write with `ConditionExpression=Attr('order_date').not_exists()` and take a new stamp when it is refused.",
    ),
    # No check sees it: the checks compare stamps taken on one clock within seconds, and
    # test_update_status_returns_all_new_attributes asks only that updated_at is there.
    Erratum(
        13, "`order_date` is local time without a zone",
        edits=(
            Edit(ORDERS,
                 "from datetime import datetime, timedelta\n",
                 "from datetime import datetime, timedelta, timezone\n",
                 "timezone.utc for the stamps"),
            Edit(ORDERS,
                 "        order_date = datetime.now().isoformat()\n",
                 "        order_date = datetime.now(timezone.utc).isoformat()\n",
                 "order_date (and created_at) in UTC"),
            Edit(ORDERS,
                 "                ':updated': datetime.now().isoformat()\n",
                 "                ':updated': datetime.now(timezone.utc).isoformat()\n",
                 "updated_at in UTC"),
        ),
        checks=(),
        hint="`datetime.now(timezone.utc).isoformat()`.",
    ),
    # 50 requests at once all GET the same count before any INCR: 23-50 of them pass.
    Erratum(
        16, "The rate limiter lets too many requests through (erratum 2)",
        edits=(
            Edit(CACHE,
                 "        # Get current count\n"
                 "        current = cache.get(key)\n"
                 "\n"
                 "        if current is None:\n"
                 "            # First request - set counter\n"
                 "            cache.setex(key, window_seconds, 1)\n"
                 "            return True, max_requests - 1\n",
                 "        # Count this request and start its window in one atomic step (MULTI/EXEC)\n"
                 "        pipe = cache.pipeline(transaction=True)\n"
                 "        pipe.incr(key)\n"
                 "        pipe.expire(key, window_seconds, nx=True)\n"
                 "        current = pipe.execute()[0]\n",
                 "INCR and EXPIRE NX in one MULTI instead of GET, then SETEX or INCR"),
            Edit(CACHE,
                 "        current = int(current)\n"
                 "        if current >= max_requests:\n",
                 "        if current > max_requests:\n",
                 "the count now includes this request"),
            Edit(CACHE,
                 "        # Increment counter\n"
                 "        cache.incr(key)\n"
                 "        return True, max_requests - current - 1\n",
                 "        return True, max_requests - current\n",
                 "the request was counted by the atomic step"),
        ),
        checks=("test_rate_limiter_allows_exactly_the_limit_under_concurrent_requests",),
        hint="one atomic step: `INCR` and `EXPIRE ... NX` in one `MULTI`, or a Lua script.",
    ),
    # No check sees it: the lock-out needs the window to end between an allowed request's GET
    # and its INCR (the checks' allowed requests come at a window's start), and the only
    # retry-after a check asserts on is asked for well inside a 60 s window. The
    # `EXPIRE ... NX` this entry asks for is already part of erratum 16's atomic step.
    Erratum(
        17, "The rate limiter can lock a user out for good",
        edits=(
            Edit(CACHE,
                 "            return False, ttl\n",
                 "            return False, max(ttl, 1)  # never 0 or -1 s\n",
                 "a blocked request is told to retry in at least 1 s"),
        ),
        checks=(),
        hint="give any counter without a TTL its window (`EXPIRE key window NX`), and report at least 1 s.",
    ),
    # The check caches the product list, updates the product, and reads the list again.
    Erratum(
        18, "Updating a product leaves the cached product list stale",
        edits=(
            Edit(CACHE,
                 "            cache.delete(cache_key)\n"
                 '            print(f"  [CACHE INVALIDATED] {cache_key}")\n',
                 '            cache.delete(cache_key, "products:all")\n'
                 '            print(f"  [CACHE INVALIDATED] {cache_key}, products:all")\n',
                 "update_product drops the cached list with the cached product"),
        ),
        checks=("test_product_update_invalidates_the_cache_so_the_next_read_is_fresh",),
        hint="delete `products:all` too.",
    ),
    # The check creates a session whose user data holds another user_id.
    Erratum(
        19, "A session's data can overwrite its user id",
        edits=(
            Edit(CACHE,
                 "            'user_id': user_id,\n"
                 "            'created_at': time.time(),\n"
                 "            **user_data\n",
                 "            **user_data,\n"
                 "            'user_id': user_id,\n"
                 "            'created_at': time.time()\n",
                 "the session's own user_id and created_at win over the caller's data"),
        ),
        checks=("test_session_keeps_its_user_id_whatever_the_user_data",),
        hint="put `user_id` and `created_at` after `**user_data`.",
    ),
    # Two rows made within one second tie on created_at and MariaDB lists them oldest first;
    # the check's two creates straddle a second boundary only now and then (it then passes).
    Erratum(
        25, "`read_all()` lists the rows of one second in any order",
        edits=(
            Edit(APP,
                 'cursor.execute("SELECT * FROM products ORDER BY created_at DESC")\n',
                 'cursor.execute("SELECT * FROM products ORDER BY created_at DESC, id DESC")\n',
                 "rows of the same second newest (highest id) first"),
        ),
        checks=("test_read_all_lists_newest_first",),
        hint="break the tie by the id: `ORDER BY created_at DESC, id DESC`.",
    ),
)

# The other entries of docs/errata.md, and why none is a fix to the classes of the three files.
NOT_CLASS_ERRATA: dict[int, str] = {
    1: "Lab 1's shell commands",
    2: "the password in commands and in DB_CONFIG, a module constant the sandbox replaces",
    3: "Lab 1's shell commands",
    4: "Lab 2.1's shell commands",
    5: "Lab 2.3's SQL",
    6: "Lab 2.3's SQL on the replica",
    7: "the fix is Lab 3's columns added to the table (ALTER TABLE), not a change to the code",
    8: "main() of app.py",
    9: "main() of app.py",
    14: "main() of dynamodb_app.py",
    15: "Lab 4.3's stream, enabled after the app ran",
    20: "main() of cache_app.py",
    21: "Lab 6's benchmark code",
    22: "Lab 6.2's benchmark code",
    23: "Lab 7.1's shell command",
    24: "Lab 7's shell commands",
}


def fixed(dest: Path) -> Path:
    """printed() with every erratum's fix: the same apps with the errata page's fixes."""
    printed(dest)
    for erratum in ERRATA:
        for edit in erratum.edits:
            apply_edit(dest, edit)
    return Path(dest)


@dataclass(frozen=True)
class SeededFault:
    """A fault of the fault catalogue (tests/faults/), as a defect in the student's own code."""

    id: str  # the catalogue's fault id
    edit: Edit  # applied to fixed()
    checks: tuple[str, ...]  # the fault's targets that are writes_data checks of GRADED_SUITES


SEEDED_FAULTS: tuple[SeededFault, ...] = (
    # --- tests/faults/mysql.py
    SeededFault("3.1-delete-ignores-the-rowcount", Edit(
        APP,
        '                "DELETE FROM products WHERE id = %s",\n'
        "                (product_id,)\n"
        "            )\n"
        "        self.connection.commit()\n"
        "        return cursor.rowcount\n",
        '                "DELETE FROM products WHERE id = %s",\n'
        "                (product_id,)\n"
        "            )\n"
        "        self.connection.commit()\n"
        "        return 1  # whatever the rowcount\n",
        "delete reports 1 even when nothing was deleted"),
        ("test_delete_returns_1_then_0_for_a_missing_id",)),
    # --- tests/faults/dynamodb.py
    SeededFault("4.2-query-newest-first", Edit(
        ORDERS,
        "                                        Key('order_date').gte(start_date)\n"
        "            )\n"
        "        else:\n"
        "            response = table.query(\n"
        "                KeyConditionExpression=Key('customer_id').eq(customer_id)\n"
        "            )\n",
        "                                        Key('order_date').gte(start_date),\n"
        "                ScanIndexForward=False\n"
        "            )\n"
        "        else:\n"
        "            response = table.query(\n"
        "                KeyConditionExpression=Key('customer_id').eq(customer_id),\n"
        "                ScanIndexForward=False\n"
        "            )\n",
        "get_customer_orders returns the newest order first"),
        ("test_query_by_customer_returns_every_order_in_date_order",
         "test_query_by_customer_from_a_start_date_skips_earlier_orders")),
    SeededFault("4.2-query-ignores-start-date", Edit(
        ORDERS,
        "                KeyConditionExpression=Key('customer_id').eq(customer_id) &\n"
        "                                        Key('order_date').gte(start_date)\n",
        "                KeyConditionExpression=Key('customer_id').eq(customer_id)\n",
        "get_customer_orders ignores start_date"),
        ("test_query_by_customer_from_a_start_date_skips_earlier_orders",)),
    SeededFault("4.2-status-query-drops-order-id", Edit(
        ORDERS,
        "            KeyConditionExpression=Key('status').eq(status)\n"
        "        )\n"
        "        return response['Items']\n",
        "            KeyConditionExpression=Key('status').eq(status)\n"
        "        )\n"
        "        return [{k: v for k, v in order.items() if k != 'order_id'} for order in response['Items']]\n",
        "get_orders_by_status leaves out order_id"),
        ("test_status_index_query_returns_a_new_pending_order_whole",)),
    SeededFault("4.2-update-returns-changed-only", Edit(
        ORDERS, "            ReturnValues='ALL_NEW'\n", "            ReturnValues='UPDATED_NEW'\n",
        "update_status returns only the changed attributes"),
        ("test_update_status_returns_all_new_attributes",)),
    SeededFault("4.2-delete-returns-nothing", Edit(
        ORDERS, "            ReturnValues='ALL_OLD'\n", "            ReturnValues='NONE'\n",
        "delete_order does not return the old item"),
        ("test_delete_order_returns_the_old_item",)),
    SeededFault("4.2-batch-drops-an-order", Edit(
        ORDERS, "            for order in orders:\n", "            for order in orders[:-1]:\n",
        "batch_write_orders drops the last order"),
        ("test_batch_write_then_count_sees_every_order",)),
    # --- tests/faults/cache.py (test_cache_aside_read_of_a_product, a target of the first two,
    # is a Lab 6.2 benchmark: it runs the reference classes, never the student's)
    SeededFault("5.3-cache-aside-never-hits", Edit(
        CACHE,
        "        # Try cache first\n",
        "        # Try cache first\n"
        "        cache.delete(cache_key)  # every read a miss\n",
        "every product read goes to the database"),
        ("test_cache_aside_reads_the_database_on_a_miss_only",)),
    SeededFault("5.3-cached-product-without-ttl", Edit(
        CACHE,
        "cache.setex(cache_key, CachedProductRepository.CACHE_TTL, json.dumps(product))\n",
        "cache.set(cache_key, json.dumps(product))  # no expiry\n",
        "a product is cached without expiry"),
        ("test_cached_product_expires_within_five_minutes",)),
    SeededFault("5.3-update-keeps-the-stale-copy", Edit(
        CACHE,
        '            cache.delete(cache_key, "products:all")\n',
        '            cache.delete("products:all")  # product:<id> keeps the old copy\n',
        "updating a product leaves the old copy cached"),
        ("test_product_update_invalidates_the_cache_so_the_next_read_is_fresh",)),
    SeededFault("5.3-product-list-stays-stale", Edit(
        CACHE,
        '            cache.delete(cache_key, "products:all")\n',
        "            cache.delete(cache_key)  # products:all keeps the old list\n",
        "updating a product leaves the cached product list (erratum 18, as printed)"),
        ("test_product_update_invalidates_the_cache_so_the_next_read_is_fresh",)),
    SeededFault("5.3-session-user-id-overwritten", Edit(
        CACHE,
        "            **user_data,\n"
        "            'user_id': user_id,\n"
        "            'created_at': time.time()\n",
        "            'user_id': user_id,\n"
        "            'created_at': time.time(),\n"
        "            **user_data\n",
        "the session's user data overwrites its user id (erratum 19, as printed)"),
        ("test_session_keeps_its_user_id_whatever_the_user_data",)),
    SeededFault("5.3-session-lives-a-day", Edit(
        CACHE, "    SESSION_TTL = 3600  # 1 hour\n", "    SESSION_TTL = 86400  # 1 day\n",
        "sessions live 24 hours, not one"),
        ("test_session_is_stored_for_one_hour",)),
    SeededFault("5.3-extend-keeps-the-old-ttl", Edit(
        CACHE,
        "        return cache.expire(session_key, SessionStore.SESSION_TTL)\n",
        "        return cache.expire(session_key, SessionStore.SESSION_TTL, nx=True)  # NX: keeps the old TTL\n",
        "extend_session does not reset the TTL"),
        ("test_session_extend_resets_the_ttl_to_one_hour",)),
    SeededFault("5.3-delete-misses-the-session", Edit(
        CACHE,
        '        """Delete session (logout)"""\n'
        '        session_key = f"session:{session_id}"\n',
        '        """Delete session (logout)"""\n'
        "        session_key = session_id  # forgets the key prefix\n",
        "delete_session deletes the wrong key"),
        ("test_session_delete_removes_it",)),
    SeededFault("5.3-limiter-off-by-one", Edit(
        CACHE,
        "        if current > max_requests:\n",
        "        if current > max_requests + 1:\n",
        "the rate limiter lets one request too many through"),
        ("test_rate_limiter_allows_five_then_blocks_with_the_time_left",
         "test_rate_limiter_allows_again_after_the_window",
         "test_rate_limiter_allows_exactly_the_limit_under_concurrent_requests")),
    SeededFault("5.3-limiter-never-resets", Edit(
        CACHE,
        "        pipe.expire(key, window_seconds, nx=True)\n",
        "",
        "the counter never expires, so the window never ends"),
        ("test_rate_limiter_allows_again_after_the_window",)),
    # The lab's read-then-increment, with the catalogue's time.sleep(0) between the read and
    # the write (YieldingLabRateLimiter), which makes the race certain on a loaded machine.
    SeededFault("5.3-limiter-races", Edit(
        CACHE,
        "        # Count this request and start its window in one atomic step (MULTI/EXEC)\n"
        "        pipe = cache.pipeline(transaction=True)\n"
        "        pipe.incr(key)\n"
        "        pipe.expire(key, window_seconds, nx=True)\n"
        "        current = pipe.execute()[0]\n",
        "        # Get current count, then increment it (two steps: not atomic)\n"
        "        current = int(cache.get(key) or 0) + 1\n"
        "        time.sleep(0)  # another request may read the same count meanwhile\n"
        "        if current <= max_requests:\n"
        "            cache.incr(key)\n"
        "            cache.expire(key, window_seconds, nx=True)\n",
        "read, then increment: concurrent requests read the same count (erratum 2)"),
        ("test_rate_limiter_allows_exactly_the_limit_under_concurrent_requests",)),
    SeededFault("5.3-leaderboard-ascending", Edit(
        CACHE,
        "        return cache.zrevrange(Leaderboard.LEADERBOARD_KEY, 0, n-1, withscores=True)\n",
        "        return cache.zrange(Leaderboard.LEADERBOARD_KEY, 0, n-1, withscores=True)\n",
        "the leaderboard lists the lowest score first"),
        ("test_leaderboard_lists_the_highest_score_first",)),
    SeededFault("5.3-rank-from-zero", Edit(
        CACHE,
        "        return rank + 1 if rank is not None else None\n",
        "        return rank\n",
        "ranks count from 0"),
        ("test_leaderboard_rank_counts_from_one_at_the_top",
         "test_leaderboard_increment_adds_points_and_moves_the_player_up")),
    SeededFault("5.3-increment-overwrites", Edit(
        CACHE,
        "        return cache.zincrby(Leaderboard.LEADERBOARD_KEY, points, player_id)\n",
        "        cache.zadd(Leaderboard.LEADERBOARD_KEY, {player_id: points})\n"
        "        return points\n",
        "increment_score overwrites the score instead of adding"),
        ("test_leaderboard_increment_adds_points_and_moves_the_player_up",)),
)

# Faults of the catalogue that target writes_data checks of GRADED_SUITES but are not a defect
# of the app's classes (they change the database schema, the table or what the lab run left),
# so they have no counterpart in a student's code.
NOT_SEEDED: dict[str, str] = {
    "3.1-lab-2-3-four-column-table": "the products table's schema",
    "3.1-updated-at-not-on-update": "the updated_at column's definition",
    "3.1-clock-runs-backwards": "a trigger on the products table",
    "3.1-category-rewritten": "a trigger on the products table",
    "3.1-update-ignores-quantity": "a trigger on the products table",
    "4.1-no-sort-key": "the orders table's key",
    "4.1-order-date-a-number": "the orders table's key",
    "4.1-index-keys-only": "the status index's projection",
}


def with_fault(dest: Path, fault: SeededFault) -> Path:
    """fixed() with that one fault written into the student's code."""
    fixed(dest)
    apply_edit(dest, fault.edit)
    return Path(dest)


ADVERSARIAL: dict[str, str] = {
    "imports-missing": "cache_app.py imports a module that does not exist, at the top",
    "loops-forever": "RateLimiter.is_allowed never returns (while True: pass)",
    "reads-aws-keys": "SessionStore.create_session stores AWS_SECRET_ACCESS_KEY and AWS_ACCESS_KEY_ID in the session",
    "outside-loopback": "Leaderboard.add_score first connects to 192.0.2.1:80 (TEST-NET-1)",
    "main-on-import": "cache_app.py calls main() at module level, unguarded",
    "missing-class": "RateLimiter is called Limiter",
    "syntax-error": "a line of cache_app.py does not parse",
    "exits": "Leaderboard.get_top calls sys.exit(3)",
    # Code that would break the lab for the submissions graded after it, if the sandbox let it.
    "drops-the-table": "ProductRepository.delete drops the products table",
    "flushes-redis": "Leaderboard.add_score flushes every Redis database first",
    "deletes-the-table": "OrderRepository.delete_order deletes the orders table",
}
# The kinds that change another file than cache_app.py.
ADVERSARIAL_FILES = {"drops-the-table": APP, "deletes-the-table": ORDERS}

# The edits adversarial() makes to fixed(), by kind.
ADVERSARIAL_EDITS: dict[str, tuple[Edit, ...]] = {
    "imports-missing": (Edit(
        CACHE, "\nimport redis\n", "\nimport redis\nimport cache_app_helpers_never_installed\n",
        "an import that fails with ModuleNotFoundError when the file is loaded"),),
    "loops-forever": (Edit(
        CACHE,
        '        key = f"ratelimit:{user_id}"\n',
        "        while True:\n"
        "            pass\n"
        '        key = f"ratelimit:{user_id}"\n',
        "a busy loop holding the interpreter: only killing the process ends it"),),
    "reads-aws-keys": (Edit(
        CACHE,
        "        cache.setex(session_key, SessionStore.SESSION_TTL, json.dumps(session_data))\n",
        "        session_data['aws_secret'] = os.environ.get(\"AWS_SECRET_ACCESS_KEY\")\n"
        "        try:\n"
        "            session_data['aws_key'] = os.environ[\"AWS_ACCESS_KEY_ID\"]\n"
        "        except KeyError:\n"
        "            pass\n"
        "        cache.setex(session_key, SessionStore.SESSION_TTL, json.dumps(session_data))\n",
        "the grader's AWS keys, if its environment holds them, end up in Redis"),),
    "outside-loopback": (Edit(
        CACHE,
        '        """Add or update player score"""\n',
        '        """Add or update player score"""\n'
        "        import socket\n"
        '        socket.create_connection(("192.0.2.1", 80), timeout=2).close()\n',
        "a connection to an address outside the loopback (TEST-NET-1: nothing answers)"),),
    "main-on-import": (Edit(
        CACHE,
        "\nif __name__ == '__main__':\n    main()\n",
        "\nmain()\n",
        "loading the file runs the whole demo against whatever REDIS_HOST and RDS_HOST say"),),
    "missing-class": (Edit(
        CACHE, "\nclass RateLimiter:\n", "\nclass Limiter:\n",
        "the grader finds no RateLimiter"),),
    "syntax-error": (Edit(
        CACHE, "    def get_top(n=10):\n", "    def get_top(n=10)\n",
        "a def without its colon: the file does not compile"),),
    "exits": (Edit(
        CACHE,
        '        """Get top N players"""\n',
        '        """Get top N players"""\n'
        "        import sys\n"
        "        sys.exit(3)\n",
        "SystemExit(3) in the middle of a check"),),
    "drops-the-table": (Edit(
        APP,
        '        """Delete a product"""\n',
        '        """Delete a product"""\n'
        "        with self.connection.cursor() as cursor:\n"
        '            cursor.execute("DROP TABLE products")\n',
        "the lab's table gone for everyone graded after this submission"),),
    "flushes-redis": (Edit(
        CACHE,
        '        """Add or update player score"""\n',
        '        """Add or update player score"""\n'
        "        cache.flushall()\n",
        "every key of every submission gone"),),
    "deletes-the-table": (Edit(
        ORDERS,
        '        """Delete an order"""\n',
        '        """Delete an order"""\n'
        "        table.delete()\n",
        "the orders table gone for everyone graded after this submission"),),
}


def adversarial(dest: Path, kind: str) -> Path:
    """fixed() with one file (cache_app.py, or ADVERSARIAL_FILES[kind]) altered to misbehave as
    ADVERSARIAL[kind] says."""
    if kind not in ADVERSARIAL_EDITS:
        raise KeyError(f"no adversarial submission {kind!r}; there are {sorted(ADVERSARIAL)}")
    fixed(dest)
    for edit in ADVERSARIAL_EDITS[kind]:
        apply_edit(dest, edit)
    return Path(dest)

"""Faults of Lab 5: the cache subnet group (5.1), the replication group and its replica (5.2),
the caching patterns and what the lab's cache app left (5.3).

The 5.3 behaviour checks exercise the app's classes through the suite's `cache_app` fixture
(provisioning.apps.cache); a behaviour fault swaps one class for a faulty subclass.
"""

from __future__ import annotations

import json
import time
import uuid

from provisioning import naming
from provisioning.apps import cache
from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA
from provisioning.local.processes import free_port
from provisioning.polling import wait_until
from tests.test_errata_cache import LabRateLimiter

from .model import AWS, ELASTICACHE, fault

GROUP = naming.REPLICATION_GROUP


# --- 5.1: moto can neither modify nor delete a cache subnet group: its record is swapped --------

def _swap_subnet_group(fc, subnet_names: list[str] | None) -> None:
    """The lab's cache subnet group replaced by one with these subnets (None: no group at all)."""
    groups = fc.moto("elasticache").cache_subnet_groups
    original = groups.pop(naming.CACHE_SUBNET_GROUP)
    fc.undo(groups.__setitem__, naming.CACHE_SUBNET_GROUP, original)
    if subnet_names is not None:
        fc.aws("elasticache").create_cache_subnet_group(
            CacheSubnetGroupName=naming.CACHE_SUBNET_GROUP, CacheSubnetGroupDescription="fault",
            SubnetIds=[fc.subnet_id(name) for name in subnet_names])


SUBNET_GROUP_CHECKS = ("test_cache_subnet_group_exists", "test_cache_subnet_group_holds_exactly_the_two_private_subnets",
                       "test_cache_subnet_group_spans_two_availability_zones")


@fault("5.1", "no-cache-subnet-group", "there is no cache subnet group", *SUBNET_GROUP_CHECKS,
       breaks=naming.CACHE_SUBNET_GROUP)
def no_subnet_group(fc):
    _swap_subnet_group(fc, None)


@fault("5.1", "cache-subnet-group-with-the-public-subnet", "the cache subnet group holds the public subnet",
       SUBNET_GROUP_CHECKS[1], breaks=naming.PUBLIC_SUBNET_A)
def subnet_group_public(fc):
    _swap_subnet_group(fc, [naming.PUBLIC_SUBNET_A, naming.PRIVATE_SUBNET_B])


@fault("5.1", "cache-subnet-group-in-one-zone", "the cache subnet group's subnets are both in us-east-1a",
       *SUBNET_GROUP_CHECKS[1:], breaks=(naming.PUBLIC_SUBNET_A, "all in ['us-east-1a']"))
def subnet_group_one_zone(fc):
    _swap_subnet_group(fc, [naming.PRIVATE_SUBNET_A, naming.PUBLIC_SUBNET_A])


# --- 5.2: the replication group --------------------------------------------------------------------

def _modify_group(fc, **changes) -> None:
    client = fc.aws("elasticache")
    group = client.describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"][0]
    before = {"CacheNodeType": group["CacheNodeType"], "AutomaticFailoverEnabled": group["AutomaticFailover"] == "enabled",
              "MultiAZEnabled": group["MultiAZ"] == "enabled", "Engine": naming.CACHE_ENGINE}
    client.modify_replication_group(ReplicationGroupId=GROUP, ApplyImmediately=True, **changes)
    fc.undo(client.modify_replication_group, ReplicationGroupId=GROUP, ApplyImmediately=True,
            **{key: before[key] for key in changes})


def _edit_group(fc, **changes) -> None:
    # What the API cannot set (the status): moto's record.
    group = fc.moto("elasticache").replication_groups[GROUP]
    for attribute, value in changes.items():
        fc.undo(setattr, group, attribute, getattr(group, attribute))
        setattr(group, attribute, value)


CONTROL_PLANE_CHECKS = (
    "test_replication_group_is_available", "test_replication_group_node_type_is_cache_t3_micro",
    "test_replication_group_has_automatic_failover_enabled", "test_replication_group_has_multi_az_enabled",
    "test_replication_group_runs_redis_7", "test_replication_group_uses_the_cache_security_group",
    "test_replication_group_clusters_use_the_cache_subnet_group", "test_replication_group_has_two_member_clusters")


@fault("5.2", "no-replication-group", "there is no replication group", *CONTROL_PLANE_CHECKS,
       breaks=naming.REPLICATION_GROUP)
def no_group(fc):
    # moto never finishes deleting a replication group (local-engines.md): its record is removed.
    groups = fc.moto("elasticache").replication_groups
    fc.undo(groups.__setitem__, GROUP, groups.pop(GROUP))


# Not `modifying`: a group AWS is applying a change to still serves, and the check accepts it.
# A group whose creation failed (no capacity for the node type in the zones) never serves.
@fault("5.2", "group-create-failed", "the replication group's creation failed", "test_replication_group_is_available",
       breaks="status is create-failed")
def group_create_failed(fc):
    _edit_group(fc, status="create-failed")


@fault("5.2", "group-node-type", "the nodes are cache.t2.micro", "test_replication_group_node_type_is_cache_t3_micro",
       breaks="cache.t2.micro")
def group_node_type(fc):
    _modify_group(fc, CacheNodeType="cache.t2.micro")


@fault("5.2", "group-failover-off", "automatic failover is off", "test_replication_group_has_automatic_failover_enabled",
       breaks="AutomaticFailover is disabled")
def group_failover_off(fc):
    _modify_group(fc, AutomaticFailoverEnabled=False)


@fault("5.2", "group-multi-az-off", "Multi-AZ is off", "test_replication_group_has_multi_az_enabled",
       breaks="MultiAZ is disabled")
def group_multi_az_off(fc):
    _modify_group(fc, MultiAZEnabled=False)


@fault("5.2", "group-engine-valkey", "the group runs valkey, not redis", "test_replication_group_runs_redis_7",
       breaks="valkey")
def group_engine(fc):
    _modify_group(fc, Engine="valkey")


@fault("5.2", "clusters-run-redis-6", "the member clusters run Redis 6.2", "test_replication_group_runs_redis_7", view=AWS,
       breaks="runs redis 6.2")
def clusters_redis_6(fc):
    # What AWS reports, in the AWS view's model of its answer (moto's record stays as built).
    fc.patch(fc.answers, "member_cluster_changes", {"EngineVersion": "6.2"}, system=ELASTICACHE)


@fault("5.2", "clusters-in-the-rds-group", "the member clusters carry the RDS security group",
       "test_replication_group_uses_the_cache_security_group", view=AWS, breaks="security groups")
def clusters_rds_group(fc):
    fc.patch(fc.answers, "member_cluster_changes",
             {"SecurityGroups": [{"SecurityGroupId": fc.group_id(naming.RDS_SG), "Status": "active"}]},
             system=ELASTICACHE)


@fault("5.2", "clusters-in-the-default-subnet-group", "the member clusters are in the default cache subnet group",
       "test_replication_group_clusters_use_the_cache_subnet_group", view=AWS, breaks="cache subnet group default")
def clusters_default_subnet_group(fc):
    fc.patch(fc.answers, "member_cluster_changes", {"CacheSubnetGroupName": "default"}, system=ELASTICACHE)


@fault("5.2", "one-member-cluster", "the group has one member cluster (no replica)",
       "test_replication_group_has_two_member_clusters", view=AWS, breaks="1 member clusters")
def one_member(fc):
    # The group was created with NumCacheClusters=1: AWS creates one member cluster.
    fc.patch(fc.answers, "num_cache_clusters", 1, system=ELASTICACHE)


# --- 5.2: the replica (data plane) ------------------------------------------------------------------

def _follow_the_primary(fc) -> None:
    primary = fc.dataplane.redis[REDIS_PRIMARY]
    with fc.redis(REDIS_REPLICA) as replica:
        replica.replicaof(primary.host, primary.port)
        wait_until(lambda: replica.info("replication").get("master_link_status") == "up", timeout=10,
                   what="the Redis replica following its primary again")


@fault("5.2", "replica-promoted", "the Redis replica stopped following its primary",
       "test_redis_replica_has_the_replica_role", "test_redis_replica_link_is_up_and_catches_up_with_the_primary",
       breaks=("role master", "master_link_status is None"))
def replica_promoted(fc):
    with fc.redis(REDIS_REPLICA) as replica:
        replica.replicaof("NO", "ONE")
    fc.undo(_follow_the_primary, fc)


@fault("5.2", "replica-link-down", "the Redis replica follows a primary that does not answer",
       "test_redis_replica_link_is_up_and_catches_up_with_the_primary", breaks="master_link_status is down")
def replica_link_down(fc):
    with fc.redis(REDIS_REPLICA) as replica:
        replica.replicaof("127.0.0.1", free_port())
    fc.undo(_follow_the_primary, fc)


def _replica_read_only(fc, value: str) -> None:
    with fc.redis(REDIS_REPLICA) as replica:
        replica.config_set("replica-read-only", value)


@fault("5.2", "replica-writable", "the Redis replica accepts writes", "test_redis_replica_is_read_only",
       breaks="replica-read-only is no")
def replica_writable(fc):
    _replica_read_only(fc, "no")
    fc.undo(_replica_read_only, fc, "yes")


# --- 5.3: what the lab's cache app left -------------------------------------------------------------

def _key_without_ttl(key: str):
    def apply(fc):
        with fc.redis(decode_responses=False) as client:  # DUMP's payload is binary
            saved, ttl = client.dump(key), client.pttl(key)
            client.set(key, "{}")
        fc.undo(_restore_key, fc, key, saved, ttl)
    return apply


def _restore_key(fc, key: str, saved: bytes | None, ttl: int) -> None:
    with fc.redis(decode_responses=False) as client:
        if saved is None:
            client.delete(key)
        else:
            client.restore(key, max(ttl, 0), saved, replace=True)


def _leaderboard_change(fc, role: str, points: int) -> None:
    with fc.redis(role) as client:
        if role == REDIS_REPLICA:  # a replica takes no writes unless told so, as on ElastiCache
            client.config_set("replica-read-only", "no")
        client.zincrby(cache.LEADERBOARD_KEY, points, "player1")
        if role == REDIS_REPLICA:
            client.config_set("replica-read-only", "yes")


@fault("5.3", "leaderboard-without-the-bonus", "player1's 1000-point bonus is missing from the leaderboard",
       "test_app_leaderboard_has_player1_first_after_its_bonus", breaks=("('player1', 1500.0)"))
def leaderboard_without_bonus(fc):
    _leaderboard_change(fc, REDIS_PRIMARY, -1000)
    fc.undo(_leaderboard_change, fc, REDIS_PRIMARY, 1000)


@fault("5.3", "replica-leaderboard-differs", "the replica's leaderboard differs from the primary's",
       "test_redis_replica_holds_the_app_leaderboard", breaks=("('player1', 7500.0)"))
def replica_leaderboard(fc):
    _leaderboard_change(fc, REDIS_REPLICA, 5000)
    fc.undo(_leaderboard_change, fc, REDIS_REPLICA, -5000)


FAULTS_5_3_STATE = [
    fault("5.3", "product-key-without-ttl", "a cached product never expires", "test_app_product_cache_keys_expire",
          breaks="product:999")(
        _key_without_ttl("product:999")),
    fault("5.3", "session-without-ttl", "a session never expires", "test_app_session_keys_expire",
          breaks="session:forever")(
        _key_without_ttl(f"{cache.SESSION_KEY_PREFIX}forever")),
    fault("5.3", "rate-limit-key-without-ttl", "a rate-limit counter never expires (its user is locked out for good)",
          "test_app_rate_limit_keys_expire",
          breaks="ratelimit:user456")(_key_without_ttl(f"{cache.RATE_LIMIT_KEY_PREFIX}user456")),
    leaderboard_without_bonus, replica_leaderboard,
]


# --- 5.3: the caching patterns, each class swapped for a faulty one -----------------------------------

class _YieldAfterRead:
    """A Redis client whose GET hands the interpreter to another thread once it has the answer."""

    def __init__(self, client):
        self._client = client

    def get(self, key):
        value = self._client.get(key)
        time.sleep(0)  # waits for nothing: lets a thread that is ready run before this one goes on
        return value

    def __getattr__(self, name):
        return getattr(self._client, name)


class YieldingLabRateLimiter(LabRateLimiter):
    """Lab 5.3's read-then-increment limiter, with the race it has made certain on a loaded
    machine: between its GET and its INCR another request gets to read the same count (on a
    busy two-core machine the threads otherwise sometimes run one after another, and the race,
    a matter of chance, does not show)."""

    def __init__(self, cache):
        super().__init__(_YieldAfterRead(cache))


class NoCacheRepository(cache.CachedProductRepository):
    def get_product(self, product_id):
        self.cache.delete(self.key(product_id))  # every read a miss
        return super().get_product(product_id)


class NoTtlRepository(cache.CachedProductRepository):
    def get_product(self, product_id):
        product = super().get_product(product_id)
        self.cache.persist(self.key(product_id))  # cached without expiry
        return product


class NoInvalidationRepository(cache.CachedProductRepository):
    def update_product(self, product_id, **changes):
        cached = self.cache.get(self.key(product_id))
        changed = super().update_product(product_id, **changes)
        if cached is not None:
            self.cache.set(self.key(product_id), cached, ex=self.ttl)  # the stale copy stays
        return changed


class DaySessionStore(cache.SessionStore):
    def __init__(self, client):
        super().__init__(client, ttl=86400)


class NoResetSessionStore(cache.SessionStore):
    def extend_session(self, session_id):
        return bool(self.cache.expire(self.key(session_id), self.ttl, nx=True))  # NX: keeps the old TTL


class NoDeleteSessionStore(cache.SessionStore):
    def delete_session(self, session_id):
        return bool(self.cache.delete(session_id))  # forgets the key prefix


class UserDataLastSessionStore(cache.SessionStore):
    def create_session(self, user_id, user_data):
        session_id = str(uuid.uuid4())
        data = {"user_id": user_id, "created_at": time.time(), **user_data}  # the lab's order (erratum 19)
        self.cache.set(self.key(session_id), json.dumps(data), ex=self.ttl)
        return session_id


class StaleListRepository(cache.CachedProductRepository):
    def update_product(self, product_id, **changes):
        listed = self.cache.get(cache.ALL_PRODUCTS_KEY)
        changed = super().update_product(product_id, **changes)
        if listed is not None:
            self.cache.set(cache.ALL_PRODUCTS_KEY, listed, ex=self.ttl)  # the lab's: products:all kept (erratum 18)
        return changed


class OffByOneLimiter(cache.RateLimiter):
    def is_allowed(self, user_id, max_requests=10, window_seconds=60):
        return super().is_allowed(user_id, max_requests + 1, window_seconds)


class NoWindowLimiter(cache.RateLimiter):
    def is_allowed(self, user_id, max_requests=10, window_seconds=60):
        count = self.cache.incr(self.key(user_id))  # never expires
        return (True, max_requests - count) if count <= max_requests else (False, window_seconds)


class AscendingLeaderboard(cache.Leaderboard):
    def get_top(self, n=10):
        return self.cache.zrange(self.key, 0, n - 1, withscores=True)


class ZeroBasedLeaderboard(cache.Leaderboard):
    def get_rank(self, player_id):
        return self.cache.zrevrank(self.key, player_id)


class OverwritingLeaderboard(cache.Leaderboard):
    def increment_score(self, player_id, points):
        self.cache.zadd(self.key, {player_id: points})
        return points


def _swap(name: str, replacement):
    return lambda fc: fc.patch(cache, name, replacement)


FAULTS_5_3_BEHAVIOUR = [
    fault("5.3", "cache-aside-never-hits", "every product read goes to the database",
          "test_cache_aside_reads_the_database_on_a_miss_only", "test_cache_aside_read_of_a_product",
          breaks="went to the database")(_swap("CachedProductRepository", NoCacheRepository)),
    fault("5.3", "cached-product-without-ttl", "a product is cached without expiry",
          "test_cached_product_expires_within_five_minutes", "test_cache_aside_read_of_a_product",
          breaks="TTL -1")(_swap("CachedProductRepository", NoTtlRepository)),
    fault("5.3", "update-keeps-the-stale-copy", "updating a product leaves the old copy cached",
          "test_product_update_invalidates_the_cache_so_the_next_read_is_fresh", breaks="still cached")(
        _swap("CachedProductRepository", NoInvalidationRepository)),
    fault("5.3", "product-list-stays-stale", "updating a product leaves the cached product list (erratum 18)",
          "test_product_update_invalidates_the_cache_so_the_next_read_is_fresh", breaks="the product list shows")(
        _swap("CachedProductRepository", StaleListRepository)),
    fault("5.3", "session-user-id-overwritten", "the session's user data overwrites its user id (erratum 19)",
          "test_session_keeps_its_user_id_whatever_the_user_data", breaks="overwrote the session's user id")(
        _swap("SessionStore", UserDataLastSessionStore)),
    fault("5.3", "session-lives-a-day", "sessions live 24 hours, not one", "test_session_is_stored_for_one_hour",
          breaks="TTL 86400")(
        _swap("SessionStore", DaySessionStore)),
    fault("5.3", "extend-keeps-the-old-ttl", "extend_session does not reset the TTL",
          "test_session_extend_resets_the_ttl_to_one_hour",
          breaks="after extend_session")(_swap("SessionStore", NoResetSessionStore)),
    fault("5.3", "delete-misses-the-session", "delete_session deletes the wrong key", "test_session_delete_removes_it",
          breaks="still exists after delete_session")(
        _swap("SessionStore", NoDeleteSessionStore)),
    fault("5.3", "limiter-off-by-one", "the rate limiter lets one request too many through",
          "test_rate_limiter_allows_five_then_blocks_with_the_time_left", "test_rate_limiter_allows_again_after_the_window",
          "test_rate_limiter_allows_exactly_the_limit_under_concurrent_requests",
          breaks="allowed")(_swap("RateLimiter", OffByOneLimiter)),
    fault("5.3", "limiter-never-resets", "the rate limiter's window never ends",
          "test_rate_limiter_allows_again_after_the_window",
          breaks="still blocked")(_swap("RateLimiter", NoWindowLimiter)),
    fault("5.3", "limiter-races", "the lab's rate limiter: read then increment, so concurrent requests slip through "
          "(erratum 2)", "test_rate_limiter_allows_exactly_the_limit_under_concurrent_requests",
          breaks=("37 of 50", "of 50 concurrent requests were allowed"))(
        _swap("RateLimiter", YieldingLabRateLimiter)),
    fault("5.3", "leaderboard-ascending", "the leaderboard lists the lowest score first",
          "test_leaderboard_lists_the_highest_score_first",
          breaks="highest score first")(_swap("Leaderboard", AscendingLeaderboard)),
    fault("5.3", "rank-from-zero", "ranks count from 0", "test_leaderboard_rank_counts_from_one_at_the_top",
          "test_leaderboard_increment_adds_points_and_moves_the_player_up", breaks=("rank", "ranks are"))(
        _swap("Leaderboard", ZeroBasedLeaderboard)),
    fault("5.3", "increment-overwrites", "increment_score overwrites the score instead of adding",
          "test_leaderboard_increment_adds_points_and_moves_the_player_up",
          breaks="gave score 1000")(_swap("Leaderboard", OverwritingLeaderboard)),
]

FAULTS = [no_subnet_group, subnet_group_public, subnet_group_one_zone,
          no_group, group_create_failed, group_node_type, group_failover_off, group_multi_az_off, group_engine,
          clusters_redis_6, clusters_rds_group, clusters_default_subnet_group, one_member,
          replica_promoted, replica_link_down, replica_writable,
          *FAULTS_5_3_STATE, *FAULTS_5_3_BEHAVIOUR]

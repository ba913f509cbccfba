"""Lab 5, ElastiCache: the cache subnet group (5.1), the Redis replication group and its replica (5.2).

Control-plane checks find everything by the lab's names (Lab 1's subnets and groups as Lab 1's
checks do: those the lab's resources use when names find two, lookups.network.LabNetwork); the
replica's checks read the Redis servers bound to the replication group. All read-only. The caching
patterns (5.3) are in test_lab5_redis_caching_patterns.py.
"""

from __future__ import annotations

import pytest
from redis.exceptions import ResponseError

from fixtures.checks import assert_serves, require
from fixtures.outcomes import emulator_limited, not_reachable
from lookups import elasticache, network
from lookups.found import Found
from lookups.network import LabNetwork
from provisioning import naming
from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA
from provisioning.polling import DeadlineExceeded, wait_until

GROUP = naming.REPLICATION_GROUP


def _member_clusters(lab, group: Found, what: str) -> list[dict]:
    """The group's cache clusters; moto describes none, so there the rest is emulator-limited."""
    clusters = elasticache.member_clusters(lab.client("elasticache"), require(group))
    if not clusters:
        lab.require_real_aws(what, "moto's describe_cache_clusters returns no clusters for a replication group")
        pytest.fail(f"{group.subject}: none of its member clusters {group.get('MemberClusters')} "
                    "could be described")
    return clusters


# --- 5.1 the cache subnet group ------------------------------------------------------------------

@pytest.mark.step("5.1")
def test_cache_subnet_group_exists(lab):
    require(elasticache.subnet_group(lab.client("elasticache")))


@pytest.mark.step("5.1")
def test_cache_subnet_group_holds_exactly_the_two_private_subnets(lab):
    group = elasticache.subnet_group(lab.client("elasticache"))
    group_ids = elasticache.subnet_group_ids(require(group))
    lab_network = LabNetwork(lab.clients)
    # The lab's private subnets by Lab 1's rule: the same subnets the DB subnet group must hold.
    private = {require(subnet)["SubnetId"]: name for name, subnet in lab_network.private_subnets().items()}
    names = network.subnet_names(lab_network.ec2, group_ids)
    described = sorted(f"{subnet_id} ({names.get(subnet_id, '?')})" for subnet_id in group_ids)
    assert group_ids == set(private), (
        f"{group.subject}: subnets are {described}, expected exactly "
        f"{', '.join(sorted(private.values()))} ({', '.join(sorted(private))})"
    )


@pytest.mark.step("5.1")
def test_cache_subnet_group_spans_two_availability_zones(lab):
    group = elasticache.subnet_group(lab.client("elasticache"))
    group_ids = sorted(elasticache.subnet_group_ids(require(group)))
    assert group_ids, f"{group.subject} has no subnets"
    # From EC2, not the group's SubnetAvailabilityZone: moto leaves that empty.
    subnets = lab.client("ec2").describe_subnets(SubnetIds=group_ids)["Subnets"]
    zones = {subnet["SubnetId"]: subnet["AvailabilityZone"] for subnet in subnets}
    assert len(set(zones.values())) >= 2, (
        f"{group.subject}: subnets are all in {sorted(set(zones.values()))}, expected two availability zones"
    )


# --- 5.2 the replication group (control plane) -----------------------------------------------------

@pytest.mark.step("5.2")
def test_replication_group_is_available(lab):
    # `available` as the lab means it: the group exists and serves (modifying and snapshotting too).
    assert_serves(elasticache.replication_group(lab.client("elasticache")), "Status", elasticache.serves,
                  "lookups/elasticache.py", "modifying or snapshotting, which AWS ends on its own")


@pytest.mark.step("5.2")
def test_replication_group_node_type_is_cache_t3_micro(lab):
    group = elasticache.replication_group(lab.client("elasticache"))
    node_type = require(group).get("CacheNodeType")
    assert node_type == naming.CACHE_NODE_TYPE, (
        f"{group.subject}: node type is {node_type}, expected {naming.CACHE_NODE_TYPE}"
    )


@pytest.mark.step("5.2")
def test_replication_group_has_automatic_failover_enabled(lab):
    group = elasticache.replication_group(lab.client("elasticache"))
    failover = require(group).get("AutomaticFailover")
    assert failover == "enabled", f"{group.subject}: AutomaticFailover is {failover}, expected enabled"


@pytest.mark.step("5.2")
def test_replication_group_has_multi_az_enabled(lab):
    group = elasticache.replication_group(lab.client("elasticache"))
    multi_az = require(group).get("MultiAZ")
    assert multi_az == "enabled", f"{group.subject}: MultiAZ is {multi_az}, expected enabled"


@pytest.mark.step("5.2")
def test_replication_group_runs_redis_7(lab):
    group = elasticache.replication_group(lab.client("elasticache"))
    engine = require(group).get("Engine")  # newer API versions report it on the group
    assert engine in (None, naming.CACHE_ENGINE), (
        f"{group.subject}: engine is {engine}, expected {naming.CACHE_ENGINE}"
    )
    for cluster in _member_clusters(lab, group, f"engine version of {GROUP}"):
        assert (cluster.get("Engine"), cluster.get("EngineVersion", "").split(".")[0]) == (naming.CACHE_ENGINE, "7"), (
            f"{group.subject}: cluster {cluster['CacheClusterId']} runs "
            f"{cluster.get('Engine')} {cluster.get('EngineVersion')}, expected redis 7.x"
        )


@pytest.mark.step("5.2")
def test_replication_group_uses_the_cache_security_group(lab):
    # Lab 1.2's group, found by Lab 1's rule.
    security_group = LabNetwork(lab.clients).security_group(naming.CACHE_SG)
    require(security_group)
    group = elasticache.replication_group(lab.client("elasticache"))
    for cluster in _member_clusters(lab, group, f"security groups of {GROUP}"):
        attached = sorted(sg["SecurityGroupId"] for sg in cluster.get("SecurityGroups", ()))
        assert attached == [security_group["GroupId"]], (
            f"{group.subject}: cluster {cluster['CacheClusterId']} has security groups {attached}, "
            f"expected only {security_group.subject} ({security_group['GroupId']})"
        )


@pytest.mark.step("5.2")
def test_replication_group_clusters_use_the_cache_subnet_group(lab):
    group = elasticache.replication_group(lab.client("elasticache"))
    for cluster in _member_clusters(lab, group, f"cache subnet group of {GROUP}"):
        assert cluster.get("CacheSubnetGroupName") == naming.CACHE_SUBNET_GROUP, (
            f"{group.subject}: cluster {cluster['CacheClusterId']} is in cache subnet group "
            f"{cluster.get('CacheSubnetGroupName')}, expected {naming.CACHE_SUBNET_GROUP}"
        )


@pytest.mark.step("5.2")
def test_replication_group_has_two_member_clusters(lab):
    group = elasticache.replication_group(lab.client("elasticache"))
    members = require(group).get("MemberClusters", [])
    if lab.emulated and len(members) == 1:
        emulator_limited(f"member count of {GROUP}: moto ignores NumCacheClusters=2 and creates one cluster")
    assert len(members) == naming.CACHE_NODES, (
        f"{group.subject}: {len(members)} member clusters {members}, expected {naming.CACHE_NODES} "
        "(a primary and a replica)"
    )


# --- 5.2 the replica (data plane, read-only) ----------------------------------------------------

def _replication_info(lab, role: str) -> dict:
    with lab.redis(role) as client:
        return client.info("replication")


@pytest.mark.step("5.2")
def test_redis_replica_has_the_replica_role(lab):
    role = _replication_info(lab, REDIS_REPLICA).get("role")
    assert role == "slave", f"replication group {GROUP}: the replica's INFO replication says role {role}, expected slave"


@pytest.mark.step("5.2")
def test_redis_replica_link_is_up_and_catches_up_with_the_primary(lab):
    target = _replication_info(lab, REDIS_PRIMARY).get("master_repl_offset", 0)
    seen = {}

    def caught_up():
        info = _replication_info(lab, REDIS_REPLICA)
        seen.update(link=info.get("master_link_status"), offset=info.get("slave_repl_offset"))
        return seen["link"] == "up" and (seen["offset"] or 0) >= target

    # The primary's offset at the start is a point the replica must reach, however busy the primary is.
    try:
        wait_until(caught_up, timeout=lab.convergence_wait(), what="replica catching up", retry_on=())
    except DeadlineExceeded:
        pytest.fail(f"replication group {GROUP}: the replica's master_link_status is {seen.get('link')} and its "
                    f"offset {seen.get('offset')} did not reach the primary's {target} {lab.convergence_limit}")


ELASTICACHE_READ_ONLY = (f"the replica of {GROUP} is ElastiCache's: it blocks CONFIG, and its replicas are read-only "
                         "by construction (no setting a student can change); only a write would show it, and grading "
                         "never writes. Verified on the local lab only")


@pytest.mark.step("5.2")
@pytest.mark.emulated_only(ELASTICACHE_READ_ONLY)
def test_redis_replica_is_read_only(lab):
    with lab.redis(REDIS_REPLICA) as client:
        try:
            setting = client.config_get("replica-read-only").get("replica-read-only")
        except ResponseError as exc:
            # A bound server that manages this setting itself, as ElastiCache does: nothing to read.
            not_reachable(f"CONFIG GET is refused on the replica of {GROUP} ({exc}); ElastiCache manages this setting")
    assert setting == "yes", f"replication group {GROUP}: the replica's replica-read-only is {setting}, expected yes"

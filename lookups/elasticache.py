"""Lab 5's cache subnet group (5.1) and Redis replication group (5.2), found by the lab's names.

Both names are unique in an account's region, so there is never a choice to make. The lab's
private subnets and the cache security group are Lab 1's: they come from lookups/network.py,
by the same rule every lab uses.
"""

from __future__ import annotations

from provisioning import naming
from provisioning.errors import unless_missing

from .found import Found, unique

SUBNET_GROUP = naming.CACHE_SUBNET_GROUP
GROUP = naming.REPLICATION_GROUP

# Replication group statuses (ElastiCache API, ReplicationGroup.Status). The lab waits for
# `available`; a group that is modifying (a change applied to it) or snapshotting (its daily
# backup) exists and serves, and AWS moves it back on its own.
SERVING_STATUSES = frozenset({"available", "modifying", "snapshotting"})
# Not there yet, being deleted, or never made: the step is not done.
NOT_SERVING_STATUSES = frozenset({"creating", "deleting", "create-failed"})


def serves(status: str) -> bool | None:
    """Whether a group in this status exists and serves; None for a status the grader does not know."""
    return True if status in SERVING_STATUSES else False if status in NOT_SERVING_STATUSES else None


def describe_subnet_group(elasticache) -> dict | None:
    return unless_missing(lambda: elasticache.describe_cache_subnet_groups(
        CacheSubnetGroupName=SUBNET_GROUP)["CacheSubnetGroups"][0])


def describe_replication_group(elasticache) -> dict | None:
    """The group's description, None when there is none (provisioning polls on this)."""
    return unless_missing(lambda: elasticache.describe_replication_groups(
        ReplicationGroupId=GROUP)["ReplicationGroups"][0])


def subnet_group(elasticache) -> Found:
    return unique(f"cache subnet group {SUBNET_GROUP}", describe_subnet_group(elasticache), f"cache subnet group named {SUBNET_GROUP}")


def replication_group(elasticache) -> Found:
    return unique(f"ElastiCache replication group {GROUP}", describe_replication_group(elasticache), f"replication group with id {GROUP}")


def member_clusters(elasticache, group: dict | Found) -> list[dict]:
    """The group's cache clusters (engine, version, security groups live there). Members the
    service does not describe are left out: moto describes none."""
    clusters = []
    for cluster_id in group.get("MemberClusters", ()):
        clusters += unless_missing(
            lambda: elasticache.describe_cache_clusters(CacheClusterId=cluster_id)["CacheClusters"]) or []
    return clusters


def subnet_group_ids(group: dict | Found) -> set[str]:
    return {subnet["SubnetIdentifier"] for subnet in group.get("Subnets", ())}

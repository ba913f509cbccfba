"""The checks' view "as on AWS": the few answers moto gives short (local-engines.md), completed
the way AWS gives them, from what moto itself recorded.

Locally six checks can only report emulator-limited. To prove that they fail for the right
reason, the fault runner also grades the environment through this view, where they pass on
the reference environment and must fail under their faults. It never changes what moto
answers elsewhere, and the suite itself never uses it.
"""

from __future__ import annotations

from botocore.awsrequest import AWSResponse
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from provisioning import naming

CLUSTER_ID_KEY = "dblab_cache_cluster_id"


def elasticache_backend():
    return get_backend("elasticache")[DEFAULT_ACCOUNT_ID][naming.REGION]


class AwsAnswers:
    def __init__(self):
        self.standby_in_primary_zone = False  # a fault: AWS reports the standby next to the primary

    def install(self, session) -> None:
        """Register on a boto3 session before its clients are made (clients copy the handlers)."""
        events = session.events
        events.register("after-call.rds.DescribeDBInstances", self._standby_zone)
        events.register("before-parameter-build.elasticache.DescribeCacheClusters", self._remember_cluster)
        events.register("before-call.elasticache.DescribeCacheClusters", self._cache_cluster)

    # moto never reports SecondaryAvailabilityZone; AWS names the standby's zone for Multi-AZ.
    def _standby_zone(self, parsed, **kwargs) -> None:
        for db in parsed.get("DBInstances", ()):
            if db.get("MultiAZ") and not db.get("SecondaryAvailabilityZone"):
                zone = db.get("AvailabilityZone")
                other = naming.AZ_B if zone == naming.AZ_A else naming.AZ_A
                db["SecondaryAvailabilityZone"] = zone if self.standby_in_primary_zone else other

    @staticmethod
    def _remember_cluster(params, context, **kwargs) -> None:
        context[CLUSTER_ID_KEY] = params.get("CacheClusterId")

    # moto describes no member cluster of a replication group; AWS describes each, with the
    # engine, security groups and subnet group the group was created with (moto records those).
    @staticmethod
    def _cache_cluster(context, **kwargs):
        cluster_id = context.get(CLUSTER_ID_KEY)
        for group in elasticache_backend().replication_groups.values():
            if cluster_id in group.member_clusters:
                cluster = {
                    "CacheClusterId": cluster_id,
                    "ReplicationGroupId": group.replication_group_id,
                    "CacheClusterStatus": "available",
                    "CacheNodeType": group.cache_node_type,
                    "Engine": group.engine,
                    "EngineVersion": group.engine_version,
                    "CacheSubnetGroupName": group.cache_subnet_group_name,
                    "SecurityGroups": [{"SecurityGroupId": sg, "Status": "active"}
                                       for sg in group.security_group_ids or ()],
                }
                return AWSResponse(None, 200, {}, None), {"CacheClusters": [cluster]}
        return None  # not a member: moto answers


def two_member_clusters():
    """moto ignores NumCacheClusters=2 and records one member; AWS creates two. Returns an undo."""
    group = elasticache_backend().replication_groups[naming.REPLICATION_GROUP]
    before = list(group.member_clusters)
    group.member_clusters = [f"{naming.REPLICATION_GROUP}-{n:03d}" for n in range(1, naming.CACHE_NODES + 1)]

    def undo():
        group.member_clusters = before
    return undo

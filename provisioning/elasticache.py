"""Lab 5: the cache subnet group (5.1), the Redis replication group (5.2), the lab's cache
app (5.3); and its cleanup (7.1).

Everything is found by the lab's names, through the look-ups the checks use (lookups/: the
private subnets and the cache security group by Lab 1's rule, the groups by their ids), so a
re-run adopts what exists and cleanup works on what a student or a crashed run left.
"""

from __future__ import annotations

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from lookups.elasticache import describe_replication_group, describe_subnet_group, subnet_group_ids
from lookups.network import private_subnets, security_group

from . import naming
from .apps.cache import LEADERBOARD_KEY, lab_final_standings, run_lab_app
from .context import ProvisionContext
from .dataplane import REDIS_PRIMARY
from .errors import error_code
from .polling import Progress, wait_until

SUBNET_GROUP = naming.CACHE_SUBNET_GROUP
GROUP = naming.REPLICATION_GROUP
SUBNET_GROUP_DESCRIPTION = "Cache subnet group for lab"
GROUP_DESCRIPTION = "Redis cluster for lab"
# Statuses a replication group passes through on its own; anything else is where it stays.
TRANSITIONAL = ("creating", "modifying", "snapshotting")


# --- 5.1 ---------------------------------------------------------------------------------------

def create_cache_subnet_group(ctx: ProvisionContext) -> dict:
    elasticache = ctx.clients("elasticache")
    subnets = private_subnets(ctx.clients("ec2")).values()
    absent = [found.not_found for found in subnets if not found]
    if absent:
        raise LookupError("; ".join(absent))
    wanted = [found["SubnetId"] for found in subnets]
    existing = describe_subnet_group(elasticache)
    if existing is None:
        try:
            return elasticache.create_cache_subnet_group(
                CacheSubnetGroupName=SUBNET_GROUP,
                CacheSubnetGroupDescription=SUBNET_GROUP_DESCRIPTION,
                SubnetIds=wanted,
                Tags=naming.lab_tags(ctx.run_id, SUBNET_GROUP),
            )["CacheSubnetGroup"]
        except ClientError as error:
            if error_code(error) != "CacheSubnetGroupAlreadyExists":
                raise
            existing = describe_subnet_group(elasticache)  # created meanwhile: adopt it
    if subnet_group_ids(existing) != set(wanted):
        ctx.log(f"cache subnet group {SUBNET_GROUP}: adopted, but its subnets "
                f"{sorted(subnet_group_ids(existing))} are not the lab's private subnets {sorted(wanted)}")
    else:
        ctx.log(f"cache subnet group {SUBNET_GROUP}: adopted")
    return existing


# --- 5.2 ---------------------------------------------------------------------------------------

def replication_group_request(ctx: ProvisionContext, security_group_id: str) -> dict:
    """Lab 5.2's create-replication-group, as API arguments."""
    return dict(
        ReplicationGroupId=GROUP,
        ReplicationGroupDescription=GROUP_DESCRIPTION,
        Engine=naming.CACHE_ENGINE,
        EngineVersion=naming.CACHE_ENGINE_VERSION,
        CacheNodeType=naming.CACHE_NODE_TYPE,
        NumCacheClusters=naming.CACHE_NODES,
        CacheSubnetGroupName=SUBNET_GROUP,
        SecurityGroupIds=[security_group_id],
        AutomaticFailoverEnabled=True,
        MultiAZEnabled=True,
        Tags=naming.lab_tags(ctx.run_id, GROUP),
    )


def _settled(elasticache, progress=lambda state: state) -> dict | None:
    group = describe_replication_group(elasticache)
    if group is None:
        raise LookupError(f"replication group {GROUP} does not exist")
    return None if progress(group["Status"]) in TRANSITIONAL else group


def wait_settled(elasticache, timeout: float, log=None) -> dict:
    progress = Progress(log, f"replication group {GROUP}")
    return wait_until(lambda: _settled(elasticache, progress), timeout=timeout,
                      what=f"replication group {GROUP} leaving creating/modifying").value


def wait_available(elasticache, timeout: float, log=None) -> dict:
    # Not the boto3 waiter: its fixed 15 s delay and 40 attempts ignore the run's deadline.
    group = wait_settled(elasticache, timeout, log)
    if group["Status"] != "available":
        raise RuntimeError(f"replication group {GROUP} is {group['Status']}, not available")
    return group


def _differences(group: dict) -> list[str]:
    found = []
    if group.get("CacheNodeType") != naming.CACHE_NODE_TYPE:
        found.append(f"node type {group.get('CacheNodeType')}")
    if group.get("AutomaticFailover") not in ("enabled", "enabling"):
        found.append(f"automatic failover {group.get('AutomaticFailover')}")
    if group.get("MultiAZ") != "enabled":
        found.append(f"Multi-AZ {group.get('MultiAZ')}")
    return found


def create_replication_group(ctx: ProvisionContext) -> dict:
    elasticache = ctx.clients("elasticache")
    existing = describe_replication_group(elasticache)
    if existing is not None and existing["Status"] == "deleting":
        if ctx.emulated:
            # moto never finishes a deletion, so the name stays taken until the emulator resets.
            raise RuntimeError(f"replication group {GROUP} is still 'deleting' on the emulator "
                               "(moto never completes a deletion); reset the emulator and provision again")
        wait_until(lambda: describe_replication_group(elasticache) is None, timeout=ctx.timeout,
                   what=f"replication group {GROUP} deleted before it is created again")
        existing = None
    if existing is None:
        cache_sg = security_group(ctx.clients("ec2"), naming.CACHE_SG)
        if not cache_sg:
            raise LookupError(f"{cache_sg.not_found} (Lab 1.2)")
        try:
            elasticache.create_replication_group(**replication_group_request(ctx, cache_sg["GroupId"]))
        except ClientError as error:
            if error_code(error) != "ReplicationGroupAlreadyExists":
                raise
            ctx.log(f"replication group {GROUP}: created meanwhile, adopted")
    else:
        differences = _differences(existing)
        ctx.log(f"replication group {GROUP}: adopted"
                + (f", but it differs from the lab: {', '.join(differences)}" if differences else ""))
    group = wait_available(elasticache, ctx.timeout, ctx.log)
    endpoint = (group.get("NodeGroups") or [{}])[0].get("PrimaryEndpoint", {}).get("Address")
    ctx.log(f"replication group {GROUP}: available, primary endpoint {endpoint}")
    return group


# --- 5.3 ---------------------------------------------------------------------------------------

def run_cache_app(ctx: ProvisionContext):
    mysql = ctx.dataplane.mysql.get(naming.DB_INSTANCE)
    redis_endpoint = ctx.dataplane.redis.get(REDIS_PRIMARY)
    if mysql is None or redis_endpoint is None:
        missing = " and ".join(name for name, bound in ((naming.DB_INSTANCE, mysql), (GROUP, redis_endpoint))
                               if bound is None)
        ctx.log(f"lab 5.3 app: not run, no data-plane binding for {missing} (private subnet; pass a tunnel)")
        return None
    client = redis_endpoint.connect()
    try:
        # The app's lasting result is the leaderboard; its other keys expire. A second run would
        # only add another session, so an existing end state is adopted.
        if client.zrevrange(LEADERBOARD_KEY, 0, -1, withscores=True) == lab_final_standings():
            ctx.log(f"lab 5.3 app: adopted, {LEADERBOARD_KEY} already holds the app's final standings")
            return None
        run = run_lab_app(mysql, client)
    finally:
        client.close()
    allowed = sum(1 for ok, _ in run.rate_limit if ok)
    ctx.log(f"lab 5.3 app: read hit/miss {run.first_read_hit}/{run.second_read_hit}, "
            f"{allowed} of {len(run.rate_limit)} rate-limited requests allowed, "
            f"leader {run.top_after_bonus[0][0]}, {len(run.key_ttls)} key(s)")
    return run


# --- 7.1 ---------------------------------------------------------------------------------------

def _delete_replication_group(ctx: ProvisionContext, elasticache) -> None:
    group = describe_replication_group(elasticache)
    if group is None:
        ctx.log(f"replication group {GROUP}: already gone")
        return
    if group["Status"] in TRANSITIONAL:  # AWS refuses to delete a group that is still creating
        group = wait_settled(elasticache, ctx.timeout, ctx.log)
    if group["Status"] != "deleting":
        try:
            # No final snapshot: the API takes none unless FinalSnapshotIdentifier is given
            # (the lab's --no-final-snapshot option does not exist, erratum 4).
            elasticache.delete_replication_group(ReplicationGroupId=GROUP)
        except ClientError as error:
            if error_code(error) == "ReplicationGroupNotFoundFault":
                ctx.log(f"replication group {GROUP}: already gone")
                return
            if error_code(error) != "InvalidReplicationGroupState":  # deleting meanwhile
                raise
    if ctx.emulated:
        if describe_replication_group(elasticache) is not None:
            ctx.log(f"replication group {GROUP}: left 'deleting' (moto never completes a deletion)")
        return
    deleted = wait_until(lambda: describe_replication_group(elasticache) is None, timeout=ctx.timeout,
                         what=f"replication group {GROUP} deleted")
    ctx.log(f"replication group {GROUP}: deleted in {deleted.seconds:.0f}s")


def _delete_subnet_group(ctx: ProvisionContext, elasticache) -> None:
    if describe_subnet_group(elasticache) is None:
        ctx.log(f"cache subnet group {SUBNET_GROUP}: already gone")
        return
    try:
        elasticache.delete_cache_subnet_group(CacheSubnetGroupName=SUBNET_GROUP)
    except ClientError as error:
        if error_code(error) == "CacheSubnetGroupNotFoundFault":
            ctx.log(f"cache subnet group {SUBNET_GROUP}: already gone")
            return
        if ctx.emulated and error_code(error) == "CacheSubnetGroupInUse" and _still_deleting(elasticache):
            # AWS frees the subnet group once the group is gone; moto never gets there.
            ctx.log(f"cache subnet group {SUBNET_GROUP}: left in place, in use by {GROUP}, which the emulator "
                    "never finishes deleting")
            return
        if not (ctx.emulated and error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 500):
            raise
        ctx.log(f"cache subnet group {SUBNET_GROUP}: left in place, the emulator does not implement its deletion")
        return
    except ResponseParserError:
        # moto answers DeleteCacheSubnetGroup with an HTML 500 page ("not implemented").
        if not ctx.emulated:
            raise
        ctx.log(f"cache subnet group {SUBNET_GROUP}: left in place, the emulator does not implement its deletion")
        return
    ctx.log(f"cache subnet group {SUBNET_GROUP}: deleted")


def _still_deleting(elasticache) -> bool:
    group = describe_replication_group(elasticache)
    return group is not None and group["Status"] == "deleting"


def delete_cache(ctx: ProvisionContext) -> None:
    elasticache = ctx.clients("elasticache")
    _delete_replication_group(ctx, elasticache)
    # Only after the group is gone: AWS refuses to delete a subnet group in use.
    _delete_subnet_group(ctx, elasticache)

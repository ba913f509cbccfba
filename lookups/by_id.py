"""Is a resource a run's journal names still there? Read-only, by the id AWS returned.

The sweeper asks this for each `created` entry of a run journal (provisioning/journal.py) that
no later `deleted` entry cancels: the lab's names find the lab, the journal finds what a run
made whatever it is called. An answer of "not found" (any service's NotFound) means gone.
"""

from __future__ import annotations

from provisioning.errors import unless_missing

from .inventory import Leftover


def _first(items):
    return items[0] if items else None


def _ec2(clients, kind: str, resource_id: str) -> Leftover | None:
    ec2 = clients("ec2")
    describe = {
        "VPC": lambda: _first(ec2.describe_vpcs(VpcIds=[resource_id])["Vpcs"]),
        "subnet": lambda: _first(ec2.describe_subnets(SubnetIds=[resource_id])["Subnets"]),
        "internet gateway": lambda: _first(ec2.describe_internet_gateways(
            InternetGatewayIds=[resource_id])["InternetGateways"]),
        "route table": lambda: _first(ec2.describe_route_tables(RouteTableIds=[resource_id])["RouteTables"]),
        "security group": lambda: _first(ec2.describe_security_groups(GroupIds=[resource_id])["SecurityGroups"]),
        "key pair": lambda: _first(ec2.describe_key_pairs(KeyNames=[resource_id])["KeyPairs"]),
        "EC2 instance": lambda: _first([i for r in ec2.describe_instances(InstanceIds=[resource_id])["Reservations"]
                                        for i in r["Instances"]]),
    }[kind]
    found = unless_missing(describe)
    if found is None:
        return None
    if kind == "EC2 instance":
        state = found["State"]["Name"]
        if state == "terminated":
            return None
        return Leftover(kind, resource_id, state, {"InstanceType": found.get("InstanceType")})
    return Leftover(kind, resource_id)


def _rds(clients, kind: str, resource_id: str) -> Leftover | None:
    rds = clients("rds")
    if kind == "DB subnet group":
        found = unless_missing(lambda: rds.describe_db_subnet_groups(DBSubnetGroupName=resource_id)["DBSubnetGroups"])
        return Leftover(kind, resource_id) if found else None
    found = unless_missing(lambda: rds.describe_db_instances(DBInstanceIdentifier=resource_id)["DBInstances"])
    if not found:
        return None
    db = found[0]
    detail = {key: db[key] for key in ("DBInstanceClass", "MultiAZ", "AllocatedStorage") if key in db}
    return Leftover(kind, resource_id, db.get("DBInstanceStatus", ""), detail)


def _elasticache(clients, kind: str, resource_id: str) -> Leftover | None:
    elasticache = clients("elasticache")
    if kind == "cache subnet group":
        found = unless_missing(lambda: elasticache.describe_cache_subnet_groups(
            CacheSubnetGroupName=resource_id)["CacheSubnetGroups"])
        return Leftover(kind, resource_id) if found else None
    found = unless_missing(lambda: elasticache.describe_replication_groups(
        ReplicationGroupId=resource_id)["ReplicationGroups"])
    if not found:
        return None
    group = found[0]
    detail = {"CacheNodeType": group.get("CacheNodeType"), "NumCacheClusters": len(group.get("MemberClusters") or ())}
    return Leftover(kind, resource_id, group.get("Status", ""), {k: v for k, v in detail.items() if v})


def _dynamodb(clients, kind: str, resource_id: str) -> Leftover | None:
    table = unless_missing(lambda: clients("dynamodb").describe_table(TableName=resource_id)["Table"])
    return Leftover(kind, resource_id, table.get("TableStatus", "")) if table else None


SERVICES = {
    "VPC": _ec2, "subnet": _ec2, "internet gateway": _ec2, "route table": _ec2, "security group": _ec2,
    "key pair": _ec2, "EC2 instance": _ec2, "DB subnet group": _rds, "RDS instance": _rds,
    "cache subnet group": _elasticache, "ElastiCache replication group": _elasticache, "DynamoDB table": _dynamodb,
}


def still_there(clients, kind: str, resource_id: str) -> Leftover | None:
    """The resource as a Leftover when it still exists; None when AWS no longer knows it."""
    lookup = SERVICES.get(kind)
    return lookup(clients, kind, resource_id) if lookup is not None else None

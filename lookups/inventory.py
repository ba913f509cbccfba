"""Find what is left of the lab in an account: read-only.

The lab's own verification queries (step 7.5) plus the pieces they miss (subnet groups,
security groups, key pair, bastion). Used by the 7.5 check, the grader's account summary and
the sweeper. Where a lab resource has a look-up, the inventory asks it, so "left over" and
"found by a check" can never disagree about what the lab's resources are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioning import naming
from provisioning.aws import AwsClients

from . import bastion, elasticache, network, rds


@dataclass(frozen=True)
class Leftover:
    kind: str
    id: str
    state: str = ""
    # What its price depends on (provisioning/costs.leftover_hourly): class, Multi-AZ, nodes.
    detail: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def resource_id(self) -> str:
        """The id AWS knows it by (a security group's is the sg-… after its name)."""
        return self.id.split()[-1]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}" + (f" ({self.state})" if self.state else "")


def rds_instances(clients: AwsClients) -> list[Leftover]:
    # By prefix, not the two identifiers: the lab's 7.5 query, which also finds replicas a student added.
    found = []
    for page in clients("rds").get_paginator("describe_db_instances").paginate():
        for db in page["DBInstances"]:
            if db["DBInstanceIdentifier"].startswith(naming.PREFIX):
                detail = {key: db[key] for key in ("DBInstanceClass", "MultiAZ", "AllocatedStorage") if key in db}
                found.append(Leftover("RDS instance", db["DBInstanceIdentifier"], db.get("DBInstanceStatus", ""), detail))
    return found


def db_subnet_groups(clients: AwsClients) -> list[Leftover]:
    group = rds.describe_db_subnet_group(clients("rds"))
    return [Leftover("DB subnet group", group["DBSubnetGroupName"])] if group else []


def dynamodb_tables(clients: AwsClients) -> list[Leftover]:
    found = []
    for page in clients("dynamodb").get_paginator("list_tables").paginate():
        found += [Leftover("DynamoDB table", name) for name in page["TableNames"] if naming.PREFIX in name]
    return found


def replication_groups(clients: AwsClients) -> list[Leftover]:
    found = []
    for page in clients("elasticache").get_paginator("describe_replication_groups").paginate():
        for group in page["ReplicationGroups"]:
            if group["ReplicationGroupId"].startswith(naming.PREFIX):
                detail = {"CacheNodeType": group.get("CacheNodeType"),
                          "NumCacheClusters": len(group.get("MemberClusters") or ()) or None}
                found.append(Leftover("ElastiCache replication group", group["ReplicationGroupId"], group.get("Status", ""),
                                      {key: value for key, value in detail.items() if value}))
    return found


def cache_subnet_groups(clients: AwsClients) -> list[Leftover]:
    group = elasticache.describe_subnet_group(clients("elasticache"))
    return [Leftover("cache subnet group", group["CacheSubnetGroupName"])] if group else []


def vpcs(clients: AwsClients) -> list[Leftover]:
    return [Leftover("VPC", v["VpcId"]) for v in network.vpcs(clients("ec2"))]


def security_groups(clients: AwsClients) -> list[Leftover]:
    # In any VPC: a group left in a VPC that lost its name is still the lab's.
    groups = clients("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": list(network.LAB_GROUPS)}])["SecurityGroups"]
    return [Leftover("security group", f"{g['GroupName']} {g['GroupId']}") for g in groups]


def bastions(clients: AwsClients) -> list[Leftover]:
    return [Leftover("EC2 instance", i["InstanceId"], i["State"]["Name"], {"InstanceType": i.get("InstanceType")})
            for i in bastion.bastions(clients("ec2"))]


def key_pairs(clients: AwsClients) -> list[Leftover]:
    pair = bastion.key_pair(clients("ec2"))
    return [Leftover("key pair", pair["KeyName"])] if pair else []


# The lab's 7.5 queries first, then what they do not look at.
LAB_VERIFICATION_QUERIES = (rds_instances, dynamodb_tables, replication_groups, vpcs)
EXTRA_QUERIES = (db_subnet_groups, cache_subnet_groups, security_groups, bastions, key_pairs)


def lab_leftovers(clients: AwsClients) -> list[Leftover]:
    found: list[Leftover] = []
    for query in LAB_VERIFICATION_QUERIES + EXTRA_QUERIES:
        found += query(clients)
    return found

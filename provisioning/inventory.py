"""Find what is left of the lab in an account: read-only.

The lab's own verification queries (step 7.5) plus the pieces they miss (subnet groups,
security groups, key pair, bastion). Used by the 7.5 check and by the sweeper.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from . import naming
from .aws import AwsClients
from .errors import is_missing

GONE_INSTANCE_STATES = {"terminated", "shutting-down"}


@dataclass(frozen=True)
class Leftover:
    kind: str
    id: str
    state: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.id}" + (f" ({self.state})" if self.state else "")


def rds_instances(clients: AwsClients) -> list[Leftover]:
    found = []
    for page in clients("rds").get_paginator("describe_db_instances").paginate():
        for db in page["DBInstances"]:
            if db["DBInstanceIdentifier"].startswith(naming.PREFIX):
                found.append(Leftover("RDS instance", db["DBInstanceIdentifier"], db.get("DBInstanceStatus", "")))
    return found


def db_subnet_groups(clients: AwsClients) -> list[Leftover]:
    try:
        groups = clients("rds").describe_db_subnet_groups(DBSubnetGroupName=naming.DB_SUBNET_GROUP)["DBSubnetGroups"]
    except ClientError as error:
        if is_missing(error):
            return []
        raise
    return [Leftover("DB subnet group", g["DBSubnetGroupName"]) for g in groups]


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
                found.append(Leftover("ElastiCache replication group", group["ReplicationGroupId"], group.get("Status", "")))
    return found


def cache_subnet_groups(clients: AwsClients) -> list[Leftover]:
    try:
        groups = clients("elasticache").describe_cache_subnet_groups(
            CacheSubnetGroupName=naming.CACHE_SUBNET_GROUP)["CacheSubnetGroups"]
    except ClientError as error:
        if is_missing(error):
            return []
        raise
    return [Leftover("cache subnet group", g["CacheSubnetGroupName"]) for g in groups]


def vpcs(clients: AwsClients) -> list[Leftover]:
    vpcs = clients("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [naming.VPC]}])["Vpcs"]
    return [Leftover("VPC", v["VpcId"]) for v in vpcs]


def security_groups(clients: AwsClients) -> list[Leftover]:
    names = [naming.EC2_SG, naming.RDS_SG, naming.CACHE_SG]
    groups = clients("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": names}])["SecurityGroups"]
    return [Leftover("security group", f"{g['GroupName']} {g['GroupId']}") for g in groups]


def bastions(clients: AwsClients) -> list[Leftover]:
    found = []
    reservations = clients("ec2").describe_instances(
        Filters=[{"Name": "tag:Name", "Values": [naming.BASTION]}])["Reservations"]
    for reservation in reservations:
        for instance in reservation["Instances"]:
            state = instance["State"]["Name"]
            if state not in GONE_INSTANCE_STATES:
                found.append(Leftover("EC2 instance", instance["InstanceId"], state))
    return found


def key_pairs(clients: AwsClients) -> list[Leftover]:
    try:
        pairs = clients("ec2").describe_key_pairs(KeyNames=[naming.KEY_PAIR])["KeyPairs"]
    except ClientError as error:
        if is_missing(error):
            return []
        raise
    return [Leftover("key pair", p["KeyName"]) for p in pairs]


# The lab's 7.5 queries first, then what they do not look at.
LAB_VERIFICATION_QUERIES = (rds_instances, dynamodb_tables, replication_groups, vpcs)
EXTRA_QUERIES = (db_subnet_groups, cache_subnet_groups, security_groups, bastions, key_pairs)


def lab_leftovers(clients: AwsClients) -> list[Leftover]:
    found: list[Leftover] = []
    for query in LAB_VERIFICATION_QUERIES + EXTRA_QUERIES:
        found += query(clients)
    return found

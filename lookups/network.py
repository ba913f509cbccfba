"""The lab's network, found by its names: the VPC (1.1), subnets, route tables, the internet
gateway and the security groups (1.2). Every lab finds these here, by the same rules.

Names can find more than one (a re-run of Lab 1.1 builds a second VPC with the same name, CIDR and
subnets: erratum 1). Given the lab's `usage` (lookups/usage.py), a look-up then takes the one the
lab's other resources use (the DB subnet group, the RDS instances, the bastion, the cache subnet
group, the replication group), and its evidence says so; without it (provisioning, which adopts
before those exist), the lab's settings and then the lowest id decide. Checks go through
`LabNetwork`, which always has the usage.
"""

from __future__ import annotations

from functools import cached_property

from provisioning import naming

from .filters import name_filter, vpc_filter
from .found import Found, choose, missing
from .usage import Usage, prefer_used

WORLD_IPV4 = "0.0.0.0/0"
WORLD_IPV6 = "::/0"
LAB_GROUPS = naming.SECURITY_GROUPS


def _subnet_id(subnet: dict) -> str:
    return subnet["SubnetId"]


def vpcs(ec2) -> list[dict]:
    """Every VPC tagged with the lab's name (the check about duplicates reads them all)."""
    return ec2.describe_vpcs(Filters=[name_filter(naming.VPC)])["Vpcs"]


def _vpc_id(vpc: dict) -> str:
    return vpc["VpcId"]


def vpc(ec2, usage: Usage | None = None) -> Found:
    candidates = vpcs(ec2)
    preferred, preference = prefer_used(usage, candidates, _vpc_id, lambda use: use.vpc_ids)
    if preferred is None:  # no evidence either way: the one with the lab's CIDR (the duplicate may not have it)
        preferred, preference = (lambda v: v.get("CidrBlock") == naming.VPC_CIDR), f"has the lab's CIDR {naming.VPC_CIDR}"
    return choose(f"VPC {naming.VPC}", candidates, how=f"VPC tagged Name={naming.VPC}",
                  id_of=_vpc_id, preferred=preferred, preference=preference)


def _in_lab_vpc(ec2, lab_vpc: Found | None, usage: Usage | None = None) -> tuple[list[dict], str]:
    """Filters that keep a look-up inside the lab's VPC when there is one; without it, names
    alone still find the student's resources."""
    lab_vpc = vpc(ec2, usage) if lab_vpc is None else lab_vpc
    if lab_vpc:
        return [vpc_filter(lab_vpc["VpcId"])], f" in {lab_vpc.subject} ({lab_vpc['VpcId']})"
    return [], ""


def subnet(ec2, name: str, lab_vpc: Found | None = None, usage: Usage | None = None) -> Found:
    filters, where = _in_lab_vpc(ec2, lab_vpc, usage)
    found = ec2.describe_subnets(Filters=filters + [name_filter(name)])["Subnets"]
    preferred, preference = prefer_used(usage, found, _subnet_id, lambda use: use.subnet_ids)
    if preferred is None:
        expected_cidr = naming.SUBNETS.get(name, (None,))[0]
        preferred, preference = (lambda s: s.get("CidrBlock") == expected_cidr), f"has the lab's CIDR {expected_cidr}"
    return choose(f"subnet {name}", found, how=f"subnet tagged Name={name}{where}", id_of=_subnet_id,
                  preferred=preferred, preference=preference)


def private_subnets(ec2, lab_vpc: Found | None = None, usage: Usage | None = None) -> dict[str, Found]:
    """The lab's two private subnets by name (RDS and ElastiCache subnet groups use them)."""
    lab_vpc = vpc(ec2, usage) if lab_vpc is None else lab_vpc
    return {name: subnet(ec2, name, lab_vpc, usage) for name in naming.PRIVATE_SUBNETS}


def subnet_names(ec2, subnet_ids) -> dict[str, str]:
    """subnet id -> its Name tag ("unnamed" without one), for messages."""
    ids = sorted(subnet_ids)
    if not ids:
        return {}
    subnets = ec2.describe_subnets(SubnetIds=ids)["Subnets"]
    return {s["SubnetId"]: naming.tag_value(s.get("Tags"), "Name") or "unnamed" for s in subnets}


def _group_id(group: dict) -> str:
    return group["GroupId"]


def security_group(ec2, name: str, lab_vpc: Found | None = None, usage: Usage | None = None) -> Found:
    # A name is unique within a VPC: there is a choice only when no lab VPC narrows the search.
    filters, where = _in_lab_vpc(ec2, lab_vpc, usage)
    groups = ec2.describe_security_groups(Filters=filters + [{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    preferred, preference = prefer_used(usage, groups, _group_id, lambda use: use.group_ids)
    return choose(f"security group {name}", groups, how=f"security group named {name}{where}",
                  id_of=_group_id, preferred=preferred, preference=preference)


def route_table(ec2, name: str, lab_vpc: Found | None = None) -> Found:
    filters, where = _in_lab_vpc(ec2, lab_vpc)
    tables = ec2.describe_route_tables(Filters=filters + [name_filter(name)])["RouteTables"]
    return choose(f"route table {name}", tables, how=f"route table tagged Name={name}{where}",
                  id_of=lambda t: t["RouteTableId"])


def attached_internet_gateways(ec2, vpc_id: str) -> list[dict]:
    return ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]


def main_route_table(ec2, vpc_id: str) -> dict | None:
    tables = ec2.describe_route_tables(
        Filters=[vpc_filter(vpc_id), {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    return tables[0] if tables else None


def route_table_of_subnet(ec2, vpc_id: str, subnet_id: str) -> dict | None:
    """The table that routes a subnet: its explicit association, else the VPC's main table."""
    explicit = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["RouteTables"]
    return explicit[0] if explicit else main_route_table(ec2, vpc_id)


def not_found_in(subject: str, lab_vpc: Found) -> Found:
    """A resource that needs the lab's VPC, when that VPC is missing."""
    return missing(subject, lab_vpc.not_found)


class LabNetwork:
    """The lab's network as a check sees it: the VPC found once, and every choice among
    duplicates made by what the lab's other resources use (lookups/usage.py)."""

    def __init__(self, clients):
        self.ec2 = clients("ec2")
        self.usage = Usage(clients)

    @cached_property
    def vpc(self) -> Found:
        return vpc(self.ec2, self.usage)

    def subnet(self, name: str) -> Found:
        return subnet(self.ec2, name, self.vpc, self.usage)

    def private_subnets(self) -> dict[str, Found]:
        return private_subnets(self.ec2, self.vpc, self.usage)

    def security_group(self, name: str) -> Found:
        return security_group(self.ec2, name, self.vpc, self.usage)

    def route_table(self, name: str) -> Found:
        return route_table(self.ec2, name, self.vpc)

"""Lab 1, the network: the VPC, its subnets and route tables (1.1), and the security groups (1.2).

Read-only: every subject is found by the lab's names (tags, group names), so these checks grade
an account built by hand as well as one built by provisioning. Where names find two (Lab 1.1 run
twice), the one the lab's other resources use is graded (lookups.network.LabNetwork): the
duplicate costs the check about duplicates, nothing else.
"""

from __future__ import annotations

import ipaddress

import pytest

from fixtures.checks import require
from fixtures.config import get_config
from lookups import network
from lookups.network import LAB_GROUPS, WORLD_IPV4, WORLD_IPV6, LabNetwork
from provisioning import naming


def ingress_rules(group: dict) -> list[tuple]:
    """One (protocol, from port, to port, source) per source of every ingress permission."""
    rules = []
    for permission in group.get("IpPermissions", ()):
        head = (permission.get("IpProtocol"), permission.get("FromPort"), permission.get("ToPort"))
        rules += [head + (r["CidrIp"],) for r in permission.get("IpRanges", ())]
        rules += [head + (r["CidrIpv6"],) for r in permission.get("Ipv6Ranges", ())]
        rules += [head + (r["GroupId"],) for r in permission.get("UserIdGroupPairs", ()) if r.get("GroupId")]
        rules += [head + (r["PrefixListId"],) for r in permission.get("PrefixListIds", ())]
    return sorted(rules, key=str)


def describe_rules(rules: list[tuple], names: dict[str, str] | None = None) -> str:
    names = names or {}
    if not rules:
        return "no ingress rules"
    shown = []
    for protocol, low, high, source in rules:
        protocol = "all traffic" if protocol == "-1" else protocol
        ports = "" if low is None or low == -1 else (f" {low}" if low == high else f" {low}-{high}")
        shown.append(f"{protocol}{ports} from {names.get(source, source)}")
    return ", ".join(shown)


# --- 1.1 the network ---------------------------------------------------------------------------

@pytest.mark.step("1.1")
def test_exactly_one_vpc_is_named_database_lab_vpc(lab):
    vpc = LabNetwork(lab.clients).vpc
    vpcs = [vpc.resource, *vpc.others] if vpc else []
    if not vpcs:
        pytest.fail(f"{vpc.subject}: no VPC carries the name; expected exactly one ({vpc.evidence})")
    # The evidence names the one graded (the one the lab's resources use): the others are to delete.
    assert len(vpcs) == 1, (f"{vpc.subject}: {len(vpcs)} VPCs carry the name; expected exactly one ({vpc.evidence}): "
                            f"delete {', '.join(v['VpcId'] for v in vpc.others)}")


@pytest.mark.step("1.1")
def test_vpc_has_the_lab_cidr(lab):
    vpc = LabNetwork(lab.clients).vpc
    require(vpc)
    assert vpc["CidrBlock"] == naming.VPC_CIDR, f"{vpc.subject}: CIDR is {vpc['CidrBlock']}, expected {naming.VPC_CIDR}"


@pytest.mark.step("1.1")
def test_vpc_has_dns_hostnames_enabled(lab):
    vpc = LabNetwork(lab.clients).vpc
    attribute = lab.client("ec2").describe_vpc_attribute(VpcId=require(vpc)["VpcId"], Attribute="enableDnsHostnames")
    assert attribute["EnableDnsHostnames"].get("Value") is True, f"{vpc.subject}: EnableDnsHostnames is off"


@pytest.mark.step("1.1")
def test_internet_gateway_is_attached_to_the_vpc(lab):
    vpc = LabNetwork(lab.clients).vpc
    gateways = network.attached_internet_gateways(lab.client("ec2"), require(vpc)["VpcId"])
    assert gateways, f"{vpc.subject}: no internet gateway attached (the lab attaches {naming.IGW})"


@pytest.mark.step("1.1")
@pytest.mark.parametrize("name", list(naming.SUBNETS))
def test_subnet_has_the_lab_cidr_and_zone(lab, name):
    subnet = LabNetwork(lab.clients).subnet(name)
    require(subnet)
    # The lab's zones are zones a and b of the region it is graded in (us-east-1a/b in the lab's own).
    region = lab.clients.target.region
    expected = (naming.SUBNETS[name][0], naming.subnet_zone(name, region))
    actual = (subnet["CidrBlock"], subnet["AvailabilityZone"])
    assert actual == expected, (
        f"{subnet.subject}: is {actual[0]} in {actual[1]}, expected {expected[0]} in {expected[1]} "
        f"(zone {naming.SUBNET_ZONES[name]} of {region})")


@pytest.mark.step("1.1")
def test_public_route_table_sends_internet_traffic_to_the_gateway(lab):
    lab_network = LabNetwork(lab.clients)
    vpc = require(lab_network.vpc)
    table = lab_network.route_table(naming.PUBLIC_ROUTE_TABLE)
    require(table)
    gateways = {g["InternetGatewayId"] for g in network.attached_internet_gateways(lab_network.ec2, vpc["VpcId"])}
    default = [r for r in table.get("Routes", ()) if r.get("DestinationCidrBlock") == WORLD_IPV4]
    target = default[0].get("GatewayId") if default else None
    assert default and target in gateways and default[0].get("State", "active") == "active", (
        f"{table.subject}: 0.0.0.0/0 goes to {target or 'nowhere'}"
        f"{' (' + default[0].get('State') + ')' if default and default[0].get('State') else ''}, "
        f"expected the VPC's internet gateway {', '.join(sorted(gateways)) or '(none attached)'}"
    )


@pytest.mark.step("1.1")
def test_public_route_table_is_associated_with_the_public_subnet(lab):
    lab_network = LabNetwork(lab.clients)
    vpc = require(lab_network.vpc)
    subnet = lab_network.subnet(naming.PUBLIC_SUBNET_A)
    table = network.route_table_of_subnet(lab_network.ec2, vpc["VpcId"], require(subnet)["SubnetId"])
    name = naming.tag_value(table.get("Tags"), "Name") if table else None
    assert name == naming.PUBLIC_ROUTE_TABLE, (
        f"{subnet.subject}: routed by {name or (table or {}).get('RouteTableId', 'no table')}, "
        f"expected {naming.PUBLIC_ROUTE_TABLE}"
    )


@pytest.mark.step("1.1")
@pytest.mark.parametrize("name", naming.PRIVATE_SUBNETS)
def test_private_subnet_has_no_route_to_the_internet(lab, name):
    lab_network = LabNetwork(lab.clients)
    vpc = require(lab_network.vpc)
    subnet = lab_network.subnet(name)
    table = network.route_table_of_subnet(lab_network.ec2, vpc["VpcId"], require(subnet)["SubnetId"])
    assert table is not None, f"{subnet.subject}: no route table routes it"
    exits = [r for r in table.get("Routes", ())
             if (r.get("DestinationCidrBlock") == WORLD_IPV4 or r.get("DestinationIpv6CidrBlock") == WORLD_IPV6)
             and str(r.get("GatewayId", "")).startswith("igw-")]
    label = naming.tag_value(table.get("Tags"), "Name") or table["RouteTableId"]
    assert not exits, (
        f"{subnet.subject}: its route table {label} sends "
        + ", ".join(f"{r.get('DestinationCidrBlock') or r.get('DestinationIpv6CidrBlock')} to {r['GatewayId']}" for r in exits)
        + "; a private subnet must not route to an internet gateway"
    )


# --- 1.2 security groups -------------------------------------------------------------------------

def _same_network(source: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_network(source, strict=False) == ipaddress.ip_network(cidr, strict=False)
    except ValueError:  # a group id or a prefix list: not an address range
        return False


def _without_the_grader(rules: list[tuple], grader_cidr: str | None) -> list[tuple]:
    """The rules but those from exactly the grader's declared range (--lab-grader-cidr): the
    instructor added it for the grader's SSH tunnel over the bastion, the student did not. When it
    is the only rule, it is kept: then it is the student's own address too."""
    if not grader_cidr:
        return rules
    kept = [rule for rule in rules if not _same_network(rule[3], grader_cidr)]
    return kept or rules


def declared_grader_cidr(request) -> str | None:
    """--lab-grader-cidr of this run; None for a check called outside a pytest run (the suite's own
    tests call checks directly, with a stand-in request that has no config)."""
    config = getattr(request, "config", None)
    return get_config(config).grader_cidr if config is not None else None


@pytest.mark.step("1.2")
def test_ec2_group_allows_only_ssh_from_one_address(lab, request):
    group, grader_cidr = LabNetwork(lab.clients).security_group(naming.EC2_SG), declared_grader_cidr(request)
    rules = _without_the_grader(ingress_rules(require(group)), grader_cidr)

    def one_address(source: str) -> bool:
        try:
            network = ipaddress.ip_network(source)
        except ValueError:
            return False
        return network.version == 4 and network.prefixlen == 32

    ok = len(rules) == 1 and rules[0][:3] == ("tcp", naming.SSH_PORT, naming.SSH_PORT) and one_address(rules[0][3])
    ignored = f" (besides the grader's {grader_cidr})" if grader_cidr else ""
    assert ok, (f"{group.subject}: ingress is {describe_rules(rules)}{ignored}; "
                f"expected exactly tcp {naming.SSH_PORT} from one IPv4 address (/32)")


def _allows_only_port_from_ec2_group(lab, name: str, port: int) -> None:
    lab_network = LabNetwork(lab.clients)
    ec2_group, group = lab_network.security_group(naming.EC2_SG), lab_network.security_group(name)
    rules = ingress_rules(require(group))
    expected = [("tcp", port, port, require(ec2_group)["GroupId"])]
    assert rules == expected, (
        f"{group.subject}: ingress is {describe_rules(rules, {ec2_group['GroupId']: naming.EC2_SG})}; "
        f"expected exactly tcp {port} from {naming.EC2_SG}"
    )


@pytest.mark.step("1.2")
def test_rds_group_allows_only_mysql_from_the_ec2_group(lab):
    _allows_only_port_from_ec2_group(lab, naming.RDS_SG, naming.MYSQL_PORT)


@pytest.mark.step("1.2")
def test_cache_group_allows_only_redis_from_the_ec2_group(lab):
    _allows_only_port_from_ec2_group(lab, naming.CACHE_SG, naming.REDIS_PORT)


@pytest.mark.step("1.2")
def test_no_lab_group_is_open_to_the_world(lab):
    # The grader's declared CIDR is never the world (settings refuse a /0), so its rule is never counted here.
    lab_network = LabNetwork(lab.clients)
    require(lab_network.vpc)
    groups = [g.resource for g in (lab_network.security_group(name) for name in LAB_GROUPS) if g]
    assert groups, f"{lab_network.vpc.subject}: none of the lab's security groups {', '.join(LAB_GROUPS)} exists"
    open_rules = [f"{g['GroupName']}: {describe_rules([rule])}" for g in groups for rule in ingress_rules(g)
                  if rule[3] in (WORLD_IPV4, WORLD_IPV6)]
    assert not open_rules, "open to the whole internet: " + "; ".join(open_rules)

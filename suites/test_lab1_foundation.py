"""Lab 1: the network (1.1), security groups (1.2), DB subnet group (1.3), the MySQL
primary (1.4) and the bastion (1.5).

Read-only: every subject is found by the lab's names (tags, group names, identifiers), so
these checks grade an account built by hand as well as one built by provisioning.
"""

from __future__ import annotations

import ipaddress
import logging
from contextlib import closing

import pymysql
import pytest

from fixtures.checks import require
from lookups import bastion, network, rds
from lookups.network import LAB_GROUPS, WORLD_IPV4, WORLD_IPV6
from provisioning import naming

log = logging.getLogger("dblab")


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
    vpc = network.vpc(lab.client("ec2"))
    vpcs = [vpc.resource, *vpc.others] if vpc else []
    assert len(vpcs) == 1, (
        f"{vpc.subject}: {len(vpcs)} VPCs carry the name ({', '.join(v['VpcId'] for v in vpcs) or 'none'}); "
        "expected exactly one"
    )


@pytest.mark.step("1.1")
def test_vpc_has_the_lab_cidr(lab):
    vpc = network.vpc(lab.client("ec2"))
    require(vpc)
    assert vpc["CidrBlock"] == naming.VPC_CIDR, f"{vpc.subject}: CIDR is {vpc['CidrBlock']}, expected {naming.VPC_CIDR}"


@pytest.mark.step("1.1")
def test_vpc_has_dns_hostnames_enabled(lab):
    vpc = network.vpc(lab.client("ec2"))
    attribute = lab.client("ec2").describe_vpc_attribute(VpcId=require(vpc)["VpcId"], Attribute="enableDnsHostnames")
    assert attribute["EnableDnsHostnames"].get("Value") is True, f"{vpc.subject}: EnableDnsHostnames is off"


@pytest.mark.step("1.1")
def test_internet_gateway_is_attached_to_the_vpc(lab):
    vpc = network.vpc(lab.client("ec2"))
    gateways = network.attached_internet_gateways(lab.client("ec2"), require(vpc)["VpcId"])
    assert gateways, f"{vpc.subject}: no internet gateway attached (the lab attaches {naming.IGW})"


@pytest.mark.step("1.1")
@pytest.mark.parametrize("name", list(naming.SUBNETS))
def test_subnet_has_the_lab_cidr_and_zone(lab, name):
    subnet = network.subnet(lab.client("ec2"), name)
    require(subnet)
    expected = naming.SUBNETS[name]
    actual = (subnet["CidrBlock"], subnet["AvailabilityZone"])
    assert actual == expected, f"{subnet.subject}: is {actual[0]} in {actual[1]}, expected {expected[0]} in {expected[1]}"


@pytest.mark.step("1.1")
def test_public_route_table_sends_internet_traffic_to_the_gateway(lab):
    ec2 = lab.client("ec2")
    vpc = network.vpc(ec2)
    require(vpc)
    table = network.route_table(ec2, naming.PUBLIC_ROUTE_TABLE, vpc)
    require(table)
    gateways = {g["InternetGatewayId"] for g in network.attached_internet_gateways(ec2, vpc["VpcId"])}
    default = [r for r in table.get("Routes", ()) if r.get("DestinationCidrBlock") == WORLD_IPV4]
    target = default[0].get("GatewayId") if default else None
    assert default and target in gateways and default[0].get("State", "active") == "active", (
        f"{table.subject}: 0.0.0.0/0 goes to {target or 'nowhere'}"
        f"{' (' + default[0].get('State') + ')' if default and default[0].get('State') else ''}, "
        f"expected the VPC's internet gateway {', '.join(sorted(gateways)) or '(none attached)'}"
    )


@pytest.mark.step("1.1")
def test_public_route_table_is_associated_with_the_public_subnet(lab):
    ec2 = lab.client("ec2")
    vpc = network.vpc(ec2)
    require(vpc)
    subnet = network.subnet(ec2, naming.PUBLIC_SUBNET_A, vpc)
    table = network.route_table_of_subnet(ec2, vpc["VpcId"], require(subnet)["SubnetId"])
    name = naming.tag_value(table.get("Tags"), "Name") if table else None
    assert name == naming.PUBLIC_ROUTE_TABLE, (
        f"{subnet.subject}: routed by {name or (table or {}).get('RouteTableId', 'no table')}, "
        f"expected {naming.PUBLIC_ROUTE_TABLE}"
    )


@pytest.mark.step("1.1")
@pytest.mark.parametrize("name", naming.PRIVATE_SUBNETS)
def test_private_subnet_has_no_route_to_the_internet(lab, name):
    ec2 = lab.client("ec2")
    vpc = network.vpc(ec2)
    require(vpc)
    subnet = network.subnet(ec2, name, vpc)
    table = network.route_table_of_subnet(ec2, vpc["VpcId"], require(subnet)["SubnetId"])
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

@pytest.mark.step("1.2")
def test_ec2_group_allows_only_ssh_from_one_address(lab):
    group = network.security_group(lab.client("ec2"), naming.EC2_SG)
    rules = ingress_rules(require(group))

    def one_address(source: str) -> bool:
        try:
            network = ipaddress.ip_network(source)
        except ValueError:
            return False
        return network.version == 4 and network.prefixlen == 32

    ok = len(rules) == 1 and rules[0][:3] == ("tcp", naming.SSH_PORT, naming.SSH_PORT) and one_address(rules[0][3])
    assert ok, (f"{group.subject}: ingress is {describe_rules(rules)}; "
                f"expected exactly tcp {naming.SSH_PORT} from one IPv4 address (/32)")


def _allows_only_port_from_ec2_group(lab, name: str, port: int) -> None:
    ec2 = lab.client("ec2")
    vpc = network.vpc(ec2)
    ec2_group, group = network.security_group(ec2, naming.EC2_SG, vpc), network.security_group(ec2, name, vpc)
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
    ec2 = lab.client("ec2")
    vpc = network.vpc(ec2)
    require(vpc)
    groups = [g.resource for g in (network.security_group(ec2, name, vpc) for name in LAB_GROUPS) if g]
    assert groups, f"{vpc.subject}: none of the lab's security groups {', '.join(LAB_GROUPS)} exists"
    open_rules = [f"{g['GroupName']}: {describe_rules([rule])}" for g in groups for rule in ingress_rules(g)
                  if rule[3] in (WORLD_IPV4, WORLD_IPV6)]
    assert not open_rules, "open to the whole internet: " + "; ".join(open_rules)


# --- 1.3 DB subnet group -------------------------------------------------------------------------

@pytest.mark.step("1.3")
def test_db_subnet_group_is_in_the_lab_vpc(lab):
    group, vpc = rds.db_subnet_group(lab.client("rds")), network.vpc(lab.client("ec2"))
    require(group)
    vpc_id = require(vpc)["VpcId"]
    assert group.get("VpcId") == vpc_id, (
        f"{group.subject}: in VPC {group.get('VpcId')}, expected {vpc.subject} ({vpc_id})")


@pytest.mark.step("1.3")
def test_db_subnet_group_holds_exactly_the_private_subnets(lab):
    group = rds.db_subnet_group(lab.client("rds"))
    require(group)
    expected = {require(subnet)["SubnetId"]: name for name, subnet in network.private_subnets(lab.client("ec2")).items()}
    actual = rds.subnet_ids(group)
    shown = ", ".join(sorted(expected.get(s, s) for s in actual)) or "none"
    assert actual == set(expected), (
        f"{group.subject}: subnets are {shown}, expected exactly {', '.join(naming.PRIVATE_SUBNETS)}")


@pytest.mark.step("1.3")
def test_db_subnet_group_spans_two_availability_zones(lab):
    group = rds.db_subnet_group(lab.client("rds"))
    zones = {s.get("SubnetAvailabilityZone", {}).get("Name") for s in require(group).get("Subnets", ())}
    assert len(zones) >= 2, (
        f"{group.subject}: spans {', '.join(sorted(map(str, zones))) or 'no zone'}; "
        "RDS needs subnets in at least two availability zones")


# --- 1.4 the primary instance --------------------------------------------------------------------

@pytest.mark.step("1.4")
def test_primary_is_available(lab):
    db = rds.primary(lab.client("rds"))
    require(db)
    assert db["DBInstanceStatus"] == "available", f"{db.subject}: status is {db['DBInstanceStatus']}, expected available"


@pytest.mark.step("1.4")
def test_primary_runs_mysql_8_0(lab):
    db = rds.primary(lab.client("rds"))
    require(db)
    engine, version = db.get("Engine"), str(db.get("EngineVersion", ""))
    ok = engine == naming.DB_ENGINE and (version == naming.DB_ENGINE_VERSION or version.startswith(naming.DB_ENGINE_VERSION + "."))
    assert ok, f"{db.subject}: engine is {engine} {version}, expected {naming.DB_ENGINE} {naming.DB_ENGINE_VERSION}.x"


@pytest.mark.step("1.4")
def test_primary_instance_class_is_db_t3_micro(lab):
    db = rds.primary(lab.client("rds"))
    require(db)
    actual = db.get("DBInstanceClass")
    assert actual == naming.DB_INSTANCE_CLASS, f"{db.subject}: class is {actual}, expected {naming.DB_INSTANCE_CLASS}"


@pytest.mark.step("1.4")
def test_primary_storage_is_20_gb_gp2(lab):
    db = rds.primary(lab.client("rds"))
    require(db)
    actual = (db.get("AllocatedStorage"), db.get("StorageType"))
    assert actual == (naming.DB_STORAGE_GB, naming.DB_STORAGE_TYPE), (
        f"{db.subject}: storage is {actual[0]} GB {actual[1]}, expected {naming.DB_STORAGE_GB} GB {naming.DB_STORAGE_TYPE}")


@pytest.mark.step("1.4")
def test_primary_keeps_backups_for_7_days(lab):
    db = rds.primary(lab.client("rds"))
    require(db)
    days = db.get("BackupRetentionPeriod")
    assert days == naming.DB_BACKUP_RETENTION_DAYS, (
        f"{db.subject}: BackupRetentionPeriod is {days}, expected {naming.DB_BACKUP_RETENTION_DAYS} "
        "(a read replica needs backups)")


@pytest.mark.step("1.4")
def test_primary_is_not_publicly_accessible(lab):
    db = rds.primary(lab.client("rds"))
    require(db)
    assert db.get("PubliclyAccessible") is False, f"{db.subject}: PubliclyAccessible is on"


@pytest.mark.step("1.4")
def test_primary_database_and_master_user_are_the_labs(lab):
    db = rds.primary(lab.client("rds"))
    require(db)
    actual = (db.get("DBName"), db.get("MasterUsername"))
    assert actual == (naming.DB_NAME, naming.DB_MASTER_USER), (
        f"{db.subject}: DBName {actual[0]}, master user {actual[1]}; expected {naming.DB_NAME} and {naming.DB_MASTER_USER}")


@pytest.mark.step("1.4")
def test_primary_is_tagged_environment_lab(lab):
    db = rds.primary(lab.client("rds"))
    require(db)
    key, value = naming.LAB_TAG
    actual = naming.tag_value(db.get("TagList"), key)
    assert actual == value, f"{db.subject}: tag {key} is {actual}, expected {value}"


@pytest.mark.step("1.4")
def test_primary_uses_only_the_rds_security_group(lab):
    db = rds.primary(lab.client("rds"))
    require(db)
    rds_group = network.security_group(lab.client("ec2"), naming.RDS_SG)
    expected = require(rds_group)["GroupId"]
    actual = sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", ()))
    assert actual == [expected], (
        f"{db.subject}: security groups {', '.join(actual) or 'none'}, expected only {rds_group.subject} ({expected})")


@pytest.mark.step("1.4")
def test_primary_uses_the_lab_subnet_group(lab):
    db = rds.primary(lab.client("rds"))
    require(db)
    actual = (db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
    assert actual == naming.DB_SUBNET_GROUP, f"{db.subject}: DB subnet group is {actual}, expected {naming.DB_SUBNET_GROUP}"


@pytest.mark.step("1.4")
def test_primary_database_answers_as_labdb(lab, request):
    endpoint = lab.mysql_endpoint(naming.DB_INSTANCE)  # not-reachable when nothing is bound to it
    try:
        with closing(lab.mysql(naming.DB_INSTANCE)) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT DATABASE(), VERSION()")
            database, version = cursor.fetchone()
    except pymysql.MySQLError as exc:
        pytest.fail(f"RDS instance {naming.DB_INSTANCE}: cannot query {endpoint.describe()}: {exc}")
    # The server version is reported, never graded: locally MariaDB stands in for MySQL 8.0.
    stand_in = lab.dataplane.engine_note or ("MariaDB stands in for MySQL 8.0" if "mariadb" in version.lower() else "")
    request.node.user_properties.append(("server_version", version))
    if stand_in:
        request.node.user_properties.append(("engine_note", stand_in))
    log.info("RDS instance %s answers at %s: server %s%s", naming.DB_INSTANCE, endpoint.describe(), version,
             f" ({stand_in})" if stand_in else "")
    assert database == naming.DB_NAME, (
        f"RDS instance {naming.DB_INSTANCE}: connected to database {database}, expected {naming.DB_NAME}")


# --- 1.5 the bastion -----------------------------------------------------------------------------

@pytest.mark.step("1.5")
def test_bastion_is_pending_or_running(lab):
    instance = bastion.bastion(lab.client("ec2"))
    state = require(instance)["State"]["Name"]
    assert state in ("pending", "running"), f"{instance.subject} ({instance['InstanceId']}): state is {state}"


@pytest.mark.step("1.5")
def test_bastion_is_a_t3_micro(lab):
    instance = bastion.bastion(lab.client("ec2"))
    actual = require(instance).get("InstanceType")
    assert actual == naming.BASTION_INSTANCE_TYPE, (
        f"{instance.subject}: type is {actual}, expected {naming.BASTION_INSTANCE_TYPE}")


@pytest.mark.step("1.5")
def test_bastion_is_in_the_public_subnet(lab):
    ec2 = lab.client("ec2")
    instance, public = bastion.bastion(ec2), network.subnet(ec2, naming.PUBLIC_SUBNET_A)
    actual, expected = require(instance).get("SubnetId"), require(public)["SubnetId"]
    assert actual == expected, f"{instance.subject}: in subnet {actual}, expected {public.subject} ({expected})"


@pytest.mark.step("1.5")
def test_bastion_has_a_public_ip(lab):
    instance = bastion.bastion(lab.client("ec2"))
    assert require(instance).get("PublicIpAddress"), f"{instance.subject}: no public IP address"


@pytest.mark.step("1.5")
def test_bastion_uses_only_the_ec2_security_group(lab):
    ec2 = lab.client("ec2")
    instance, group = bastion.bastion(ec2), network.security_group(ec2, naming.EC2_SG)
    actual, expected = bastion.instance_security_groups(require(instance)), require(group)["GroupId"]
    assert actual == {expected}, (
        f"{instance.subject}: security groups {', '.join(sorted(actual)) or 'none'}, "
        f"expected only {group.subject} ({expected})")


@pytest.mark.step("1.5")
def test_bastion_uses_the_lab_key_pair(lab):
    instance = bastion.bastion(lab.client("ec2"))
    actual = require(instance).get("KeyName")
    assert actual == naming.KEY_PAIR, f"{instance.subject}: key pair is {actual}, expected {naming.KEY_PAIR}"


@pytest.mark.step("1.5")
def test_lab_key_pair_exists(lab):
    require(bastion.key_pair(lab.client("ec2")))

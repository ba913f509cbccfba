"""Faults of Lab 1.1 (VPC, gateway, subnets, routes) and 1.2 (security groups)."""

from __future__ import annotations

from lookups.network import WORLD_IPV4, main_route_table
from provisioning import naming
from provisioning.network import tcp_from_cidr, tcp_from_group

from .model import fault

# --- 1.1 -----------------------------------------------------------------------------------------


@fault("1.1", "second-vpc-with-the-lab-name", "a second VPC is named database-lab-vpc (a re-run of Lab 1.1)",
       "test_exactly_one_vpc_is_named_database_lab_vpc", breaks=naming.VPC)
def second_vpc(fc):
    ec2 = fc.aws("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="172.16.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": naming.VPC}]}])["Vpc"]["VpcId"]
    fc.undo(ec2.delete_vpc, VpcId=vpc_id)


def _named(resource_type: str, name: str) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}]}]


def _vpc_sorting_before(fc, ec2, lab_vpc_id: str) -> str:
    """A VPC with the lab's name and CIDR whose id sorts before the lab's: the lowest-id rule would
    grade it. Ids are random, so a few are made and dropped; should none sort lower (a lab VPC id
    near vpc-0000...), the last is kept and the fault still shows the duplicate costs nothing else."""
    for _ in range(32):
        vpc_id = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=_named("vpc", naming.VPC))["Vpc"]["VpcId"]
        if vpc_id < lab_vpc_id:
            break
        ec2.delete_vpc(VpcId=vpc_id)
    else:
        vpc_id = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=_named("vpc", naming.VPC))["Vpc"]["VpcId"]
    fc.undo(ec2.delete_vpc, VpcId=vpc_id)
    return vpc_id


# Erratum 1: Lab 1.1 run a second time builds a whole second network with the same names, CIDRs
# and zones; the student's later steps use one of them. Only the check about duplicates may fail:
# every other check grades the network the lab's resources use (lookups/usage.py).
@fault("1.1", "second-network-from-a-re-run", "Lab 1.1 ran twice: an unused copy of the whole network, same names",
       "test_exactly_one_vpc_is_named_database_lab_vpc", breaks=naming.VPC)
def second_network(fc):
    ec2 = fc.aws("ec2")
    vpc_id = _vpc_sorting_before(fc, ec2, fc.vpc_id())
    igw_id = ec2.create_internet_gateway(TagSpecifications=_named("internet-gateway", naming.IGW))["InternetGateway"][
        "InternetGatewayId"]
    fc.undo(ec2.delete_internet_gateway, InternetGatewayId=igw_id)
    ec2.attach_internet_gateway(VpcId=vpc_id, InternetGatewayId=igw_id)
    fc.undo(ec2.detach_internet_gateway, VpcId=vpc_id, InternetGatewayId=igw_id)
    subnets = {}
    for name, (cidr, zone) in naming.SUBNETS.items():
        subnets[name] = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone,
                                          TagSpecifications=_named("subnet", name))["Subnet"]["SubnetId"]
        fc.undo(ec2.delete_subnet, SubnetId=subnets[name])
    table_id = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=_named("route-table", naming.PUBLIC_ROUTE_TABLE))[
        "RouteTable"]["RouteTableId"]
    fc.undo(ec2.delete_route_table, RouteTableId=table_id)
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock=WORLD_IPV4, GatewayId=igw_id)
    association = ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnets[naming.PUBLIC_SUBNET_A])["AssociationId"]
    fc.undo(ec2.disassociate_route_table, AssociationId=association)


@fault("1.1", "vpc-cidr", "the VPC's CIDR is 10.1.0.0/16, not the lab's 10.0.0.0/16",
       "test_vpc_has_the_lab_cidr", breaks="10.1.0.0/16")
def vpc_cidr(fc):
    # AWS cannot change a VPC's primary CIDR: moto's record is edited in place, so that only
    # the VPC differs (a real re-creation would change every subnet too).
    vpc = fc.moto("ec2").get_vpc(fc.vpc_id())
    fc.undo(setattr, vpc, "cidr_block", vpc.cidr_block)
    vpc.cidr_block = "10.1.0.0/16"


@fault("1.1", "dns-hostnames-off", "DNS hostnames are off in the VPC", "test_vpc_has_dns_hostnames_enabled",
       breaks="EnableDnsHostnames")
def dns_hostnames_off(fc):
    ec2, vpc_id = fc.aws("ec2"), fc.vpc_id()
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": False})
    fc.undo(ec2.modify_vpc_attribute, VpcId=vpc_id, EnableDnsHostnames={"Value": True})


@fault("1.1", "gateway-detached", "the internet gateway is detached from the VPC",
       "test_internet_gateway_is_attached_to_the_vpc", "test_public_route_table_sends_internet_traffic_to_the_gateway",
       breaks="internet gateway")
def gateway_detached(fc):
    ec2, vpc_id, igw_id = fc.aws("ec2"), fc.vpc_id(), fc.igw_id()
    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    fc.undo(ec2.attach_internet_gateway, InternetGatewayId=igw_id, VpcId=vpc_id)


def _edit_subnet(fc, name: str, **changes) -> None:
    # A subnet's CIDR and zone are fixed at creation; moto's record is edited in place so that
    # the subnet keeps its id, its route table and whatever runs in it.
    subnet = fc.moto("ec2").get_subnet(fc.subnet_id(name))
    zones = {zone.name: zone for zones in fc.moto("ec2").zones.values() for zone in zones}
    for attribute, value in changes.items():
        if attribute == "zone":
            fc.undo(setattr, subnet, "_availability_zone", subnet._availability_zone)
            subnet._availability_zone = zones[value]
        else:
            fc.undo(setattr, subnet, attribute, getattr(subnet, attribute))
            setattr(subnet, attribute, value)


@fault("1.1", "public-subnet-cidr", "the public subnet is 10.0.9.0/24, not 10.0.1.0/24",
       f"test_subnet_has_the_lab_cidr_and_zone[{naming.PUBLIC_SUBNET_A}]", breaks="10.0.9.0/24")
def public_subnet_cidr(fc):
    _edit_subnet(fc, naming.PUBLIC_SUBNET_A, cidr_block="10.0.9.0/24")


# Both private subnets in one zone: the subnet groups made of them (1.3, 5.1) span one zone too,
# and their checks see it (a consequence of the same wrong zone, not collateral).
@fault("1.1", "private-a-in-zone-b", "private subnet A is in zone b (us-east-1b)",
       f"test_subnet_has_the_lab_cidr_and_zone[{naming.PRIVATE_SUBNET_A}]",
       "test_db_subnet_group_spans_two_availability_zones", "test_cache_subnet_group_spans_two_availability_zones",
       breaks=naming.AZ_B)
def private_a_zone(fc):
    _edit_subnet(fc, naming.PRIVATE_SUBNET_A, zone=naming.AZ_B)


@fault("1.1", "private-b-in-zone-a", "private subnet B is in zone a (us-east-1a), so both private subnets share it",
       f"test_subnet_has_the_lab_cidr_and_zone[{naming.PRIVATE_SUBNET_B}]",
       "test_db_subnet_group_spans_two_availability_zones", "test_cache_subnet_group_spans_two_availability_zones",
       breaks=naming.AZ_A)
def private_b_zone(fc):
    _edit_subnet(fc, naming.PRIVATE_SUBNET_B, zone=naming.AZ_A)


@fault("1.1", "no-default-route", "the public route table has no 0.0.0.0/0 route",
       "test_public_route_table_sends_internet_traffic_to_the_gateway", breaks="0.0.0.0/0 goes to nowhere")
def no_default_route(fc):
    ec2, table_id, igw_id = fc.aws("ec2"), fc.route_table()["RouteTableId"], fc.igw_id()
    ec2.delete_route(RouteTableId=table_id, DestinationCidrBlock=WORLD_IPV4)
    fc.undo(ec2.create_route, RouteTableId=table_id, DestinationCidrBlock=WORLD_IPV4, GatewayId=igw_id)


@fault("1.1", "public-subnet-not-associated", "the public subnet is not associated with the public route table",
       "test_public_route_table_is_associated_with_the_public_subnet", breaks=naming.PUBLIC_SUBNET_A)
def public_subnet_not_associated(fc):
    ec2, table, subnet_id = fc.aws("ec2"), fc.route_table(), fc.subnet_id(naming.PUBLIC_SUBNET_A)
    association = next(a for a in table["Associations"] if a.get("SubnetId") == subnet_id)
    ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    fc.undo(ec2.associate_route_table, RouteTableId=table["RouteTableId"], SubnetId=subnet_id)


@fault("1.1", "private-subnet-routed-to-the-gateway", "private subnet A is associated with the public route table",
       f"test_private_subnet_has_no_route_to_the_internet[{naming.PRIVATE_SUBNET_A}]", breaks=naming.PRIVATE_SUBNET_A)
def private_subnet_public_route(fc):
    ec2 = fc.aws("ec2")
    association = ec2.associate_route_table(RouteTableId=fc.route_table()["RouteTableId"],
                                            SubnetId=fc.subnet_id(naming.PRIVATE_SUBNET_A))["AssociationId"]
    fc.undo(ec2.disassociate_route_table, AssociationId=association)


@fault("1.1", "main-route-table-to-the-gateway", "the VPC's main route table sends 0.0.0.0/0 to the gateway",
       *(f"test_private_subnet_has_no_route_to_the_internet[{name}]" for name in naming.PRIVATE_SUBNETS),
       breaks="sends 0.0.0.0/0")
def main_table_public(fc):
    ec2 = fc.aws("ec2")
    table_id = main_route_table(ec2, fc.vpc_id())["RouteTableId"]
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock=WORLD_IPV4, GatewayId=fc.igw_id())
    fc.undo(ec2.delete_route, RouteTableId=table_id, DestinationCidrBlock=WORLD_IPV4)


# --- 1.2 -----------------------------------------------------------------------------------------

def _add_rule(fc, group: str, permission: dict) -> None:
    ec2, group_id = fc.aws("ec2"), fc.group_id(group)
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
    fc.undo(ec2.revoke_security_group_ingress, GroupId=group_id, IpPermissions=[permission])


@fault("1.2", "ssh-open-to-the-world", "SSH to the bastion is open to 0.0.0.0/0",
       "test_ec2_group_allows_only_ssh_from_one_address", "test_no_lab_group_is_open_to_the_world",
       breaks="tcp 22 from 0.0.0.0/0")
def ssh_open_to_the_world(fc):
    _add_rule(fc, naming.EC2_SG, tcp_from_cidr(naming.SSH_PORT, WORLD_IPV4))


@fault("1.2", "ssh-from-a-whole-network", "SSH is allowed from a whole /24, not one address",
       "test_ec2_group_allows_only_ssh_from_one_address", breaks="198.51.100.0/24")
def ssh_from_a_network(fc):
    _add_rule(fc, naming.EC2_SG, tcp_from_cidr(naming.SSH_PORT, "198.51.100.0/24"))


@fault("1.2", "mysql-open-to-the-vpc", "MySQL is open to the whole VPC CIDR, not only the EC2 group",
       "test_rds_group_allows_only_mysql_from_the_ec2_group", breaks="tcp 3306 from 10.0.0.0/16")
def mysql_open_to_the_vpc(fc):
    _add_rule(fc, naming.RDS_SG, tcp_from_cidr(naming.MYSQL_PORT, naming.VPC_CIDR))


@fault("1.2", "redis-from-the-rds-group", "Redis is also open to the RDS security group",
       "test_cache_group_allows_only_redis_from_the_ec2_group", breaks=naming.CACHE_SG)
def redis_from_rds_group(fc):
    _add_rule(fc, naming.CACHE_SG, tcp_from_group(naming.REDIS_PORT, fc.group_id(naming.RDS_SG)))


@fault("1.2", "redis-open-to-the-world", "Redis is open to 0.0.0.0/0",
       "test_cache_group_allows_only_redis_from_the_ec2_group", "test_no_lab_group_is_open_to_the_world",
       breaks="tcp 6379 from 0.0.0.0/0")
def redis_open_to_the_world(fc):
    _add_rule(fc, naming.CACHE_SG, tcp_from_cidr(naming.REDIS_PORT, WORLD_IPV4))


FAULTS = [second_vpc, second_network, vpc_cidr, dns_hostnames_off, gateway_detached, public_subnet_cidr, private_a_zone,
          private_b_zone, no_default_route, public_subnet_not_associated, private_subnet_public_route, main_table_public,
          ssh_open_to_the_world, ssh_from_a_network, mysql_open_to_the_vpc, redis_from_rds_group, redis_open_to_the_world]

"""Lab 1.1 (VPC, internet gateway, subnets, public route table) and 1.2 (security groups);
and the network half of the cleanup (7.4), which runs after the bastion is gone.

Everything is found by the lab's Name tags and group names, through the look-ups the checks
use (lookups/network.py), so a re-run adopts what a check would grade and the teardown works
on whatever a student or a crashed run left, without handles.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from lookups import network as find
from lookups.found import Found
from lookups.network import WORLD_IPV4, attached_internet_gateways, name_filter, vpc_filter

from . import naming
from .context import ProvisionContext
from .errors import error_code, is_missing, retry_while_busy
from .polling import wait_until

# Lab 1.2's --description texts.
GROUP_DESCRIPTIONS = {
    naming.EC2_SG: "Security group for EC2 instances",
    naming.RDS_SG: "Security group for RDS",
    naming.CACHE_SG: "Security group for ElastiCache",
}
# Referencing groups first: AWS refuses to delete a group another group's rule still names.
GROUP_DELETION_ORDER = (naming.CACHE_SG, naming.RDS_SG, naming.EC2_SG)


def required(found: Found, step: str) -> Found:
    """What an earlier step made, found as the checks find it; or LookupError naming that step."""
    if not found:
        raise LookupError(f"{found.not_found}; step {step} creates it")
    return found


def require_vpc(ec2) -> Found:
    return required(find.vpc(ec2), "1.1")


def _tag_spec(resource_type: str, run_id: str, name: str) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": naming.lab_tags(run_id, name)}]


# --- 1.1 ---------------------------------------------------------------------------------

def _ensure_vpc(ctx: ProvisionContext, ec2) -> Found:
    vpc = find.vpc(ec2)
    if not vpc:
        created = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=_tag_spec("vpc", ctx.run_id, naming.VPC))["Vpc"]
        # Not looked up again: a describe by tag right after the create may not see it yet on AWS.
        vpc = Found(vpc.subject, created, f"created by this run: {created['VpcId']}")
        ctx.log(f"VPC {naming.VPC}: created {vpc['VpcId']}")
    else:
        ctx.log(f"VPC {naming.VPC}: exists ({vpc['VpcId']}, {vpc.get('CidrBlock')}), adopted")
    vpc_id = vpc["VpcId"]
    wait_until(lambda: ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["State"] == "available",
               timeout=ctx.timeout, what=f"VPC {vpc_id} available")
    hostnames = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]
    if not hostnames.get("Value"):
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        ctx.log(f"VPC {naming.VPC}: DNS hostnames enabled")
    return vpc


def _ensure_internet_gateway(ctx: ProvisionContext, ec2, vpc_id: str) -> str:
    attached = attached_internet_gateways(ec2, vpc_id)
    if attached:  # a VPC takes one gateway: whatever is attached is the lab's
        ctx.log(f"internet gateway {naming.IGW}: {attached[0]['InternetGatewayId']} attached, adopted")
        return attached[0]["InternetGatewayId"]
    spare = [g for g in ec2.describe_internet_gateways(Filters=[name_filter(naming.IGW)])["InternetGateways"]
             if not g.get("Attachments")]
    if spare:  # left detached by an interrupted run
        igw_id = spare[0]["InternetGatewayId"]
        ctx.log(f"internet gateway {naming.IGW}: detached {igw_id} adopted")
    else:
        igw_id = ec2.create_internet_gateway(
            TagSpecifications=_tag_spec("internet-gateway", ctx.run_id, naming.IGW))["InternetGateway"]["InternetGatewayId"]
        ctx.log(f"internet gateway {naming.IGW}: created {igw_id}")
    ec2.attach_internet_gateway(VpcId=vpc_id, InternetGatewayId=igw_id)
    return igw_id


def _ensure_subnet(ctx: ProvisionContext, ec2, vpc: Found, name: str) -> str:
    cidr, zone = naming.SUBNETS[name]
    subnet = find.subnet(ec2, name, vpc)
    if not subnet:
        subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=cidr, AvailabilityZone=zone,
                                   TagSpecifications=_tag_spec("subnet", ctx.run_id, name))["Subnet"]
        ctx.log(f"subnet {name}: created {subnet['SubnetId']} ({cidr}, {zone})")
    else:
        ctx.log(f"subnet {name}: exists ({subnet['SubnetId']}, {subnet['CidrBlock']}, "
                f"{subnet['AvailabilityZone']}), adopted")
    subnet_id = subnet["SubnetId"]
    wait_until(lambda: ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["State"] == "available",
               timeout=ctx.timeout, what=f"subnet {subnet_id} available")
    return subnet_id


def _ensure_public_route_table(ctx: ProvisionContext, ec2, vpc: Found, igw_id: str, subnet_id: str) -> str:
    table = find.route_table(ec2, naming.PUBLIC_ROUTE_TABLE, vpc)
    if not table:
        table = ec2.create_route_table(
            VpcId=vpc["VpcId"], TagSpecifications=_tag_spec("route-table", ctx.run_id, naming.PUBLIC_ROUTE_TABLE))["RouteTable"]
        ctx.log(f"route table {naming.PUBLIC_ROUTE_TABLE}: created {table['RouteTableId']}")
    else:
        ctx.log(f"route table {naming.PUBLIC_ROUTE_TABLE}: exists ({table['RouteTableId']}), adopted")
    table_id = table["RouteTableId"]
    default = [r for r in table.get("Routes", ()) if r.get("DestinationCidrBlock") == WORLD_IPV4]
    if not default:
        ec2.create_route(RouteTableId=table_id, DestinationCidrBlock=WORLD_IPV4, GatewayId=igw_id)
    elif default[0].get("GatewayId") != igw_id:  # e.g. a gateway of an earlier, deleted VPC
        ec2.replace_route(RouteTableId=table_id, DestinationCidrBlock=WORLD_IPV4, GatewayId=igw_id)
        ctx.log(f"route table {naming.PUBLIC_ROUTE_TABLE}: default route now points to {igw_id}")
    explicit = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["RouteTables"]
    associations = [a for t in explicit for a in t.get("Associations", ()) if a.get("SubnetId") == subnet_id]
    if not associations:
        ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)
    elif associations[0]["RouteTableId"] != table_id:
        ec2.replace_route_table_association(AssociationId=associations[0]["RouteTableAssociationId"],
                                            RouteTableId=table_id)
        ctx.log(f"subnet {naming.PUBLIC_SUBNET_A}: now routed by {naming.PUBLIC_ROUTE_TABLE}")
    return table_id


def create_vpc_network(ctx: ProvisionContext) -> dict[str, str]:
    """Lab 1.1. The private subnets keep the VPC's main route table (local routes only), as in the lab."""
    ec2 = ctx.clients("ec2")
    vpc = _ensure_vpc(ctx, ec2)
    igw_id = _ensure_internet_gateway(ctx, ec2, vpc["VpcId"])
    subnets = {name: _ensure_subnet(ctx, ec2, vpc, name) for name in naming.SUBNETS}
    table_id = _ensure_public_route_table(ctx, ec2, vpc, igw_id, subnets[naming.PUBLIC_SUBNET_A])
    return {naming.VPC: vpc["VpcId"], naming.IGW: igw_id, naming.PUBLIC_ROUTE_TABLE: table_id, **subnets}


# --- 1.2 ---------------------------------------------------------------------------------

def tcp_from_cidr(port: int, cidr: str) -> dict:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}


def tcp_from_group(port: int, group_id: str) -> dict:
    # moto only understands a source group given as UserIdGroupPairs[{GroupId}] (AWS takes it too).
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": group_id}]}


def _tcp_rules(group: dict, port: int) -> list[dict]:
    return [p for p in group.get("IpPermissions", ())
            if p.get("IpProtocol") == "tcp" and p.get("FromPort") == port and p.get("ToPort") == port]


def _ensure_group(ctx: ProvisionContext, ec2, vpc: Found, name: str) -> dict:
    group = find.security_group(ec2, name, vpc)
    if group:
        ctx.log(f"security group {name}: exists ({group['GroupId']}), adopted")
        return group.resource
    group_id = ec2.create_security_group(GroupName=name, Description=GROUP_DESCRIPTIONS[name], VpcId=vpc["VpcId"],
                                         TagSpecifications=_tag_spec("security-group", ctx.run_id, name))["GroupId"]
    ctx.log(f"security group {name}: created {group_id}")
    # Right after the create, AWS may answer InvalidGroup.NotFound for it (eventual consistency).
    return wait_until(lambda: ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0],
                      timeout=ctx.timeout, what=f"security group {group_id} visible").value


def _ensure_ssh_rule(ctx: ProvisionContext, ec2, group: dict) -> None:
    cidrs = {r["CidrIp"] for rule in _tcp_rules(group, naming.SSH_PORT) for r in rule.get("IpRanges", ())}
    # "Your IP" of an earlier run is not this run's: SSH stays open to exactly one address.
    for stale in sorted(cidrs - {ctx.ssh_cidr}):
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[tcp_from_cidr(naming.SSH_PORT, stale)])
        ctx.log(f"security group {naming.EC2_SG}: SSH from {stale} revoked")
    if ctx.ssh_cidr not in cidrs:
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[tcp_from_cidr(naming.SSH_PORT, ctx.ssh_cidr)])
        ctx.log(f"security group {naming.EC2_SG}: SSH allowed from {ctx.ssh_cidr}")


def _ensure_group_rule(ctx: ProvisionContext, ec2, group: dict, port: int, source: dict) -> None:
    sources = {pair.get("GroupId") for rule in _tcp_rules(group, port) for pair in rule.get("UserIdGroupPairs", ())}
    if source["GroupId"] in sources:
        return
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[tcp_from_group(port, source["GroupId"])])
    ctx.log(f"security group {group['GroupName']}: tcp {port} allowed from {source['GroupName']}")


def create_security_groups(ctx: ProvisionContext) -> dict[str, str]:
    """Lab 1.2, with SSH from ctx.ssh_cidr (the lab asks checkip.amazonaws.com for the caller's IP)."""
    ec2 = ctx.clients("ec2")
    vpc = require_vpc(ec2)
    groups = {name: _ensure_group(ctx, ec2, vpc, name) for name in GROUP_DESCRIPTIONS}
    _ensure_ssh_rule(ctx, ec2, groups[naming.EC2_SG])
    _ensure_group_rule(ctx, ec2, groups[naming.RDS_SG], naming.MYSQL_PORT, groups[naming.EC2_SG])
    _ensure_group_rule(ctx, ec2, groups[naming.CACHE_SG], naming.REDIS_PORT, groups[naming.EC2_SG])
    return {name: group["GroupId"] for name, group in groups.items()}


# --- 7.4 (network part) ------------------------------------------------------------------

def _revoke_group_references(ec2, groups: list[dict]) -> None:
    for group in groups:
        for rule in group.get("IpPermissions", ()):
            pairs = [{"GroupId": p["GroupId"]} for p in rule.get("UserIdGroupPairs", ()) if p.get("GroupId")]
            if not pairs:
                continue
            permission = {"IpProtocol": rule["IpProtocol"], "UserIdGroupPairs": pairs}
            permission.update({k: rule[k] for k in ("FromPort", "ToPort") if k in rule})
            try:
                ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[permission])
            except ClientError as error:
                if not is_missing(error) and error_code(error) != "InvalidPermission.NotFound":
                    raise


def _delete_security_groups(ctx: ProvisionContext, ec2, vpc_id: str) -> None:
    # Every non-default group in the lab VPC must go before the VPC can; the lab's own first.
    groups = [g for g in ec2.describe_security_groups(Filters=[vpc_filter(vpc_id)])["SecurityGroups"]
              if g["GroupName"] != "default"]
    _revoke_group_references(ec2, groups)
    order = {name: index for index, name in enumerate(GROUP_DELETION_ORDER)}
    for group in sorted(groups, key=lambda g: order.get(g["GroupName"], len(order))):
        deleted = retry_while_busy(lambda: ec2.delete_security_group(GroupId=group["GroupId"]),
                                   timeout=ctx.timeout, what=f"deletion of security group {group['GroupName']}")
        if deleted:
            ctx.log(f"security group {group['GroupName']}: deleted {group['GroupId']}")


def _delete_subnets(ctx: ProvisionContext, ec2, vpc_id: str) -> None:
    for subnet in ec2.describe_subnets(Filters=[vpc_filter(vpc_id)])["Subnets"]:
        subnet_id = subnet["SubnetId"]
        # moto keeps a deleted subnet's route-table association (and then the table cannot go);
        # on AWS the association goes with the subnet, so disassociating first is harmless.
        for table in ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["RouteTables"]:
            for association in table.get("Associations", ()):
                if association.get("SubnetId") == subnet_id and not association.get("Main"):
                    retry_while_busy(lambda: ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"]),
                                     timeout=ctx.timeout, what=f"disassociation of subnet {subnet_id}")
        if retry_while_busy(lambda: ec2.delete_subnet(SubnetId=subnet_id), timeout=ctx.timeout,
                            what=f"deletion of subnet {subnet_id}"):
            ctx.log(f"subnet {naming.tag_value(subnet.get('Tags'), 'Name') or subnet_id}: deleted {subnet_id}")


def _delete_route_tables(ctx: ProvisionContext, ec2, vpc_id: str) -> None:
    for table in ec2.describe_route_tables(Filters=[vpc_filter(vpc_id)])["RouteTables"]:
        if any(a.get("Main") for a in table.get("Associations", ())):
            continue  # the main table goes with the VPC
        for association in table.get("Associations", ()):
            try:
                ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
            except ClientError as error:
                if not is_missing(error):
                    raise
        if retry_while_busy(lambda: ec2.delete_route_table(RouteTableId=table["RouteTableId"]),
                            timeout=ctx.timeout, what=f"deletion of route table {table['RouteTableId']}"):
            ctx.log(f"route table {naming.tag_value(table.get('Tags'), 'Name') or table['RouteTableId']}: deleted")


def _delete_internet_gateways(ctx: ProvisionContext, ec2, vpc_id: str | None) -> None:
    gateways = attached_internet_gateways(ec2, vpc_id) if vpc_id else []
    # Named gateways that an interrupted run created but never attached.
    gateways += [g for g in ec2.describe_internet_gateways(Filters=[name_filter(naming.IGW)])["InternetGateways"]
                 if not g.get("Attachments") and g not in gateways]
    for gateway in gateways:
        igw_id = gateway["InternetGatewayId"]
        for attachment in gateway.get("Attachments", ()):
            retry_while_busy(lambda: ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=attachment["VpcId"]),
                             timeout=ctx.timeout, what=f"detaching internet gateway {igw_id}")
        if retry_while_busy(lambda: ec2.delete_internet_gateway(InternetGatewayId=igw_id),
                            timeout=ctx.timeout, what=f"deletion of internet gateway {igw_id}"):
            ctx.log(f"internet gateway {naming.IGW}: deleted {igw_id}")


def delete_network(ctx: ProvisionContext) -> None:
    """Lab 7.4 after the bastion: security groups, subnets, route table, gateway, VPC.

    Works on every VPC named database-lab-vpc (a student who ran 1.1 twice has two) and on
    whatever is inside them; never fails because something is already gone.
    """
    ec2 = ctx.clients("ec2")
    vpcs = sorted(find.vpcs(ec2), key=lambda v: v["VpcId"])
    if not vpcs:
        ctx.log(f"VPC {naming.VPC}: not there")
    for vpc in vpcs:
        vpc_id = vpc["VpcId"]
        _delete_security_groups(ctx, ec2, vpc_id)
        _delete_subnets(ctx, ec2, vpc_id)
        _delete_route_tables(ctx, ec2, vpc_id)
        _delete_internet_gateways(ctx, ec2, vpc_id)
        if retry_while_busy(lambda: ec2.delete_vpc(VpcId=vpc_id), timeout=ctx.timeout, what=f"deletion of VPC {vpc_id}"):
            ctx.log(f"VPC {naming.VPC}: deleted {vpc_id}")
    _delete_internet_gateways(ctx, ec2, None)

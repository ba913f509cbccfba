"""Lab 1.5: the bastion (latest Amazon Linux 2, key pair database-lab-key, t3.micro in the
public subnet with a public IP); and its cleanup in 7.4: terminate, delete the key pair and the pem.

The bastion and the key pair are found as the checks find them (lookups/bastion.py), so a re-run
adopts what a check would grade. The private key goes to ctx.state_dir (mode 0600) and nowhere
else: never printed, never logged.
"""

from __future__ import annotations

import os
from pathlib import Path

from lookups import network as find
from lookups.bastion import bastion, bastions, key_pair

from . import naming
from .context import ProvisionContext
from .network import require_vpc, required
from .polling import Progress, wait_until

KEY_FILE = "database-lab-key.pem"
# Lab 1.5's --user-data: the tools the later labs run on the bastion.
USER_DATA = """#!/bin/bash
yum update -y
yum install -y mysql python3 python3-pip
pip3 install boto3 pymysql redis"""


def latest_ami(ssm) -> str:
    response = ssm.get_parameters(Names=[naming.AMI_PARAMETER])
    if not response.get("Parameters"):
        raise LookupError(f"SSM parameter {naming.AMI_PARAMETER} not found in this region")
    return response["Parameters"][0]["Value"]


# --- 1.5 ---------------------------------------------------------------------------------

def write_private_key(state_dir: Path, material: str) -> Path:
    """Write key material readable by its owner only (the lab: chmod 400; 0600 lets a re-run replace it)."""
    path = Path(state_dir) / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(material)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    return path


def ensure_key_pair(ctx: ProvisionContext) -> str:
    ec2 = ctx.clients("ec2")
    existing = key_pair(ec2)
    if existing:
        held = ctx.state_dir is not None and (Path(ctx.state_dir) / KEY_FILE).exists()
        note = "" if held else "; its private key is not in this run's state directory (AWS shows it only once)"
        ctx.log(f"key pair {naming.KEY_PAIR}: exists, adopted{note}")
        return existing["KeyName"]
    created = ec2.create_key_pair(KeyName=naming.KEY_PAIR, TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": naming.lab_tags(ctx.run_id, naming.KEY_PAIR)}])
    if ctx.state_dir is not None:
        path = write_private_key(ctx.state_dir, created["KeyMaterial"])
        ctx.log(f"key pair {naming.KEY_PAIR}: created, private key in {path}")
    else:
        ctx.log(f"key pair {naming.KEY_PAIR}: created (no state directory: private key discarded)")
    return created["KeyName"]


def _wait_running(ctx: ProvisionContext, ec2, instance_id: str) -> dict:
    progress = Progress(ctx.log, f"EC2 instance {instance_id}")

    def probe():
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        instance = reservations[0]["Instances"][0]
        return instance if progress(instance["State"]["Name"]) == "running" else None
    return wait_until(probe, timeout=ctx.timeout, what=f"EC2 instance {instance_id} running").value


def launch_bastion(ctx: ProvisionContext) -> dict:
    ec2 = ctx.clients("ec2")
    key_name = ensure_key_pair(ctx)
    instance = bastion(ec2)
    if instance:
        state = instance["State"]["Name"]
        ctx.log(f"EC2 instance {naming.BASTION}: exists ({instance['InstanceId']}, {state}), adopted")
        if state in ("stopping", "stopped"):
            wait_until(lambda: ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]
                       ["Instances"][0]["State"]["Name"] == "stopped", timeout=ctx.timeout,
                       what=f"EC2 instance {instance['InstanceId']} stopped")
            ec2.start_instances(InstanceIds=[instance["InstanceId"]])
            ctx.log(f"EC2 instance {naming.BASTION}: started")
    else:
        vpc = require_vpc(ec2)
        subnet = required(find.subnet(ec2, naming.PUBLIC_SUBNET_A, vpc), "1.1")
        group = required(find.security_group(ec2, naming.EC2_SG, vpc), "1.2")
        tags = naming.lab_tags(ctx.run_id, naming.BASTION)
        # --associate-public-ip-address: the API takes it only on a network interface, which
        # then carries the subnet and the groups too.
        instance = ec2.run_instances(
            ImageId=latest_ami(ctx.clients("ssm")), InstanceType=naming.BASTION_INSTANCE_TYPE, KeyName=key_name,
            MinCount=1, MaxCount=1, UserData=USER_DATA,
            NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet["SubnetId"], "Groups": [group["GroupId"]],
                                "AssociatePublicIpAddress": True}],
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}, {"ResourceType": "volume", "Tags": tags}],
        )["Instances"][0]
        ctx.log(f"EC2 instance {naming.BASTION}: launched {instance['InstanceId']}")
    instance = _wait_running(ctx, ec2, instance["InstanceId"])
    ctx.log(f"EC2 instance {naming.BASTION}: running, public IP {instance.get('PublicIpAddress')}")
    return instance


# --- 7.4 (EC2 part) ----------------------------------------------------------------------

def delete_bastion(ctx: ProvisionContext) -> None:
    """Terminate every live instance named database-lab-bastion and wait, then delete the key pair and the pem."""
    ec2 = ctx.clients("ec2")
    ids = sorted(i["InstanceId"] for i in bastions(ec2))  # all of them: duplicates too
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
        ctx.log(f"EC2 instance {naming.BASTION}: terminating {', '.join(ids)}")

        progress = Progress(ctx.log, f"EC2 instance(s) {', '.join(ids)}")

        def all_terminated():
            reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
            states = sorted({i["State"]["Name"] for r in reservations for i in r["Instances"]})
            return progress(", ".join(states)) == "terminated"
        # The subnets and the EC2 group cannot be deleted while the instance still holds them.
        wait_until(all_terminated, timeout=ctx.timeout, what=f"EC2 instance(s) {', '.join(ids)} terminated")
        ctx.log(f"EC2 instance {naming.BASTION}: terminated")
    if key_pair(ec2):
        ec2.delete_key_pair(KeyName=naming.KEY_PAIR)
        ctx.log(f"key pair {naming.KEY_PAIR}: deleted")
    if ctx.state_dir is not None:
        (Path(ctx.state_dir) / KEY_FILE).unlink(missing_ok=True)

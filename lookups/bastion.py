"""Lab 1.5's bastion and its key pair, found by the lab's names.

Instance names are tags, not unique: a student who launched twice has two bastions. The one a
check grades (and the grader tunnels through) is chosen by the shared rule in found.choose;
teardown and the sweeper take them all (`bastions`).
"""

from __future__ import annotations

from provisioning import naming
from provisioning.errors import unless_missing

from .found import Found, choose, unique
from .filters import name_filter

# Every state but terminated and shutting-down: an instance in these still holds its subnet,
# its security group and its key's name.
LIVE_STATES = ("pending", "running", "stopping", "stopped")
UP_STATES = ("pending", "running")


def bastions(ec2) -> list[dict]:
    """Every live instance tagged Name=database-lab-bastion."""
    reservations = ec2.describe_instances(
        Filters=[name_filter(naming.BASTION), {"Name": "instance-state-name", "Values": list(LIVE_STATES)}])["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def bastion(ec2) -> Found:
    """The bastion a check grades: a pending or running one before a stopped one."""
    return choose(f"EC2 instance {naming.BASTION}", bastions(ec2),
                  how=f"EC2 instance tagged Name={naming.BASTION} that is not terminated",
                  id_of=lambda i: i["InstanceId"], preferred=lambda i: i["State"]["Name"] in UP_STATES,
                  preference="is pending or running")


def key_pair(ec2, name: str = naming.KEY_PAIR) -> Found:
    return unique(f"key pair {name}", unless_missing(lambda: ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"][0]),
                  f"key pair named {name}")


def instance_security_groups(instance: dict | Found) -> set[str]:
    """Group ids of an instance. moto 5.2.5 leaves the instance's SecurityGroups empty when it was
    launched with NetworkInterfaces (as the bastion is) and lists them on the interface only;
    on AWS both show the primary interface's groups."""
    groups = {g["GroupId"] for g in instance.get("SecurityGroups", ())}
    for interface in instance.get("NetworkInterfaces", ()):
        if interface.get("Attachment", {}).get("DeviceIndex", 0) == 0:
            groups |= {g["GroupId"] for g in interface.get("Groups", ())}
    return groups

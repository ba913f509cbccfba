"""Faults of Lab 1.5: the bastion and its key pair."""

from __future__ import annotations

from provisioning import naming

from .model import fault


def _edit_instance(fc, **changes) -> None:
    # Launch-time settings (subnet, key pair) cannot change on AWS: moto's record is edited
    # in place, so that only this one setting differs from a correct bastion.
    instance = fc.moto("ec2").get_instance(fc.bastion_id())
    for attribute, value in changes.items():
        fc.undo(setattr, instance, attribute, getattr(instance, attribute))
        setattr(instance, attribute, value)


@fault("1.5", "bastion-stopped", "the bastion is stopped (AWS releases its public IP)",
       "test_bastion_is_pending_or_running", "test_bastion_has_a_public_ip", breaks=naming.BASTION)
def bastion_stopped(fc):
    ec2, instance_id = fc.aws("ec2"), fc.bastion_id()
    ec2.stop_instances(InstanceIds=[instance_id])
    fc.undo(ec2.start_instances, InstanceIds=[instance_id])


@fault("1.5", "bastion-larger-type", "the bastion is a t3.large", "test_bastion_is_a_t3_micro", breaks="t3.large")
def bastion_type(fc):
    _edit_instance(fc, instance_type="t3.large")


@fault("1.5", "bastion-in-a-private-subnet", "the bastion runs in private subnet A", "test_bastion_is_in_the_public_subnet",
       breaks=naming.PUBLIC_SUBNET_A)
def bastion_subnet(fc):
    _edit_instance(fc, _subnet_id=fc.subnet_id(naming.PRIVATE_SUBNET_A))


@fault("1.5", "bastion-also-in-the-rds-group", "the bastion also carries the RDS security group",
       "test_bastion_uses_only_the_ec2_security_group", breaks="security groups")
def bastion_extra_group(fc):
    ec2 = fc.aws("ec2")
    instance = ec2.describe_instances(InstanceIds=[fc.bastion_id()])["Reservations"][0]["Instances"][0]
    interface = next(i for i in instance["NetworkInterfaces"] if i["Attachment"]["DeviceIndex"] == 0)
    before = [g["GroupId"] for g in interface["Groups"]]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=interface["NetworkInterfaceId"],
                                           Groups=before + [fc.group_id(naming.RDS_SG)])
    fc.undo(ec2.modify_network_interface_attribute, NetworkInterfaceId=interface["NetworkInterfaceId"], Groups=before)


@fault("1.5", "bastion-with-another-key", "the bastion was launched with another key pair",
       "test_bastion_uses_the_lab_key_pair", breaks="someone-elses-key")
def bastion_other_key(fc):
    _edit_instance(fc, key_name="someone-elses-key")


@fault("1.5", "key-pair-deleted", "the lab's key pair was deleted", "test_lab_key_pair_exists",
       breaks=naming.KEY_PAIR)
def key_pair_deleted(fc):
    ec2 = fc.aws("ec2")
    ec2.delete_key_pair(KeyName=naming.KEY_PAIR)
    fc.undo(ec2.create_key_pair, KeyName=naming.KEY_PAIR, TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": naming.lab_tags(fc.run_id, naming.KEY_PAIR)}])


FAULTS = [bastion_stopped, bastion_type, bastion_subnet, bastion_extra_group, bastion_other_key, key_pair_deleted]

"""Faults of Lab 1.3 (DB subnet group), 1.4 (the primary's control plane), 2.1 (Multi-AZ)
and 2.2 (the read replica's control plane)."""

from __future__ import annotations

from provisioning import naming

from .model import AWS, RDS, fault


def _modify(fc, identifier: str, **changes) -> None:
    """modify-db-instance now, and back on revert (to what describe said before)."""
    rds = fc.aws("rds")
    db = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    before = {
        "DBInstanceClass": db["DBInstanceClass"], "EngineVersion": db["EngineVersion"],
        "AllocatedStorage": db["AllocatedStorage"], "StorageType": db["StorageType"],
        "BackupRetentionPeriod": db["BackupRetentionPeriod"], "PubliclyAccessible": db["PubliclyAccessible"],
        "MultiAZ": db["MultiAZ"], "DBSubnetGroupName": db["DBSubnetGroup"]["DBSubnetGroupName"],
        "VpcSecurityGroupIds": [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]],
    }
    rds.modify_db_instance(DBInstanceIdentifier=identifier, ApplyImmediately=True, **changes)
    fc.undo(rds.modify_db_instance, DBInstanceIdentifier=identifier, ApplyImmediately=True,
            **{key: before[key] for key in changes})


def _moto_instance(fc, identifier: str):
    # For what AWS fixes at creation (zone, DBName) or moves through on its own (status):
    # moto's record is edited in place.
    return fc.moto("rds").databases[identifier]


def _edit_instance(fc, identifier: str, **changes) -> None:
    db = _moto_instance(fc, identifier)
    for attribute, value in changes.items():
        fc.undo(setattr, db, attribute, getattr(db, attribute))
        setattr(db, attribute, value)


# --- 1.3 -----------------------------------------------------------------------------------------

def _replace_subnet_group(fc, subnet_ids: list[str]) -> None:
    """The lab's DB subnet group, made again with other subnets; revert re-runs step 1.3."""
    rds = fc.aws("rds")
    # Deleted and made again: moto's modify_db_subnet_group loses the group (provisioning/rds.py).
    rds.delete_db_subnet_group(DBSubnetGroupName=naming.DB_SUBNET_GROUP)
    fc.undo(fc.reprovision, "1.3")  # adopts the group and points it back at the private subnets
    rds.create_db_subnet_group(DBSubnetGroupName=naming.DB_SUBNET_GROUP, DBSubnetGroupDescription="fault",
                               SubnetIds=subnet_ids)


def _extra_subnet(fc, vpc_id: str, cidr: str, zone: str) -> str:
    ec2 = fc.aws("ec2")
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
    fc.undo(ec2.delete_subnet, SubnetId=subnet_id)
    return subnet_id


@fault("1.3", "subnet-group-in-one-zone", "the DB subnet group's two subnets are both in us-east-1a",
       "test_db_subnet_group_holds_exactly_the_private_subnets", "test_db_subnet_group_spans_two_availability_zones",
       breaks=naming.DB_SUBNET_GROUP)
def subnet_group_one_zone(fc):
    extra = _extra_subnet(fc, fc.vpc_id(), "10.0.4.0/24", naming.AZ_A)
    _replace_subnet_group(fc, [fc.subnet_id(naming.PRIVATE_SUBNET_A), extra])


@fault("1.3", "subnet-group-with-the-public-subnet", "the DB subnet group holds the public subnet instead of private A",
       "test_db_subnet_group_holds_exactly_the_private_subnets", breaks=naming.DB_SUBNET_GROUP)
def subnet_group_public(fc):
    _replace_subnet_group(fc, [fc.subnet_id(naming.PUBLIC_SUBNET_A), fc.subnet_id(naming.PRIVATE_SUBNET_B)])


@fault("1.3", "subnet-group-in-another-vpc", "the DB subnet group is made of another VPC's subnets",
       "test_db_subnet_group_is_in_the_lab_vpc", "test_db_subnet_group_holds_exactly_the_private_subnets",
       breaks=naming.DB_SUBNET_GROUP)
def subnet_group_other_vpc(fc):
    ec2 = fc.aws("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="172.16.0.0/16")["Vpc"]["VpcId"]
    fc.undo(ec2.delete_vpc, VpcId=vpc_id)
    subnets = [_extra_subnet(fc, vpc_id, "172.16.1.0/24", naming.AZ_A),
               _extra_subnet(fc, vpc_id, "172.16.2.0/24", naming.AZ_B)]
    _replace_subnet_group(fc, subnets)


# --- 1.4 -----------------------------------------------------------------------------------------

@fault("1.4", "primary-stopped", "the primary is stopped", "test_primary_is_available", breaks="status is stopped")
def primary_stopped(fc):
    _edit_instance(fc, naming.DB_INSTANCE, status="stopped")


@fault("1.4", "primary-mysql-5-7", "the primary runs MySQL 5.7", "test_primary_runs_mysql_8_0", breaks="5.7")
def primary_old_engine(fc):
    _modify(fc, naming.DB_INSTANCE, EngineVersion="5.7.44")


@fault("1.4", "primary-larger-class", "the primary is a db.t3.small", "test_primary_instance_class_is_db_t3_micro",
       breaks="db.t3.small")
def primary_class(fc):
    _modify(fc, naming.DB_INSTANCE, DBInstanceClass="db.t3.small")


@fault("1.4", "primary-gp3-storage", "the primary's storage is gp3", "test_primary_storage_is_20_gb_gp2",
       breaks="gp3")
def primary_storage(fc):
    _modify(fc, naming.DB_INSTANCE, StorageType="gp3")


@fault("1.4", "backups-off", "automated backups are off (retention 0 days)", "test_primary_keeps_backups_for_7_days",
       breaks="BackupRetentionPeriod is 0")
def backups_off(fc):
    _modify(fc, naming.DB_INSTANCE, BackupRetentionPeriod=0)


@fault("1.4", "primary-public", "the primary is publicly accessible", "test_primary_is_not_publicly_accessible",
       breaks="PubliclyAccessible")
def primary_public(fc):
    _modify(fc, naming.DB_INSTANCE, PubliclyAccessible=True)


@fault("1.4", "no-initial-database", "the primary was created without --db-name labdb",
       "test_primary_database_and_master_user_are_the_labs", breaks="DBName None")
def no_db_name(fc):
    _edit_instance(fc, naming.DB_INSTANCE, db_name=None)


@fault("1.4", "primary-untagged", "the primary lacks the Environment=Lab tag", "test_primary_is_tagged_environment_lab",
       breaks="tag Environment")
def primary_untagged(fc):
    rds = fc.aws("rds")
    arn = rds.describe_db_instances(DBInstanceIdentifier=naming.DB_INSTANCE)["DBInstances"][0]["DBInstanceArn"]
    key, value = naming.LAB_TAG
    rds.remove_tags_from_resource(ResourceName=arn, TagKeys=[key])
    fc.undo(rds.add_tags_to_resource, ResourceName=arn, Tags=[{"Key": key, "Value": value}])


@fault("1.4", "primary-also-in-the-ec2-group", "the primary also carries the EC2 security group",
       "test_primary_uses_only_the_rds_security_group", breaks="security groups")
def primary_extra_group(fc):
    _modify(fc, naming.DB_INSTANCE, VpcSecurityGroupIds=[fc.group_id(naming.RDS_SG), fc.group_id(naming.EC2_SG)])


@fault("1.4", "primary-in-another-subnet-group", "the primary is in a subnet group other than the lab's",
       "test_primary_uses_the_lab_subnet_group", breaks="dblab-fault-subnet-group")
def primary_other_subnet_group(fc):
    rds = fc.aws("rds")
    rds.create_db_subnet_group(DBSubnetGroupName="dblab-fault-subnet-group", DBSubnetGroupDescription="fault",
                               SubnetIds=[fc.subnet_id(name) for name in naming.PRIVATE_SUBNETS])
    fc.undo(rds.delete_db_subnet_group, DBSubnetGroupName="dblab-fault-subnet-group")
    _modify(fc, naming.DB_INSTANCE, DBSubnetGroupName="dblab-fault-subnet-group")


# --- 2.1 -----------------------------------------------------------------------------------------

@fault("2.1", "multi-az-off", "Multi-AZ is off", "test_primary_is_multi_az", breaks="MultiAZ is off")
def multi_az_off(fc):
    _modify(fc, naming.DB_INSTANCE, MultiAZ=False)


@fault("2.1", "standby-in-the-primary-zone", "AWS reports the standby in the primary's own zone",
       "test_standby_is_in_another_availability_zone", view=AWS, breaks="the same zone as the primary")
def standby_same_zone(fc):
    # What AWS reports, in the AWS view's model of its answer (moto's record stays as built).
    primary = fc.aws("rds").describe_db_instances(DBInstanceIdentifier=naming.DB_INSTANCE)["DBInstances"][0]
    fc.patch(fc.answers, "db_instance_changes",
             {naming.DB_INSTANCE: {"SecondaryAvailabilityZone": primary["AvailabilityZone"]}}, system=RDS)


# --- 2.2 -----------------------------------------------------------------------------------------

REPLICA_CHECKS = ("test_replica_is_available", "test_replica_reads_from_the_primary", "test_primary_lists_the_replica",
                  "test_replica_is_in_zone_b", "test_replica_is_not_publicly_accessible",
                  "test_replica_instance_class_is_db_t3_micro")


def _delete_replica(fc) -> None:
    rds = fc.aws("rds")
    rds.delete_db_instance(DBInstanceIdentifier=naming.DB_REPLICA, SkipFinalSnapshot=True)
    fc.undo(fc.reprovision, "2.2")


@fault("2.2", "no-replica", "there is no read replica", *REPLICA_CHECKS, breaks=naming.DB_REPLICA)
def no_replica(fc):
    _delete_replica(fc)


@fault("2.2", "replica-promoted", "the replica was promoted to a standalone instance",
       "test_replica_reads_from_the_primary", "test_primary_lists_the_replica", breaks="ReadReplica")
def replica_promoted(fc):
    rds = fc.aws("rds")
    rds.promote_read_replica(DBInstanceIdentifier=naming.DB_REPLICA)
    fc.undo(fc.reprovision, "2.2")
    fc.undo(rds.delete_db_instance, DBInstanceIdentifier=naming.DB_REPLICA, SkipFinalSnapshot=True)
    # moto 5.2.5's promote only flips is_replica: the promoted instance keeps its source and the
    # primary keeps listing it. AWS clears both; so does this fault.
    replica, primary = _moto_instance(fc, naming.DB_REPLICA), _moto_instance(fc, naming.DB_INSTANCE)
    if replica.source_db_instance_identifier:
        replica.source_db_instance_identifier = None
        primary.remove_replica(replica)


@fault("2.2", "replica-not-available", "the replica is stuck in storage-full", "test_replica_is_available",
       breaks="storage-full")
def replica_storage_full(fc):
    _edit_instance(fc, naming.DB_REPLICA, status="storage-full")


@fault("2.2", "replica-in-zone-a", "the replica is in zone a (us-east-1a), not the lab's zone b",
       "test_replica_is_in_zone_b", breaks=naming.AZ_A)
def replica_zone(fc):
    _edit_instance(fc, naming.DB_REPLICA, availability_zone=naming.AZ_A)


@fault("2.2", "replica-public", "the replica is publicly accessible", "test_replica_is_not_publicly_accessible",
       breaks="PubliclyAccessible")
def replica_public(fc):
    _modify(fc, naming.DB_REPLICA, PubliclyAccessible=True)


@fault("2.2", "replica-larger-class", "the replica is a db.t3.small", "test_replica_instance_class_is_db_t3_micro",
       breaks="db.t3.small")
def replica_class(fc):
    _modify(fc, naming.DB_REPLICA, DBInstanceClass="db.t3.small")


FAULTS = [subnet_group_one_zone, subnet_group_public, subnet_group_other_vpc,
          primary_stopped, primary_old_engine, primary_class, primary_storage, backups_off, primary_public, no_db_name,
          primary_untagged, primary_extra_group, primary_other_subnet_group,
          multi_az_off, standby_same_zone,
          no_replica, replica_promoted, replica_storage_full, replica_zone, replica_public, replica_class]

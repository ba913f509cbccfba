"""Lab 1.3's DB subnet group and the RDS instances of 1.4 (the primary) and 2.2 (its read
replica), found by the lab's names.

An instance identifier and a subnet group name are unique in an account's region, so there is
never a choice to make: the resource is there or not.
"""

from __future__ import annotations

from provisioning import naming
from provisioning.errors import unless_missing

from .found import Found, unique

PRIMARY = naming.DB_INSTANCE
REPLICA = naming.DB_REPLICA
SUBNET_GROUP = naming.DB_SUBNET_GROUP

# DB instance statuses (RDS User Guide, "Viewing instance status"). The lab waits for `available`,
# meaning: the instance exists and serves. AWS itself moves a healthy instance through these and
# back (the nightly backup, a modification such as 2.1's Multi-AZ, maintenance and minor version
# upgrades, storage optimization after a resize, the reboots they need): none is the student's
# doing, so none costs points.
SERVING_STATUSES = frozenset({
    "available", "backing-up", "configuring-enhanced-monitoring", "configuring-iam-database-auth",
    "configuring-log-exports", "converting-to-vpc", "maintenance", "modifying", "moving-to-vpc", "rebooting",
    "renaming", "resetting-master-credentials", "storage-config-upgrade", "storage-optimization", "upgrading",
})
# It does not serve (stopped, full, broken, being deleted), or it is not there yet (creating,
# starting): the step is not done.
NOT_SERVING_STATUSES = frozenset({
    "creating", "delete-precheck", "deleting", "failed", "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable", "incompatible-create", "incompatible-network",
    "incompatible-option-group", "incompatible-parameters", "incompatible-restore", "insufficient-capacity",
    "restore-error", "starting", "stopped", "stopping", "storage-full",
})


def serves(status: str) -> bool | None:
    """Whether an instance in this status exists and serves; None for a status the grader does
    not know (a new one AWS added): neither the student's pass nor their failure."""
    return True if status in SERVING_STATUSES else False if status in NOT_SERVING_STATUSES else None


def describe_db_instance(rds, identifier: str) -> dict | None:
    """The instance's description, None when there is none (provisioning polls on this)."""
    return unless_missing(lambda: rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0])


def describe_db_subnet_group(rds, name: str = SUBNET_GROUP) -> dict | None:
    return unless_missing(lambda: rds.describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"][0])


def instance(rds, identifier: str) -> Found:
    return unique(f"RDS instance {identifier}", describe_db_instance(rds, identifier), f"RDS instance with identifier {identifier}")


def primary(rds) -> Found:
    return instance(rds, PRIMARY)


def replica(rds) -> Found:
    return instance(rds, REPLICA)


def db_subnet_group(rds, name: str = SUBNET_GROUP) -> Found:
    return unique(f"DB subnet group {name}", describe_db_subnet_group(rds, name), f"DB subnet group named {name}")


def subnet_ids(group: dict | Found) -> set[str]:
    return {s["SubnetIdentifier"] for s in group.get("Subnets", ())}


def _names(reference: str, identifier: str) -> bool:
    # RDS gives an identifier, or an ARN (…:db:<identifier>) when the other side is in another region.
    return reference == identifier or reference.endswith(f":db:{identifier}")


def is_source_of(replica: dict | Found, primary_id: str = PRIMARY) -> bool:
    """Whether the replica's ReadReplicaSourceDBInstanceIdentifier names the primary."""
    return _names(replica.get("ReadReplicaSourceDBInstanceIdentifier") or "", primary_id)


def lists_replica(primary: dict | Found, replica_id: str = REPLICA) -> bool:
    """Whether the primary's ReadReplicaDBInstanceIdentifiers names the replica."""
    return any(_names(r, replica_id) for r in primary.get("ReadReplicaDBInstanceIdentifiers") or ())

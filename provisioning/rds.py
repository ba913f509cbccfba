"""Lab 1.3 (DB subnet group), 1.4 (the MySQL primary), 2.1 (Multi-AZ), 2.2 (read replica);
and their cleanup (7.3): the replica first, then the primary, then the subnet group.

Instances are found by identifier, the subnets and the RDS group by Lab 1's names, through the
look-ups the checks use (lookups/), so a re-run adopts them. Waits poll describe calls with
ctx.timeout (minutes on AWS; moto reports `available` at once).
"""

from __future__ import annotations

from typing import Callable

from lookups import network as find
from lookups.rds import describe_db_instance, describe_db_subnet_group, is_source_of

from . import naming
from .context import ProvisionContext
from .errors import retry_while_busy
from .network import require_vpc, required
from .polling import Progress, wait_until

# States from which an instance does not become available by waiting.
FAILED_STATES = {"failed", "incompatible-parameters", "incompatible-network", "incompatible-restore",
                 "incompatible-option-group", "incompatible-parameter-group", "inaccessible-encryption-credentials",
                 "storage-full", "restore-error", "stopped"}


# --- waits -------------------------------------------------------------------------------

def wait_for_instance(rds, identifier: str, *, timeout: float, ready: Callable[[dict], bool] | None = None,
                      what: str = "available", log: Callable[[str], None] | None = None) -> dict:
    """Poll until the instance is available (and `ready`); fail at once on a state that never gets there."""
    progress = Progress(log, f"RDS instance {identifier}")

    def probe():
        db = describe_db_instance(rds, identifier)
        if db is None:
            progress("not found yet")
            return None
        pending = ", pending " + ", ".join(sorted(db["PendingModifiedValues"])) if db.get("PendingModifiedValues") else ""
        progress(db["DBInstanceStatus"] + pending)
        if db["DBInstanceStatus"] in FAILED_STATES:
            return db
        return db if db["DBInstanceStatus"] == "available" and (ready is None or ready(db)) else None

    db = wait_until(probe, timeout=timeout, what=f"RDS instance {identifier} {what}").value
    if db["DBInstanceStatus"] in FAILED_STATES:
        raise RuntimeError(f"RDS instance {identifier} is {db['DBInstanceStatus']}; it will not become available")
    return db


def wait_deleted(rds, identifier: str, timeout: float, log: Callable[[str], None] | None = None) -> None:
    progress = Progress(log, f"RDS instance {identifier}")

    def gone() -> bool:
        db = describe_db_instance(rds, identifier)
        return db is None or bool(progress(db["DBInstanceStatus"])) and False

    wait_until(gone, timeout=timeout, what=f"RDS instance {identifier} deleted")


def _adoptable(ctx: ProvisionContext, rds, identifier: str) -> dict | None:
    """The existing instance, or None when there is none (waiting out a deletion in flight)."""
    db = describe_db_instance(rds, identifier)
    if db is not None and db["DBInstanceStatus"] == "deleting":
        ctx.log(f"RDS instance {identifier}: being deleted, waiting to create it afresh")
        wait_deleted(rds, identifier, ctx.timeout, ctx.log)
        return None
    return db


# --- 1.3 ---------------------------------------------------------------------------------

def create_db_subnet_group(ctx: ProvisionContext) -> dict:
    ec2, rds = ctx.clients("ec2"), ctx.clients("rds")
    subnets = find.private_subnets(ec2, require_vpc(ec2))
    subnet_ids = [required(subnets[name], "1.1")["SubnetId"] for name in naming.PRIVATE_SUBNETS]
    group = describe_db_subnet_group(rds)
    if group is None:
        group = _create_subnet_group(ctx, rds, subnet_ids)
        ctx.log(f"DB subnet group {naming.DB_SUBNET_GROUP}: created")
        return group
    current = sorted(s["SubnetIdentifier"] for s in group.get("Subnets", ()))
    if current != sorted(subnet_ids):
        # Left by a run whose VPC was deleted since: point it at this VPC's private subnets.
        group = rds.modify_db_subnet_group(DBSubnetGroupName=naming.DB_SUBNET_GROUP, SubnetIds=subnet_ids)["DBSubnetGroup"]
        if ctx.emulated and describe_db_subnet_group(rds) is None:
            # moto 5.2.5's modify_db_subnet_group drops the group it modifies (pops it and never
            # stores it back); AWS keeps it. Create it again, as modified.
            group = _create_subnet_group(ctx, rds, subnet_ids)
        ctx.log(f"DB subnet group {naming.DB_SUBNET_GROUP}: existed with other subnets, now the private subnets")
    else:
        ctx.log(f"DB subnet group {naming.DB_SUBNET_GROUP}: exists, adopted")
    return group


def _create_subnet_group(ctx: ProvisionContext, rds, subnet_ids: list[str]) -> dict:
    return rds.create_db_subnet_group(
        DBSubnetGroupName=naming.DB_SUBNET_GROUP, DBSubnetGroupDescription="Subnet group for database lab",
        SubnetIds=subnet_ids, Tags=naming.lab_tags(ctx.run_id, naming.DB_SUBNET_GROUP))["DBSubnetGroup"]


# --- 1.4 ---------------------------------------------------------------------------------

def primary_spec(ctx: ProvisionContext, rds_group_id: str) -> dict:
    """Lab 1.4's create-db-instance, with this run's generated password instead of the lab's literal."""
    return dict(
        DBInstanceIdentifier=naming.DB_INSTANCE,
        DBInstanceClass=naming.DB_INSTANCE_CLASS,
        Engine=naming.DB_ENGINE,
        EngineVersion=naming.DB_ENGINE_VERSION,
        MasterUsername=naming.DB_MASTER_USER,
        MasterUserPassword=str(ctx.master_password),
        AllocatedStorage=naming.DB_STORAGE_GB,
        StorageType=naming.DB_STORAGE_TYPE,
        VpcSecurityGroupIds=[rds_group_id],
        DBSubnetGroupName=naming.DB_SUBNET_GROUP,
        BackupRetentionPeriod=naming.DB_BACKUP_RETENTION_DAYS,
        PubliclyAccessible=False,
        MultiAZ=False,
        DBName=naming.DB_NAME,
        Tags=naming.lab_tags(ctx.run_id, naming.DB_INSTANCE),
    )


def create_primary_instance(ctx: ProvisionContext) -> dict:
    ec2, rds = ctx.clients("ec2"), ctx.clients("rds")
    db = _adoptable(ctx, rds, naming.DB_INSTANCE)
    if db is None:
        group = required(find.security_group(ec2, naming.RDS_SG, require_vpc(ec2)), "1.2")
        rds.create_db_instance(**primary_spec(ctx, group["GroupId"]))
        ctx.log(f"RDS instance {naming.DB_INSTANCE}: creation started")
    else:
        # Its master password is the one it was created with; this run's is not applied.
        ctx.log(f"RDS instance {naming.DB_INSTANCE}: exists ({db['DBInstanceStatus']}), adopted")
    db = wait_for_instance(rds, naming.DB_INSTANCE, timeout=ctx.timeout, log=ctx.log)
    ctx.log(f"RDS instance {naming.DB_INSTANCE}: available at {db.get('Endpoint', {}).get('Address')}")
    return db


# --- 2.1 ---------------------------------------------------------------------------------

def _multi_az_applied(db: dict) -> bool:
    return bool(db.get("MultiAZ")) and "MultiAZ" not in (db.get("PendingModifiedValues") or {})


def enable_multi_az(ctx: ProvisionContext) -> dict:
    rds = ctx.clients("rds")
    db = wait_for_instance(rds, naming.DB_INSTANCE, timeout=ctx.timeout, log=ctx.log)
    if _multi_az_applied(db):
        ctx.log(f"RDS instance {naming.DB_INSTANCE}: already Multi-AZ")
        return db
    rds.modify_db_instance(DBInstanceIdentifier=naming.DB_INSTANCE, MultiAZ=True, ApplyImmediately=True)
    ctx.log(f"RDS instance {naming.DB_INSTANCE}: Multi-AZ requested")
    # The lab's `aws rds wait db-instance-available` can return before the modification even
    # starts (the status is still `available`); wait for MultiAZ itself instead.
    db = wait_for_instance(rds, naming.DB_INSTANCE, timeout=ctx.timeout, log=ctx.log, ready=_multi_az_applied, what="Multi-AZ")
    ctx.log(f"RDS instance {naming.DB_INSTANCE}: Multi-AZ, standby in {db.get('SecondaryAvailabilityZone', 'an AZ the API does not show')}")
    return db


# --- 2.2 ---------------------------------------------------------------------------------

def replica_spec(ctx: ProvisionContext) -> dict:
    return dict(
        DBInstanceIdentifier=naming.DB_REPLICA,
        SourceDBInstanceIdentifier=naming.DB_INSTANCE,
        DBInstanceClass=naming.DB_INSTANCE_CLASS,
        AvailabilityZone=naming.REPLICA_AZ,
        PubliclyAccessible=False,
        Tags=naming.lab_tags(ctx.run_id, naming.DB_REPLICA),
    )


def create_read_replica(ctx: ProvisionContext) -> dict:
    rds = ctx.clients("rds")
    replica = _adoptable(ctx, rds, naming.DB_REPLICA)
    if replica is None:
        # AWS refuses a replica of an instance that is still modifying (e.g. after 2.1).
        wait_for_instance(rds, naming.DB_INSTANCE, timeout=ctx.timeout, log=ctx.log)
        rds.create_db_instance_read_replica(**replica_spec(ctx))
        ctx.log(f"RDS read replica {naming.DB_REPLICA}: creation started")
    else:
        source = replica.get("ReadReplicaSourceDBInstanceIdentifier") or "no source (not a replica)"
        note = "" if is_source_of(replica) else f"; its source is {source}, not {naming.DB_INSTANCE}"
        ctx.log(f"RDS read replica {naming.DB_REPLICA}: exists ({replica['DBInstanceStatus']}), adopted{note}")
    replica = wait_for_instance(rds, naming.DB_REPLICA, timeout=ctx.timeout, log=ctx.log)
    ctx.log(f"RDS read replica {naming.DB_REPLICA}: available at {replica.get('Endpoint', {}).get('Address')}")
    return replica


# --- 7.3 ---------------------------------------------------------------------------------

def _request_deletion(ctx: ProvisionContext, rds, identifier: str, **options) -> bool:
    """Start deleting an instance; False when there is nothing to delete."""
    db = describe_db_instance(rds, identifier)
    if db is None:
        return False
    if db["DBInstanceStatus"] != "deleting":
        # AWS refuses while the instance is e.g. creating or modifying: retry until it may.
        retry_while_busy(lambda: rds.delete_db_instance(DBInstanceIdentifier=identifier, **options),
                         timeout=ctx.timeout, what=f"deletion of RDS instance {identifier} accepted")
        ctx.log(f"RDS instance {identifier}: deletion started")
    return True


def delete_rds(ctx: ProvisionContext) -> None:
    """Lab 7.3: replicas first (waiting until they are gone), then the primary without a final
    snapshot and with its automated backups, then the subnet group."""
    rds = ctx.clients("rds")
    primary = describe_db_instance(rds, naming.DB_INSTANCE)
    replicas = {naming.DB_REPLICA}
    if primary is not None:
        # Replicas a student added; cross-region ones (ARNs) cannot be deleted from here.
        replicas |= {r for r in primary.get("ReadReplicaDBInstanceIdentifiers", ()) if not r.startswith("arn:")}
    started = [r for r in sorted(replicas) if _request_deletion(ctx, rds, r, SkipFinalSnapshot=True)]
    for identifier in started:
        wait_deleted(rds, identifier, ctx.timeout, ctx.log)
        ctx.log(f"RDS instance {identifier}: deleted")
    if _request_deletion(ctx, rds, naming.DB_INSTANCE, SkipFinalSnapshot=True, DeleteAutomatedBackups=True):
        wait_deleted(rds, naming.DB_INSTANCE, ctx.timeout, ctx.log)
        ctx.log(f"RDS instance {naming.DB_INSTANCE}: deleted")
    if retry_while_busy(lambda: rds.delete_db_subnet_group(DBSubnetGroupName=naming.DB_SUBNET_GROUP),
                        timeout=ctx.timeout, what=f"deletion of DB subnet group {naming.DB_SUBNET_GROUP}"):
        ctx.log(f"DB subnet group {naming.DB_SUBNET_GROUP}: deleted")

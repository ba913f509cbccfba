"""Lab 2.1 (Multi-AZ) and 2.2 (read replica): the control plane's view.

Whether data really replicates is Lab 2.3 (test_lab2_replication.py). Read-only: the
instances are found by their identifiers.
"""

from __future__ import annotations

import pytest

from provisioning import naming
from provisioning.rds import describe_db_instance, is_source_of


def _instance(lab, identifier: str) -> dict:
    db = describe_db_instance(lab.client("rds"), identifier)
    if db is None:
        pytest.fail(f"RDS instance {identifier}: not found")
    return db


# --- 2.1 Multi-AZ --------------------------------------------------------------------------------

@pytest.mark.step("2.1")
def test_primary_is_multi_az(lab):
    db = _instance(lab, naming.DB_INSTANCE)
    pending = (db.get("PendingModifiedValues") or {}).get("MultiAZ")
    assert db.get("MultiAZ") is True, (
        f"RDS instance {naming.DB_INSTANCE}: MultiAZ is off"
        + (" (a change to Multi-AZ is pending: it was requested without --apply-immediately)" if pending else ""))


@pytest.mark.step("2.1")
def test_standby_is_in_another_availability_zone(lab):
    db = _instance(lab, naming.DB_INSTANCE)
    primary_zone, standby_zone = db.get("AvailabilityZone"), db.get("SecondaryAvailabilityZone")
    if standby_zone is None:
        # moto 5.2.5 never reports SecondaryAvailabilityZone; AWS does for every Multi-AZ instance.
        lab.require_real_aws(f"RDS instance {naming.DB_INSTANCE}: the standby's availability zone",
                             "moto does not report SecondaryAvailabilityZone")
    assert standby_zone, f"RDS instance {naming.DB_INSTANCE}: no standby (SecondaryAvailabilityZone is empty)"
    assert standby_zone != primary_zone, (
        f"RDS instance {naming.DB_INSTANCE}: the standby is in {standby_zone}, the same zone as the primary")


# --- 2.2 read replica ----------------------------------------------------------------------------

@pytest.mark.step("2.2")
def test_replica_is_available(lab):
    status = _instance(lab, naming.DB_REPLICA)["DBInstanceStatus"]
    assert status == "available", f"RDS instance {naming.DB_REPLICA}: status is {status}, expected available"


@pytest.mark.step("2.2")
def test_replica_reads_from_the_primary(lab):
    replica = _instance(lab, naming.DB_REPLICA)
    source = replica.get("ReadReplicaSourceDBInstanceIdentifier")
    assert is_source_of(replica, naming.DB_INSTANCE), (
        f"RDS instance {naming.DB_REPLICA}: ReadReplicaSourceDBInstanceIdentifier is {source}, "
        f"expected {naming.DB_INSTANCE}" + ("" if source else " (it is not a read replica)"))


@pytest.mark.step("2.2")
def test_primary_lists_the_replica(lab):
    replicas = _instance(lab, naming.DB_INSTANCE).get("ReadReplicaDBInstanceIdentifiers") or []
    listed = any(r == naming.DB_REPLICA or r.endswith(f":db:{naming.DB_REPLICA}") for r in replicas)
    assert listed, (
        f"RDS instance {naming.DB_INSTANCE}: ReadReplicaDBInstanceIdentifiers is {replicas}, "
        f"expected it to list {naming.DB_REPLICA}")


@pytest.mark.step("2.2")
def test_replica_is_in_us_east_1b(lab):
    zone = _instance(lab, naming.DB_REPLICA).get("AvailabilityZone")
    assert zone == naming.REPLICA_AZ, f"RDS instance {naming.DB_REPLICA}: in {zone}, expected {naming.REPLICA_AZ}"


@pytest.mark.step("2.2")
def test_replica_is_not_publicly_accessible(lab):
    assert _instance(lab, naming.DB_REPLICA).get("PubliclyAccessible") is False, (
        f"RDS instance {naming.DB_REPLICA}: PubliclyAccessible is on")


@pytest.mark.step("2.2")
def test_replica_instance_class_is_db_t3_micro(lab):
    actual = _instance(lab, naming.DB_REPLICA).get("DBInstanceClass")
    assert actual == naming.DB_INSTANCE_CLASS, (
        f"RDS instance {naming.DB_REPLICA}: class is {actual}, expected {naming.DB_INSTANCE_CLASS}")

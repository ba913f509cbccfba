"""Lab 2.1 (Multi-AZ) and 2.2 (read replica): the control plane's view.

Whether data really replicates is Lab 2.3 (test_lab2_replication.py). Read-only: the
instances are found by their identifiers.
"""

from __future__ import annotations

import pytest

from fixtures.checks import assert_instance_serves, require
from lookups import rds
from provisioning import naming


# --- 2.1 Multi-AZ --------------------------------------------------------------------------------

@pytest.mark.step("2.1")
def test_primary_is_multi_az(lab):
    db = rds.primary(lab.client("rds"))
    pending = (require(db).get("PendingModifiedValues") or {}).get("MultiAZ")
    assert db.get("MultiAZ") is True, (
        f"{db.subject}: MultiAZ is off"
        + (" (a change to Multi-AZ is pending: it was requested without --apply-immediately)" if pending else ""))


@pytest.mark.step("2.1")
def test_standby_is_in_another_availability_zone(lab):
    db = rds.primary(lab.client("rds"))
    primary_zone, standby_zone = require(db).get("AvailabilityZone"), db.get("SecondaryAvailabilityZone")
    if standby_zone is None:
        # moto 5.2.5 never reports SecondaryAvailabilityZone; AWS does for every Multi-AZ instance.
        lab.require_real_aws(f"{db.subject}: the standby's availability zone",
                             "moto does not report SecondaryAvailabilityZone")
    assert standby_zone, f"{db.subject}: no standby (SecondaryAvailabilityZone is empty)"
    assert standby_zone != primary_zone, f"{db.subject}: the standby is in {standby_zone}, the same zone as the primary"


# --- 2.2 read replica ----------------------------------------------------------------------------

@pytest.mark.step("2.2")
def test_replica_is_available(lab):
    assert_instance_serves(rds.replica(lab.client("rds")))


@pytest.mark.step("2.2")
def test_replica_reads_from_the_primary(lab):
    replica = rds.replica(lab.client("rds"))
    source = require(replica).get("ReadReplicaSourceDBInstanceIdentifier")
    assert rds.is_source_of(replica, rds.PRIMARY), (
        f"{replica.subject}: ReadReplicaSourceDBInstanceIdentifier is {source}, "
        f"expected {rds.PRIMARY}" + ("" if source else " (it is not a read replica)"))


@pytest.mark.step("2.2")
def test_primary_lists_the_replica(lab):
    db = rds.primary(lab.client("rds"))
    replicas = require(db).get("ReadReplicaDBInstanceIdentifiers") or []
    assert rds.lists_replica(db, rds.REPLICA), (
        f"{db.subject}: ReadReplicaDBInstanceIdentifiers is {replicas}, expected it to list {rds.REPLICA}")


@pytest.mark.step("2.2")
def test_replica_is_in_zone_b(lab):
    # The lab's --availability-zone us-east-1b: zone b of the region the lab is graded in.
    replica, region = rds.replica(lab.client("rds")), lab.clients.target.region
    zone, expected = require(replica).get("AvailabilityZone"), naming.zone(region, naming.REPLICA_ZONE)
    assert zone == expected, f"{replica.subject}: in {zone}, expected {expected} (zone {naming.REPLICA_ZONE} of {region})"


@pytest.mark.step("2.2")
def test_replica_is_not_publicly_accessible(lab):
    replica = rds.replica(lab.client("rds"))
    assert require(replica).get("PubliclyAccessible") is False, f"{replica.subject}: PubliclyAccessible is on"


@pytest.mark.step("2.2")
def test_replica_instance_class_is_db_t3_micro(lab):
    replica = rds.replica(lab.client("rds"))
    actual = require(replica).get("DBInstanceClass")
    assert actual == naming.DB_INSTANCE_CLASS, f"{replica.subject}: class is {actual}, expected {naming.DB_INSTANCE_CLASS}"

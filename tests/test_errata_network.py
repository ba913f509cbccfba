"""Defects of Labs 1, 2.1 and 7.1 (the control plane) and erratum 6 (secrets), each shown
failing the lab's way and working the suite's way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from provisioning import naming, network, rds
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.polling import wait_until
from provisioning.passwords import Secret, generate_password
from suites import test_lab1_network as lab1

from .conftest import REPO_ROOT

LAB_TEXT = Path(os.environ.get("LAB_TEXT") or REPO_ROOT.parent / "shared" / "lab" / "hands-on-database-lab.md")
LITERAL = "LabPassword" + "123!"  # split so that this file does not hold it either


def context(clients, **overrides) -> ProvisionContext:
    settings = dict(clients=clients, run_id="test-errata", dataplane=DataPlane(), master_password=generate_password(),
                    timeout=5, log=lambda message: None)
    return ProvisionContext(**{**settings, **overrides})


def outcome(check, lab) -> str:
    try:
        check(lab)
    except (AssertionError, pytest.fail.Exception) as exc:
        return f"failed: {exc}"
    return "passed"


# --- Lab 1.1-1.5 are not idempotent: running Step 1.1 again makes a second VPC ----------------------

def lab_create_vpc(ec2) -> str:
    """Lab 1.1's first two commands (create-vpc with its Name tag, then DNS hostnames), as boto3 calls."""
    vpc_id = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": naming.VPC}]}])["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    return vpc_id


@pytest.fixture
def lab(aws_clients):
    from fixtures.lab import LabContext

    return LabContext(clients=aws_clients, dataplane=DataPlane(), timeout=1, target="local")


def test_lab_step_1_1_run_twice_leaves_two_vpcs(aws_clients, lab):
    lab_create_vpc(aws_clients("ec2"))
    lab_create_vpc(aws_clients("ec2"))
    assert outcome(lab1.test_exactly_one_vpc_is_named_database_lab_vpc, lab).startswith("failed: VPC database-lab-vpc: 2")


def test_suite_step_1_1_run_twice_adopts_the_vpc(aws_clients, lab):
    ctx = context(aws_clients)
    network.create_vpc_network(ctx)
    network.create_vpc_network(ctx)
    assert outcome(lab1.test_exactly_one_vpc_is_named_database_lab_vpc, lab) == "passed"


# --- Lab 2.1 waits for `available`, which the instance still is before Multi-AZ starts ---------------

def rds_instance(status: str, multi_az: bool, pending: dict | None = None) -> dict:
    db = {"DBInstanceIdentifier": naming.DB_INSTANCE, "DBInstanceStatus": status, "MultiAZ": multi_az}
    return {**db, "PendingModifiedValues": pending} if pending else db


@pytest.fixture
def stubbed_rds():
    # AWS's answers, in order, for an instance whose Multi-AZ change has been accepted but not started.
    client = boto3.client("rds", region_name=naming.REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber


def describe(stubber, *instances) -> None:
    for db in instances:
        stubber.add_response("describe_db_instances", {"DBInstances": [db]}, {"DBInstanceIdentifier": naming.DB_INSTANCE})


def test_lab_waiter_returns_before_multi_az_is_on(stubbed_rds):
    client, stubber = stubbed_rds
    stubber.add_response("modify_db_instance", {"DBInstance": rds_instance("available", False, {"MultiAZ": True})})
    describe(stubber, rds_instance("available", False, {"MultiAZ": True}), rds_instance("available", False, {"MultiAZ": True}))
    client.modify_db_instance(DBInstanceIdentifier=naming.DB_INSTANCE, MultiAZ=True, ApplyImmediately=True)
    client.get_waiter("db_instance_available").wait(DBInstanceIdentifier=naming.DB_INSTANCE)  # returns at once
    verified = client.describe_db_instances(DBInstanceIdentifier=naming.DB_INSTANCE)["DBInstances"][0]
    assert verified["MultiAZ"] is False  # the lab's "Verify Multi-AZ is enabled" shows it is not


def test_suite_waits_for_multi_az_itself(stubbed_rds):
    client, stubber = stubbed_rds
    describe(stubber, rds_instance("available", False))
    stubber.add_response("modify_db_instance", {"DBInstance": rds_instance("available", False, {"MultiAZ": True})})
    describe(stubber, rds_instance("available", False, {"MultiAZ": True}), rds_instance("modifying", False),
             rds_instance("available", True))
    db = rds.enable_multi_az(context(lambda service: client, timeout=10))
    assert db["MultiAZ"] is True
    stubber.assert_no_pending_responses()


# --- Lab 7.1 waits a fixed 300 s before deleting the cache subnet group ------------------------------

def test_lab_subnet_group_deletion_fails_while_the_group_is_still_deleting():
    # AWS's answers when the replication group takes longer than the lab's `sleep 300` to go.
    client = boto3.client("elasticache", region_name=naming.REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_response("delete_replication_group",
                             {"ReplicationGroup": {"ReplicationGroupId": naming.REPLICATION_GROUP, "Status": "deleting"}},
                             {"ReplicationGroupId": naming.REPLICATION_GROUP})
        stubber.add_client_error("delete_cache_subnet_group", "CacheSubnetGroupInUse",
                                 "Cache subnet group database-lab-cache-subnet is currently in use by a cache cluster.")
        client.delete_replication_group(ReplicationGroupId=naming.REPLICATION_GROUP)
        # sleep 300
        with pytest.raises(ClientError, match="CacheSubnetGroupInUse"):
            client.delete_cache_subnet_group(CacheSubnetGroupName=naming.CACHE_SUBNET_GROUP)
    # The suite polls until the group is gone, then deletes the subnet group:
    # tests/test_elasticache_lab5.py::test_teardown_without_an_emulator_waits_for_the_group_to_go.


# --- erratum 6: the master password in commands and code ---------------------------------------------

def test_lab_puts_the_master_password_in_commands_and_code():
    text = LAB_TEXT.read_text()
    assert text.count(LITERAL) >= 6  # create-db-instance, two mysql -p'...', three DB_CONFIGs


def test_a_password_on_a_command_line_is_visible_to_every_process():
    # What `mysql -p'...'` exposes while it runs: /proc/<pid>/cmdline is world-readable (ps shows it).
    secret = str(generate_password())
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", f"-p{secret}"],
                               stdin=subprocess.PIPE)
    try:
        # Read once the child has exec'd: between fork and exec its cmdline is empty.
        cmdline = wait_until(lambda: Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(), timeout=10,
                             what="the child's command line").value
        assert secret in cmdline
    finally:
        process.communicate(b"")


def test_suite_code_holds_no_password_and_never_shows_the_generated_one():
    sources = [p for d in ("provisioning", "suites", "fixtures", "dblab", "grading") for p in (REPO_ROOT / d).rglob("*.py")]
    assert sources and not [str(p) for p in sources if LITERAL in p.read_text()]
    password = generate_password()
    assert isinstance(password, Secret) and str(password) not in repr(password)

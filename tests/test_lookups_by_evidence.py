"""Grading what the student's resources use, in the student's region, with the grader's own
settings kept apart (issue 9):

- a duplicate network (Lab 1.1 run twice, erratum 1) costs only the check about duplicates: the
  VPC, subnets and groups graded are those the lab's other resources use (lookups/usage.py),
  whatever the ids, in Lab 1, 2 and 5 alike;
- the lab's zones are zones a and b of the region graded, not us-east-1's;
- the region follows boto3's chain when the lab is in an account;
- statuses AWS routinely reports (backing-up, modifying, snapshotting...) pass, those of an
  instance that does not serve fail, an unknown one is the grader's gap;
- the replica's read-only setting is not gradable on ElastiCache;
- a grader CIDR the instructor declares is not counted against the student in 1.2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import partial
from types import SimpleNamespace

import pytest
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

import suites.test_lab1_network as lab1_network
import suites.test_lab1_rds_and_bastion as lab1_rds
import suites.test_lab2_high_availability as lab2
import suites.test_lab5_elasticache as lab5
from fixtures.config import LAB_CONFIG
from fixtures.lab import LabContext
from lookups import network, rds
from lookups.network import LabNetwork
from lookups.usage import Usage
from provisioning import lab, naming, settings
from provisioning.aws import AwsClients, AwsTarget
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password
from provisioning.settings import SettingsError

from .conftest import REPO_ROOT

CONTROL_PLANE_STEPS = ("1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.2", "4.1", "4.2", "4.3", "5.1", "5.2")
DUPLICATES_CHECK = "test_exactly_one_vpc_is_named_database_lab_vpc"
GRADER_CIDR = "203.0.113.99/32"
FAILED = (AssertionError, pytest.fail.Exception)


def outcome(check, *args) -> str:
    """'passed', 'failed: message' or the skip's reason ('not_gradable: ...')."""
    try:
        check(*args)
    except pytest.skip.Exception as exc:
        return str(exc.msg)
    except FAILED as exc:
        return f"failed: {exc}"
    return "passed"


def lab_in(clients) -> LabContext:
    return LabContext(clients=clients, dataplane=DataPlane(), timeout=1, target="aws")


def build_lab(clients) -> None:
    ctx = ProvisionContext(clients=clients, run_id="evidence", dataplane=DataPlane(),
                           master_password=generate_password(), log=lambda message: None)
    failed = [result for result in lab.provision(ctx) if result.error]
    assert not failed, failed


def _named(resource_type: str, name: str) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}]}]


def add_rerun_network(ec2, lab_vpc_id: str) -> str:
    """What running the lab's Step 1.1 again builds: a VPC with the lab's name and CIDR, its gateway,
    subnets and public route table. Made until its id sorts before the lab's VPC (ids are random),
    so that the lowest-id rule would grade it: only evidence finds the lab's."""
    for _ in range(64):
        vpc_id = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=_named("vpc", naming.VPC))["Vpc"]["VpcId"]
        if vpc_id < lab_vpc_id:
            break
        ec2.delete_vpc(VpcId=vpc_id)
    else:
        pytest.skip(f"no random VPC id sorted before {lab_vpc_id} in 64 tries")
    igw = ec2.create_internet_gateway(TagSpecifications=_named("internet-gateway", naming.IGW))["InternetGateway"]
    ec2.attach_internet_gateway(VpcId=vpc_id, InternetGatewayId=igw["InternetGatewayId"])
    subnets = {name: ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone,
                                       TagSpecifications=_named("subnet", name))["Subnet"]["SubnetId"]
               for name, (cidr, zone) in naming.SUBNETS.items()}
    table = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=_named("route-table", naming.PUBLIC_ROUTE_TABLE))
    table_id = table["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw["InternetGatewayId"])
    ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnets[naming.PUBLIC_SUBNET_A])
    return vpc_id


# --- the acceptance case: Lab 1.1 run twice, the rest done right, graded end to end ------------------

@pytest.fixture(scope="module")
def rerun_account(moto_server, session_aws_clients) -> dict:
    """The whole lab, a second copy of Lab 1.1's network whose VPC id sorts first, and the grader's
    own SSH rule in the bastion's group (declared with --lab-grader-cidr); graded in a subprocess."""
    moto_server.reset()
    clients = session_aws_clients
    build_lab(clients)
    ec2 = clients("ec2")
    lab_vpc = network.vpc(ec2)
    group_id = network.security_group(ec2, naming.EC2_SG, lab_vpc)["GroupId"]
    decoy = add_rerun_network(ec2, lab_vpc["VpcId"])
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": GRADER_CIDR}]}])
    return {"lab_vpc": lab_vpc["VpcId"], "decoy": decoy, "grade": _grade(moto_server, f"--lab-grader-cidr={GRADER_CIDR}")}


def _grade(moto_server, *args: str) -> dict:
    import tempfile
    from pathlib import Path

    reports = Path(tempfile.mkdtemp(prefix="evidence-grade-"))
    environ = {k: v for k, v in os.environ.items()
               if k not in ("LOCALSTACK_HOST", "AWS_PROFILE", *settings.REGION_VARIABLES)}
    environ["AWS_ENDPOINT_URL"] = moto_server.endpoint_url
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "aws", "--lab-grade", "--lab-student=rerun", "-q", "-p", "no:cacheprovider",
         f"--junitxml={reports / 'junit.xml'}", f"--lab-reports-dir={reports}", "--lab-timeout=5", *args],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=300)
    grade_file = reports / "grades" / "rerun.json"
    assert grade_file.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(grade_file.read_text())


@pytest.mark.parametrize("step", CONTROL_PLANE_STEPS)
def test_a_rerun_of_lab_1_1_costs_only_the_check_about_duplicates(rerun_account, step):
    graded = {s["step"]: s for s in rerun_account["grade"]["steps"]}[step]
    lost = {c["id"]: c["message"] for c in graded["checks"] if c["status"] != "pass" and c["max_points"]}
    if step == "1.1":
        assert list(lost) == [DUPLICATES_CHECK], lost
        assert f"chose {rerun_account['lab_vpc']}: it is used by DB subnet group" in lost[DUPLICATES_CHECK]
        assert lost[DUPLICATES_CHECK].endswith(f"delete {rerun_account['decoy']}")
    else:
        assert (graded["status"], graded["points"], lost) == ("pass", graded["rubric_points"], {})


def test_the_duplicate_sorted_first_so_the_lowest_id_would_have_graded_it(rerun_account):
    assert rerun_account["decoy"] < rerun_account["lab_vpc"]


# --- the evidence rule, look-up by look-up ---------------------------------------------------------

@pytest.fixture
def two_vpcs(aws_clients):
    """Two VPCs with the lab's name and CIDR; only the second holds the DB subnet group."""
    ec2, rds_client = aws_clients("ec2"), aws_clients("rds")
    vpcs = sorted(ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=_named("vpc", naming.VPC))["Vpc"]["VpcId"]
                  for _ in range(2))
    subnets = {vpc_id: [ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone,
                                          TagSpecifications=_named("subnet", name))["Subnet"]["SubnetId"]
                        for name, (cidr, zone) in naming.SUBNETS.items() if name in naming.PRIVATE_SUBNETS]
               for vpc_id in vpcs}
    used = vpcs[1]  # the higher id: the lowest-id rule would take the other
    rds_client.create_db_subnet_group(DBSubnetGroupName=naming.DB_SUBNET_GROUP, DBSubnetGroupDescription="lab",
                                      SubnetIds=subnets[used])
    return SimpleNamespace(unused=vpcs[0], used=used, subnets=subnets)


def test_the_vpc_the_db_subnet_group_uses_wins_and_the_evidence_says_so(aws_clients, two_vpcs):
    found = network.vpc(aws_clients("ec2"), Usage(aws_clients))
    assert found["VpcId"] == two_vpcs.used
    assert f"chose {two_vpcs.used}: it is used by DB subnet group {naming.DB_SUBNET_GROUP}" in found.evidence
    assert [v["VpcId"] for v in found.others] == [two_vpcs.unused]


def test_without_the_lab_s_usage_the_lowest_id_decides_as_before(aws_clients, two_vpcs):
    # Provisioning adopts before any subnet group exists: the shared rule, unchanged.
    assert network.vpc(aws_clients("ec2"))["VpcId"] == two_vpcs.unused


def test_an_account_with_one_vpc_never_reads_the_other_services(aws_clients):
    ec2 = aws_clients("ec2")
    ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=_named("vpc", naming.VPC))
    asked = []
    found = network.vpc(ec2, Usage(lambda service: asked.append(service) or aws_clients(service)))
    assert found and asked == []


def test_the_most_used_vpc_wins_when_resources_disagree(aws_clients, two_vpcs):
    # The DB subnet group is in one VPC, but the three lab groups are in the other: the student's
    # later steps used that one, so the DB subnet group is what is out of place (1.3 says so).
    ec2 = aws_clients("ec2")
    for name in network.LAB_GROUPS:
        ec2.create_security_group(GroupName=name, Description="lab", VpcId=two_vpcs.unused)
    found = network.vpc(ec2, Usage(aws_clients))
    assert found["VpcId"] == two_vpcs.unused and "security group database-lab-ec2-sg" in found.evidence


def test_subnets_and_lab_5_look_ups_follow_the_evidence_without_raising(aws_clients, two_vpcs):
    lab_network = LabNetwork(aws_clients)
    private = {name: found["SubnetId"] for name, found in lab_network.private_subnets().items()}
    assert set(private.values()) == set(two_vpcs.subnets[two_vpcs.used])
    check = lab5.test_cache_subnet_group_holds_exactly_the_two_private_subnets
    aws_clients("elasticache").create_cache_subnet_group(
        CacheSubnetGroupName=naming.CACHE_SUBNET_GROUP, CacheSubnetGroupDescription="lab",
        SubnetIds=two_vpcs.subnets[two_vpcs.used])
    assert outcome(check, lab_in(aws_clients)) == "passed"


def test_a_subnet_used_by_the_subnet_groups_wins_over_a_second_one_with_the_lab_s_name(aws_clients):
    ec2, rds_client = aws_clients("ec2"), aws_clients("rds")
    vpc_id = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=_named("vpc", naming.VPC))["Vpc"]["VpcId"]
    extra = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.0.0/24", AvailabilityZone=naming.AZ_A,
                              TagSpecifications=_named("subnet", naming.PRIVATE_SUBNET_A))["Subnet"]["SubnetId"]
    lab_a, lab_b = (ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone,
                                      TagSpecifications=_named("subnet", name))["Subnet"]["SubnetId"]
                    for name, (cidr, zone) in naming.SUBNETS.items() if name in naming.PRIVATE_SUBNETS)
    rds_client.create_db_subnet_group(DBSubnetGroupName=naming.DB_SUBNET_GROUP, DBSubnetGroupDescription="lab",
                                      SubnetIds=[extra, lab_b])
    # The student's subnet groups use the extra one: that is the subnet they built on, whatever its CIDR.
    found = LabNetwork(aws_clients).subnet(naming.PRIVATE_SUBNET_A)
    assert found["SubnetId"] == extra and "is used by DB subnet group" in found.evidence
    assert lab_a in {s["SubnetId"] for s in found.others}


# --- zones come from the region graded -------------------------------------------------------------

def test_the_lab_s_zones_are_zones_a_and_b_of_any_region():
    assert (naming.zone("us-west-2", naming.ZONE_A), naming.subnet_zone(naming.PRIVATE_SUBNET_B, "eu-west-1")) == (
        "us-west-2a", "eu-west-1b")
    assert (naming.AZ_A, naming.AZ_B, naming.REPLICA_AZ) == ("us-east-1a", "us-east-1b", "us-east-1b")


@pytest.fixture
def west(moto_server, aws_clients):
    """Clients of the same emulator in us-west-2."""
    return AwsClients(AwsTarget(region="us-west-2", endpoint_url=moto_server.endpoint_url))


def test_subnets_and_the_replica_in_another_region_pass_in_that_region_s_zones(west):
    ec2, rds_client = west("ec2"), west("rds")
    vpc_id = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=_named("vpc", naming.VPC))["Vpc"]["VpcId"]
    for name, (cidr, _) in naming.SUBNETS.items():
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=naming.subnet_zone(name, "us-west-2"),
                          TagSpecifications=_named("subnet", name))
    rds_client.create_db_instance(DBInstanceIdentifier=naming.DB_INSTANCE, DBInstanceClass="db.t3.micro", Engine="mysql",
                                  MasterUsername="admin", MasterUserPassword=str(generate_password()),
                                  AllocatedStorage=20, BackupRetentionPeriod=7)
    rds_client.create_db_instance_read_replica(DBInstanceIdentifier=naming.DB_REPLICA,
                                               SourceDBInstanceIdentifier=naming.DB_INSTANCE,
                                               AvailabilityZone="us-west-2b")
    lab_west = lab_in(west)
    results = {name: outcome(partial(lab1_network.test_subnet_has_the_lab_cidr_and_zone, name=name), lab_west)
               for name in naming.SUBNETS}
    results["replica"] = outcome(lab2.test_replica_is_in_zone_b, lab_west)
    assert set(results.values()) == {"passed"}, results


def test_a_replica_in_zone_a_fails_naming_the_region_s_zone_b(west):
    rds_client = west("rds")
    rds_client.create_db_instance(DBInstanceIdentifier=naming.DB_INSTANCE, DBInstanceClass="db.t3.micro", Engine="mysql",
                                  MasterUsername="admin", MasterUserPassword=str(generate_password()),
                                  AllocatedStorage=20, BackupRetentionPeriod=7)
    rds_client.create_db_instance_read_replica(DBInstanceIdentifier=naming.DB_REPLICA,
                                               SourceDBInstanceIdentifier=naming.DB_INSTANCE,
                                               AvailabilityZone="us-west-2a")
    assert outcome(lab2.test_replica_is_in_zone_b, lab_in(west)).splitlines()[0] == (
        f"failed: RDS instance {naming.DB_REPLICA}: in us-west-2a, expected us-west-2b (zone b of us-west-2)")


# --- the region follows boto3's chain for an account ---------------------------------------------------

@pytest.fixture
def aws_config(tmp_path, monkeypatch):
    """An AWS config file whose profiles have regions; no region in the environment."""
    path = tmp_path / "config"
    path.write_text("[default]\nregion = eu-central-1\n\n[profile student]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "LAB_REGION", *settings.REGION_VARIABLES):
        monkeypatch.delenv(variable, raising=False)
    return path


def region_of(environ=None, *, given=None, ini=None, profile=None, aws_chain=True) -> str:
    values = {"region": given, "profile": profile}
    raw = settings.gather(lambda option: values.get(option.name), environ if environ is not None else os.environ,
                          lambda option: ini if option.name == "region" else None)
    return settings.resolve_region(raw, environ if environ is not None else os.environ, aws_chain=aws_chain)


def test_region_precedence_is_command_line_lab_region_ini_then_boto3_s_chain_then_the_lab_s(aws_config, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-1")
    monkeypatch.setenv("LAB_REGION", "eu-west-3")
    assert region_of(given="sa-east-1", ini="eu-north-1") == "sa-east-1"
    assert region_of(ini="eu-north-1") == "eu-west-3"
    monkeypatch.delenv("LAB_REGION")
    assert region_of(ini="eu-north-1") == "eu-north-1"
    assert region_of() == "us-west-2"
    monkeypatch.delenv("AWS_REGION")
    assert region_of() == "us-west-1"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert region_of() == "eu-central-1"  # the default profile's
    assert region_of(profile="student") == "ap-south-1"
    monkeypatch.setenv("AWS_PROFILE", "student")
    assert region_of() == "ap-south-1"
    assert region_of(profile="nobody") == naming.REGION  # a missing profile: the clients report it
    aws_config.write_text("")
    monkeypatch.delenv("AWS_PROFILE")
    assert region_of() == naming.REGION


def test_the_local_lab_keeps_its_own_region_whatever_the_shell_says(aws_config, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-1")
    raw = settings.gather(lambda option: None, os.environ)
    local = settings.resolve(raw, markexpr_target="local", invocation_dir=tmp_path, rootdir=tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    grading = settings.gather(lambda option: True if option.name == "grade" else None, os.environ)
    graded = settings.resolve(grading, markexpr_target="aws", invocation_dir=tmp_path, rootdir=tmp_path)
    assert (local.aws.region, graded.aws.region) == (naming.REGION, "us-west-1")


# --- statuses AWS routinely reports ---------------------------------------------------------------

def _rds_record(identifier: str):
    return get_backend("rds")[DEFAULT_ACCOUNT_ID][naming.REGION].databases[identifier]


@pytest.fixture
def instances(aws_clients):
    rds_client = aws_clients("rds")
    rds_client.create_db_instance(DBInstanceIdentifier=naming.DB_INSTANCE, DBInstanceClass="db.t3.micro", Engine="mysql",
                                  MasterUsername="admin", MasterUserPassword=str(generate_password()),
                                  AllocatedStorage=20, BackupRetentionPeriod=7)
    rds_client.create_db_instance_read_replica(DBInstanceIdentifier=naming.DB_REPLICA,
                                               SourceDBInstanceIdentifier=naming.DB_INSTANCE)
    return lab_in(aws_clients)


@pytest.mark.parametrize("status", ["backing-up", "modifying", "maintenance", "upgrading", "storage-optimization",
                                    "configuring-enhanced-monitoring", "rebooting"])
def test_routine_rds_statuses_pass(instances, status):
    _rds_record(naming.DB_INSTANCE).status = _rds_record(naming.DB_REPLICA).status = status
    assert (outcome(lab1_rds.test_primary_is_available, instances), outcome(lab2.test_replica_is_available, instances)) == (
        "passed", "passed")


@pytest.mark.parametrize("status", ["stopped", "storage-full", "failed", "incompatible-parameters",
                                    "inaccessible-encryption-credentials", "creating", "deleting"])
def test_statuses_of_an_instance_that_does_not_serve_fail_naming_it(instances, status):
    _rds_record(naming.DB_INSTANCE).status = status
    assert outcome(lab1_rds.test_primary_is_available, instances).startswith(f"failed: RDS instance {naming.DB_INSTANCE}: "
                                                                             f"status is {status}: it does not serve")


def test_a_status_the_grader_does_not_know_is_not_gradable(instances):
    _rds_record(naming.DB_REPLICA).status = "hibernating-in-2031"
    assert outcome(lab2.test_replica_is_available, instances).startswith("not_gradable: ")
    assert rds.serves("available") and rds.serves("stopped") is False and rds.serves("hibernating-in-2031") is None


@pytest.mark.parametrize("status, verdict", [("available", "passed"), ("modifying", "passed"), ("snapshotting", "passed"),
                                             ("create-failed", "failed"), ("deleting", "failed"), ("creating", "failed")])
def test_replication_group_statuses(aws_clients, status, verdict):
    aws_clients("elasticache").create_replication_group(
        ReplicationGroupId=naming.REPLICATION_GROUP, ReplicationGroupDescription="lab", Engine="redis",
        CacheNodeType=naming.CACHE_NODE_TYPE, NumCacheClusters=2)
    groups = get_backend("elasticache")[DEFAULT_ACCOUNT_ID][naming.REGION].replication_groups
    groups[naming.REPLICATION_GROUP].status = status
    assert outcome(lab5.test_replication_group_is_available, lab_in(aws_clients)).split(":")[0] == verdict


# --- the replica's read-only setting on ElastiCache ------------------------------------------------

def _setup_outcome(check, target: AwsTarget) -> str:
    """What fixtures/plugin.py's setup hook makes of `check` (its own markers) against `target`."""
    from fixtures import plugin

    marks = {mark.name: mark for mark in getattr(check, "pytestmark", [])}
    item = SimpleNamespace(get_closest_marker=marks.get,
                           config=SimpleNamespace(stash={LAB_CONFIG: SimpleNamespace(grade=True, read_only=True, local=False, aws=target)}))
    try:
        plugin.pytest_runtest_setup(item)
    except pytest.skip.Exception as skip:
        return str(skip.msg)
    return "runs"


def test_the_replica_read_only_check_is_not_gradable_on_elasticache_and_says_why():
    reason = _setup_outcome(lab5.test_redis_replica_is_read_only, AwsTarget(region=naming.REGION))
    assert reason.startswith("not_gradable: ") and "blocks CONFIG" in reason and "never writes" in reason
    emulated = AwsTarget(region=naming.REGION, endpoint_url="http://127.0.0.1:1")
    assert _setup_outcome(lab5.test_redis_replica_is_read_only, emulated) == "runs"


def test_the_parity_table_says_the_read_only_check_is_verified_locally_only(tmp_path):
    from dblab import parity
    from fixtures.steps import LOCAL_ONLY

    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite><testcase name="test_redis_replica_is_read_only"><properties>'
                     '<property name="step" value="5.2"/><property name="verified_on" value="local only"/>'
                     '</properties></testcase></testsuite></testsuites>')
    assert parity.rows(junit) == [("5.2", "test_redis_replica_is_read_only", "verified", LOCAL_ONLY)]


# --- the grader's declared CIDR ---------------------------------------------------------------------

def grader_request(cidr: str | None):
    return SimpleNamespace(config=SimpleNamespace(stash={LAB_CONFIG: SimpleNamespace(grader_cidr=cidr)}))


@pytest.fixture
def ec2_group(aws_clients):
    ec2 = aws_clients("ec2")
    vpc_id = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=_named("vpc", naming.VPC))["Vpc"]["VpcId"]
    group_id = ec2.create_security_group(GroupName=naming.EC2_SG, Description="ec2", VpcId=vpc_id)["GroupId"]

    def allow(cidr: str, port: int = 22) -> None:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}])
    return allow


def test_the_grader_s_ssh_rule_is_not_counted_when_declared(aws_clients, ec2_group):
    check = lab1_network.test_ec2_group_allows_only_ssh_from_one_address
    ec2_group("198.51.100.10/32")
    ec2_group(GRADER_CIDR)
    lab_here = lab_in(aws_clients)
    assert outcome(check, lab_here, grader_request(GRADER_CIDR)) == "passed"
    assert outcome(check, lab_here, grader_request(None)).startswith("failed: ")
    assert outcome(check, lab_here, SimpleNamespace(node=None)).startswith("failed: ")  # a check called outside pytest


def test_only_exactly_the_declared_range_is_excused(aws_clients, ec2_group):
    check = lab1_network.test_ec2_group_allows_only_ssh_from_one_address
    ec2_group("198.51.100.10/32")
    ec2_group("203.0.113.0/24")  # contains the grader's address, but is not it
    message = outcome(check, lab_in(aws_clients), grader_request(GRADER_CIDR))
    assert message.startswith("failed: ") and "203.0.113.0/24" in message
    assert f"besides the grader's {GRADER_CIDR}" in message


def test_the_grader_s_address_alone_is_the_student_s_one_address(aws_clients, ec2_group):
    ec2_group(GRADER_CIDR)
    check = lab1_network.test_ec2_group_allows_only_ssh_from_one_address
    assert outcome(check, lab_in(aws_clients), grader_request(GRADER_CIDR)) == "passed"


def grader_cidr(value) -> str | None:
    return settings.resolve_grader_cidr(settings.gather(lambda option: value if option.name == "grader-cidr" else None, {}))


def test_the_grader_cidr_setting_is_normalised_and_never_the_world():
    assert (grader_cidr(None), grader_cidr("203.0.113.99"), grader_cidr("2001:db8::1/128")) == (
        None, "203.0.113.99/32", "2001:db8::1/128")
    for world in ("0.0.0.0/0", "::/0"):
        with pytest.raises(SettingsError, match=r"^--lab-grader-cidr must not be the whole internet"):
            grader_cidr(world)
    with pytest.raises(SettingsError, match=r"^--lab-grader-cidr takes the grader's address range .*'my laptop'$"):
        grader_cidr("my laptop")


def test_a_world_grader_cidr_stops_pytest_with_one_line(lab_pytester):
    lab_pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = lab_pytester.runpytest_subprocess("-p", "fixtures.plugin", "-p", "no:cacheprovider",
                                               "--lab-grader-cidr=0.0.0.0/0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if "grader-cidr" in line]
    assert len(errors) == 1 and "must not be the whole internet" in errors[0], result.errlines
    assert not any("Traceback" in line for line in result.errlines + result.outlines)

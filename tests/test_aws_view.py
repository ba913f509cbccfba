"""The fault runner's "as on AWS" view (tests/faults/aws_view.py) answers with AWS's shapes.

The recorded samples (tests/faults/aws_samples/) parse through botocore's real parser; through
the view, the lab provisioned on moto is described as AWS describes it, in raw XML that
botocore parses with the service model (typed: datetimes, ints, booleans), with no element the
model does not know; keys AWS does not send are absent; and the AWS view's faults change only
the view's model of the answer, so the checks they target fail, naming what is wrong, while
moto's records stay as provisioned. Fast: one small lab on the session's emulator, no runner.
"""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET

import botocore.session
import pytest
from botocore.parsers import create_parser

import suites.test_lab2_high_availability as lab2
import suites.test_lab5_elasticache as lab5
from provisioning import lab as lab_module
from provisioning import naming
from provisioning.aws import AwsClients, AwsTarget
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password
from tests.faults import aws_view, cache, rds
from tests.faults.context import FaultContext
from tests.faults.plugin import RecordingLab

from .conftest import run_without_skipping

STEPS = ("1.1", "1.2", "1.3", "1.4", "2.1", "5.1", "5.2")
GROUP = naming.REPLICATION_GROUP
MEMBERS = [f"{GROUP}-001", f"{GROUP}-002"]
CHECKS = {name: check for module in (lab2, lab5) for name, check in vars(module).items() if name.startswith("test_")}
# The checks moto cannot show, each graded here through the view.
AWS_VIEW_CHECKS = ("test_standby_is_in_another_availability_zone", "test_replication_group_runs_redis_7",
                   "test_replication_group_uses_the_cache_security_group",
                   "test_replication_group_clusters_use_the_cache_subnet_group",
                   "test_replication_group_has_two_member_clusters")
AWS_VIEW_FAULTS = [rds.standby_same_zone, cache.clusters_redis_6, cache.clusters_rds_group,
                   cache.clusters_default_subnet_group, cache.one_member]
SAMPLES = {"rds": ("DescribeDBInstances", aws_view.RDS_SAMPLE),
           "elasticache": ("DescribeCacheClusters", aws_view.MEMBER_CLUSTER_SAMPLE)}


# --- botocore, as it parses AWS's answers ------------------------------------------------------------

_MODELS = botocore.session.get_session()


def output_shape(service: str, operation: str):
    return _MODELS.get_service_model(service).operation_model(operation).output_shape


def parse(service: str, operation: str, body: bytes) -> dict:
    return create_parser("query").parse({"body": body, "headers": {}, "status_code": 200},
                                        output_shape(service, operation))


def unmodelled_elements(service: str, operation: str, body: bytes) -> list[str]:
    """Elements of a raw answer that botocore's model does not know (botocore would drop them
    without a word): the paths of all of them."""
    shape = output_shape(service, operation)
    result = ET.fromstring(body).find(f"{{*}}{shape.serialization['resultWrapper']}")
    found: list[str] = []

    def walk(element, shape, path):
        for child in element:
            name = child.tag.rsplit("}", 1)[-1]
            if shape.type_name == "structure":
                member = next((m for key, m in shape.members.items() if m.serialization.get("name", key) == name), None)
            elif shape.type_name == "list":
                item = shape.member.serialization.get("name", "member")
                member = shape.member if name == item else None
            else:
                member = None  # a scalar holds no elements
            if member is None:
                found.append(f"{path}/{name}")
            else:
                walk(child, member, f"{path}/{name}")

    walk(result, shape, operation)
    return found


def model_keys(service: str, operation: str, *path: str) -> set[str]:
    """The keys botocore can ever put in the item at `path` of the operation's answer."""
    shape = output_shape(service, operation)
    for name in path:
        shape = shape.members[name]
        if shape.type_name == "list":
            shape = shape.member
    return set(shape.members)


# --- one lab on the emulator, and clients that see it through the view ---------------------------------

@pytest.fixture(scope="module")
def lab_on_moto(moto_server):
    moto_server.reset()
    target = AwsTarget(region=naming.REGION, endpoint_url=moto_server.endpoint_url)
    builder = AwsClients(target)
    ctx = ProvisionContext(clients=builder, run_id="test-aws-view", dataplane=DataPlane(),
                           master_password=generate_password(), timeout=10, log=lambda message: None)
    steps = [step for step in lab_module.provisioning_steps() if step.step in STEPS]
    assert not lab_module.failures(lab_module.provision(ctx, steps))
    answers = aws_view.AwsAnswers()
    view = AwsClients(target)
    answers.install(view.session())
    raw: dict[str, bytes] = {}
    for service in ("rds", "elasticache"):  # registered after the view's handlers: sees what botocore parses
        view(service).meta.events.register(
            "before-parse", lambda response_dict, operation_model, **kwargs:
            raw.__setitem__(operation_model.name, response_dict["body"]))
    yield target, builder, view, answers, raw
    moto_server.reset()


@pytest.fixture
def lab(lab_on_moto):
    target, builder, view, answers, raw = lab_on_moto
    defaults = vars(aws_view.AwsAnswers()).copy()
    raw.clear()
    yield lab_on_moto
    for name in ("num_cache_clusters", "db_instance_changes", "member_cluster_changes"):
        setattr(answers, name, defaults[name])


def grade(view, name: str) -> str:
    """'passed' or 'failed: message'; a skip fails the test (through the view nothing is emulator-limited)."""
    checks_lab = RecordingLab(clients=view, dataplane=DataPlane(), timeout=0.5, target="local", as_aws=True)
    try:
        run_without_skipping(lambda: CHECKS[name](checks_lab), name)
    except (AssertionError, pytest.fail.Exception) as exc:
        return f"failed: {str(exc).splitlines()[0]}"
    return "passed"


# --- the recorded samples ------------------------------------------------------------------------------

@pytest.mark.parametrize("service", sorted(SAMPLES))
def test_each_recorded_sample_is_an_answer_botocore_parses_whole(service):
    operation, path = SAMPLES[service]
    body = path.read_bytes()
    assert unmodelled_elements(service, operation, body) == []
    parsed = parse(service, operation, body)
    assert parsed["ResponseMetadata"]["RequestId"]
    if service == "rds":
        db = parsed["DBInstances"][0]
        assert (db["MultiAZ"], db["AvailabilityZone"], db["SecondaryAvailabilityZone"]) == (True, "us-east-1a", "us-east-1b")
        assert isinstance(db["InstanceCreateTime"], datetime.datetime) and db["Endpoint"]["Port"] == 3306
    else:
        cluster = parsed["CacheClusters"][0]
        assert (cluster["ReplicationGroupId"], cluster["CacheSubnetGroupName"]) == ("my-cluster", "kxkxk")
        assert cluster["SecurityGroups"] == [{"SecurityGroupId": "sg-xxxxxd7b", "Status": "active"}]
        assert isinstance(cluster["CacheClusterCreateTime"], datetime.datetime)
        assert cluster["NumCacheNodes"] == 1 and cluster["AuthTokenEnabled"] is False


def test_the_samples_name_their_source():
    readme = (aws_view.SAMPLES / "README.md").read_text()
    for _, path in SAMPLES.values():
        assert path.name in readme and "README.md" in path.read_text()
    assert "API_ModifyDBInstance.html" in readme and "API_DescribeCacheClusters.html" in readme
    assert "describe-cache-clusters.rst" in readme


# --- through the view --------------------------------------------------------------------------------

def test_a_multi_az_instance_is_described_with_its_standby_zone_in_raw_xml(lab):
    _, _, view, _, raw = lab
    db = view("rds").describe_db_instances(DBInstanceIdentifier=naming.DB_INSTANCE)["DBInstances"][0]
    assert (db["AvailabilityZone"], db["SecondaryAvailabilityZone"]) == (naming.AZ_A, naming.AZ_B)
    assert b"<SecondaryAvailabilityZone>us-east-1b</SecondaryAvailabilityZone>" in raw["DescribeDBInstances"]
    assert unmodelled_elements("rds", "DescribeDBInstances", raw["DescribeDBInstances"]) == []
    assert isinstance(db["InstanceCreateTime"], datetime.datetime)
    assert db["MultiAZ"] is True and db["Endpoint"]["Port"] == 3306


def test_the_replication_group_lists_the_member_clusters_aws_creates(lab):
    _, _, view, _, raw = lab
    group = view("elasticache").describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"][0]
    assert group["MemberClusters"] == MEMBERS
    members = group["NodeGroups"][0]["NodeGroupMembers"]
    assert [(m["CacheClusterId"], m["CurrentRole"], m["PreferredAvailabilityZone"]) for m in members] == [
        (MEMBERS[0], "primary", naming.AZ_A), (MEMBERS[1], "replica", naming.AZ_B)]
    assert unmodelled_elements("elasticache", "DescribeReplicationGroups", raw["DescribeReplicationGroups"]) == []


@pytest.mark.parametrize("index", [0, 1])
def test_each_member_cluster_is_described_from_the_recorded_member(lab, index):
    _, builder, view, _, raw = lab
    cache_sg = builder("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [naming.CACHE_SG]}])["SecurityGroups"][0]["GroupId"]
    cluster = view("elasticache").describe_cache_clusters(CacheClusterId=MEMBERS[index])["CacheClusters"][0]
    body = raw["DescribeCacheClusters"]
    assert f"<CacheClusterId>{MEMBERS[index]}</CacheClusterId>".encode() in body
    assert unmodelled_elements("elasticache", "DescribeCacheClusters", body) == []
    assert (cluster["CacheClusterId"], cluster["ReplicationGroupId"]) == (MEMBERS[index], GROUP)
    assert (cluster["Engine"], cluster["EngineVersion"]) == (naming.CACHE_ENGINE, naming.CACHE_ENGINE_VERSION)
    assert cluster["CacheNodeType"] == naming.CACHE_NODE_TYPE
    assert cluster["CacheSubnetGroupName"] == naming.CACHE_SUBNET_GROUP
    assert cluster["SecurityGroups"] == [{"SecurityGroupId": cache_sg, "Status": "active"}]
    assert cluster["PreferredAvailabilityZone"] == (naming.AZ_A, naming.AZ_B)[index]
    assert isinstance(cluster["CacheClusterCreateTime"], datetime.datetime)
    assert cluster["NumCacheNodes"] == 1 and cluster["AutoMinorVersionUpgrade"] is True
    assert cluster["ARN"].endswith(f":cluster:{MEMBERS[index]}")
    assert "NotificationConfiguration" not in cluster and cluster["LogDeliveryConfigurations"] == []


def test_a_cluster_that_is_no_member_is_left_to_moto(lab):
    _, _, view, _, _ = lab
    with pytest.raises(view("elasticache").exceptions.CacheClusterNotFoundFault):
        view("elasticache").describe_cache_clusters(CacheClusterId=f"{GROUP}-003")


# --- a key AWS does not send is absent -----------------------------------------------------------------

def test_only_keys_of_the_service_model_come_out_so_a_wrong_key_finds_nothing(lab):
    _, _, view, _, _ = lab
    db = view("rds").describe_db_instances(DBInstanceIdentifier=naming.DB_INSTANCE)["DBInstances"][0]
    cluster = view("elasticache").describe_cache_clusters(CacheClusterId=MEMBERS[1])["CacheClusters"][0]
    assert set(db) <= model_keys("rds", "DescribeDBInstances", "DBInstances")
    assert set(cluster) <= model_keys("elasticache", "DescribeCacheClusters", "CacheClusters")
    for wrong in ("StandbyAvailabilityZone", "SecondaryAZ", "secondary_availability_zone"):
        assert wrong not in db
    for wrong in ("SecurityGroupIds", "VpcSecurityGroups", "CacheSubnetGroup", "CacheEngineVersion", "Members"):
        assert wrong not in cluster


def test_the_view_cannot_be_told_an_element_aws_never_sends(lab):
    _, _, view, answers, _ = lab
    answers.member_cluster_changes = {"EngineVerison": "6.2"}
    with pytest.raises(KeyError, match="EngineVerison"):
        view("elasticache").describe_cache_clusters(CacheClusterId=MEMBERS[0])


# --- the checks, and the AWS view's faults --------------------------------------------------------------

def test_the_checks_moto_cannot_show_pass_through_the_view(lab):
    _, _, view, _, _ = lab
    assert {name: grade(view, name) for name in AWS_VIEW_CHECKS} == {name: "passed" for name in AWS_VIEW_CHECKS}


@pytest.mark.parametrize("fault", AWS_VIEW_FAULTS, ids=lambda fault: fault.id)
def test_each_aws_view_fault_fails_its_checks_through_the_views_model_only(lab, fault):
    target, _, view, answers, _ = lab
    group = aws_view.elasticache_backend().replication_groups[GROUP]
    records = {"group": vars(group).copy(), "members": list(group.member_clusters)}
    fc = FaultContext(target=target, dataplane=DataPlane(), engines=None, run_id="test-aws-view", answers=answers)
    fc.begin()
    fault.apply(fc)
    try:
        outcomes = {name: grade(view, name) for name in fault.targets}
        # moto's record is still what was provisioned: the fault changed the view's model only.
        assert (vars(group), group.member_clusters) == (records["group"], records["members"])
    finally:
        fc.revert()
    for name, outcome in outcomes.items():
        assert outcome.startswith("failed: ") and any(text in outcome for text in fault.breaks), (name, outcome)
    assert {name: grade(view, name) for name in fault.targets} == {name: "passed" for name in fault.targets}

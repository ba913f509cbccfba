"""Labs 1, 2.1, 2.2 against the emulator: provisioning, re-runs, teardown (7.3, 7.4), and
every check passing on the lab as built. The seeded faults that make each check fail (and
nothing else) are in tests/faults (network.py, rds.py, bastion.py), run by test_fault_catalogue.py.
"""

from __future__ import annotations

import inspect
import logging
import stat
import tempfile
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest

from fixtures.lab import LabContext
from lookups import bastion as find_bastion
from lookups import inventory
from lookups import network as find_network
from provisioning import bastion, lab_replay, naming, network, rds
from provisioning import lab as lab_module
from provisioning.aws import AwsClients, AwsTarget
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password
from suites import test_lab1_network as lab1_network
from suites import test_lab1_rds_and_bastion as lab1_rds
from suites import test_lab2_high_availability as lab2

RUN_ID = "test-lab12"
MODULES = (network, rds, bastion)
STEPS = [s for s in lab_module.provisioning_steps() if s.run.__module__ in {m.__name__ for m in MODULES}]
TEARDOWN = [s for s in lab_module.teardown_steps() if s.run.__module__ in {m.__name__ for m in MODULES}]  # 7.3, 7.4
DATA_PLANE_CHECK = "test_primary_database_answers_as_labdb"
STANDBY_CHECK = "test_standby_is_in_another_availability_zone"
# The provisioning function each lab step of this share runs, in order: an id on the wrong
# function (2.1 creating the replica) keeps the list of ids the same.
DECLARED = {
    network: [("1.1", "create_vpc_network"), ("1.2", "create_security_groups")],
    rds: [("1.3", "create_db_subnet_group"), ("1.4", "create_primary_instance"), ("2.1", "enable_multi_az"),
          ("2.2", "create_read_replica")],
    bastion: [("1.5", "launch_bastion")],
}
TEARDOWN_DECLARED = [("7.3", "delete_rds"), ("7.4", "delete_bastion"), ("7.4", "delete_network")]


def expand_checks(*modules) -> dict[str, object]:
    """Every check as a callable of (lab[, request]); parametrized ones once per value, named like pytest does."""
    checks = {}
    for module in modules:
        for name, check in vars(module).items():
            if not (name.startswith("test_") and callable(check)):
                continue
            marks = [m for m in getattr(check, "pytestmark", ()) if m.name == "parametrize"]
            if not marks:
                checks[name] = check
                continue
            argname, values = marks[0].args[:2]
            for value in values:
                checks[f"{name}[{value}]"] = partial(check, **{argname: value})
    return checks


CHECKS = expand_checks(lab1_network, lab1_rds, lab2)


def outcome(check, lab) -> str:
    """'passed', 'failed: message', 'skipped: reason' or 'error: ...' (an exception that is not a verdict)."""
    kwargs = {"lab": lab}
    function = check.func if isinstance(check, partial) else check
    if "request" in inspect.signature(function).parameters:
        kwargs["request"] = SimpleNamespace(node=SimpleNamespace(user_properties=[]))
    try:
        check(**kwargs)
    except (AssertionError, pytest.fail.Exception) as exc:
        return f"failed: {exc}"
    except pytest.skip.Exception as exc:
        return f"skipped: {exc.msg}"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
    return "passed"


def provision(ctx, upto: str | None = None) -> None:
    for step in STEPS:
        step.run(ctx)
        if step.step == upto:
            return


def teardown(ctx) -> None:
    for step in TEARDOWN:
        step.run(ctx)


def make_context(clients, state_dir, messages, **overrides) -> ProvisionContext:
    settings = dict(clients=clients, run_id=RUN_ID, dataplane=DataPlane(), master_password=generate_password(),
                    timeout=10, log=messages.append, state_dir=state_dir)
    settings.update(overrides)
    return ProvisionContext(**settings)


def make_lab(clients, dataplane=None) -> LabContext:
    return LabContext(clients=clients, dataplane=dataplane or DataPlane(), timeout=0.5, target="local")


@pytest.fixture
def messages():
    return []


@pytest.fixture
def ctx(aws_clients, tmp_path, messages):
    return make_context(aws_clients, tmp_path, messages)


@pytest.fixture
def lab(aws_clients):
    return make_lab(aws_clients)


@pytest.fixture
def issued_keys(aws_clients):
    """The private keys AWS returned from CreateKeyPair during the test (it shows each only once)."""
    issued = []
    events = aws_clients("ec2").meta.events  # the session's client: unregistered after the test
    events.register("after-call.ec2.CreateKeyPair", lambda parsed, **kwargs: issued.append(parsed["KeyMaterial"]),
                    unique_id="test-issued-keys")
    yield issued
    events.unregister("after-call.ec2.CreateKeyPair", unique_id="test-issued-keys")


def key_lines(material: str) -> list[str]:
    """The base64 lines of a PEM key: any one of them shown is part of the key shown."""
    return [line for line in material.splitlines() if line.strip() and not line.startswith("-----")]


@pytest.fixture
def everything_shown(messages, capsys, caplog):
    """All a run shows: the steps' log, what they print, and what the suite's loggers say."""
    for logger in ("provisioning", "lookups"):
        caplog.set_level(logging.DEBUG, logger=logger)
    return lambda: "\n".join([*messages, *capsys.readouterr(), caplog.text])


# --- declarations --------------------------------------------------------------------------------

def test_steps_and_teardown_are_declared_with_the_lab_ids():
    provisioning = lab_module.provisioning_steps()
    for module, declared in DECLARED.items():
        assert [(s.step, s.run.__name__) for s in lab_module.steps_of(module, provisioning)] == declared
    assert [(s.step, s.run.__name__) for s in TEARDOWN] == TEARDOWN_DECLARED
    # Each id is the lab's: the lab text's step of that number has the step's title.
    headings = {s.id: s.title for s in lab_replay.parse_lab(lab_replay.lab_file().read_text(), stop_at_lab=8)}
    wrong = [(s.step, s.title, headings.get(s.step)) for s in STEPS + TEARDOWN
             if (headings.get(s.step) or "").casefold() != s.title.casefold()]
    assert wrong == [], "step id, catalogue title, the lab's heading of that id"


def test_every_check_is_marked_with_one_step_of_its_lab():
    for module, allowed in ((lab1_network, {"1.1", "1.2"}), (lab1_rds, {"1.3", "1.4", "1.5"}), (lab2, {"2.1", "2.2"})):
        for name, check in vars(module).items():
            if name.startswith("test_") and callable(check):
                steps = [m.args[0] for m in getattr(check, "pytestmark", ()) if m.name == "step"]
                assert len(steps) == 1 and steps[0] in allowed, f"{name}: step marks {steps}"
                assert not any(m.name == "writes_data" for m in check.pytestmark), f"{name} is read-only"


def test_the_labs_password_literal_appears_nowhere():
    literal = "LabPassword" + "123!"
    root = Path(__file__).resolve().parent.parent
    suites = ("test_lab1_network", "test_lab1_rds_and_bastion", "test_lab2_high_availability")
    for path in [root / "provisioning" / f"{m}.py" for m in ("network", "rds", "bastion")] + \
                [root / "suites" / f"{m}.py" for m in suites]:
        assert literal not in path.read_text(), path


# --- the lab as built ----------------------------------------------------------------------------

def test_every_check_passes_on_the_provisioned_lab_through_read_only_clients(ctx, moto_server):
    # One account for all checks: moto's backends are global to the process, so a lab kept
    # across tests would be wiped by the next test's reset.
    provision(ctx)
    lab = make_lab(AwsClients(AwsTarget(region=naming.REGION, endpoint_url=moto_server.endpoint_url), read_only=True))
    results = {name: outcome(check, lab) for name, check in CHECKS.items()}
    assert results.pop(STANDBY_CHECK).startswith("skipped: emulator-limited")
    assert results.pop(DATA_PLANE_CHECK).startswith("skipped: not-reachable")  # no MySQL bound here
    assert {name: result for name, result in results.items() if result != "passed"} == {}


@pytest.fixture(scope="module")
def mysql_pair(tmp_path_factory):
    from provisioning.local.mariadb import start_mysql_pair

    pair = start_mysql_pair(tmp_path_factory.mktemp("mysql"), generate_password())
    yield pair
    pair.stop()


def test_data_plane_check_reports_the_server_and_passes_on_labdb(aws_clients, mysql_pair):
    # The check reads only the data plane: no provisioning needed.
    lab = make_lab(aws_clients, DataPlane(mysql={naming.DB_INSTANCE: mysql_pair.primary}))
    request = SimpleNamespace(node=SimpleNamespace(user_properties=[]))
    lab1_rds.test_primary_database_answers_as_labdb(lab, request)
    reported = dict(request.node.user_properties)
    assert "MariaDB" in reported["server_version"]
    assert "stands in" in reported["engine_note"]


# --- provisioning ------------------------------------------------------------------------------

def test_provisioning_writes_the_private_key_0600_and_never_logs_it_or_the_password(ctx, issued_keys, everything_shown):
    provision(ctx)
    key = ctx.state_dir / bastion.KEY_FILE
    assert len(issued_keys) == 1 and key.read_text() == issued_keys[0]  # the key AWS issued, as issued
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    shown = everything_shown()
    # Named, never echoed: a failure here must not print the secret again.
    shown_secrets = {"private key": "PRIVATE KEY" in shown or any(line in shown for line in key_lines(issued_keys[0])),
                     "master password": str(ctx.master_password) in shown}
    assert [secret for secret, is_shown in shown_secrets.items() if is_shown] == []


def test_without_a_state_directory_the_private_key_is_discarded(aws_clients, tmp_path, monkeypatch, messages,
                                                                issued_keys, everything_shown):
    # Every place a key could be put by default (the working directory, home, the temporary
    # directory) is inside tmp_path, so a key written anywhere of the kind is found there.
    for place in ("cwd", "home", "tmp"):
        (tmp_path / place).mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    ctx = make_context(aws_clients, None, messages)
    provision(ctx)
    assert len(issued_keys) == 1 and any("private key discarded" in m for m in messages)
    lines = key_lines(issued_keys[0])
    holding = [str(p) for p in tmp_path.rglob("*") if p.is_file() and any(line in p.read_text(errors="replace") for line in lines)]
    assert holding == []
    shown = everything_shown()
    assert not any(line in shown for line in lines), "the discarded private key is shown"


def snapshot(clients) -> dict[str, set]:
    """What the account holds, by identity (ids, not counts): a resource deleted and made again,
    or one traded for another, shows as a change."""
    ec2, rds_client = clients("ec2"), clients("rds")
    tables = ec2.describe_route_tables()["RouteTables"]
    groups = ec2.describe_security_groups()["SecurityGroups"]
    reservations = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": list(find_bastion.LIVE_STATES)}])["Reservations"]
    return {
        "VPCs": {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]},
        "subnets": {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]},
        "internet gateways": {(g["InternetGatewayId"], tuple(sorted(a["VpcId"] for a in g.get("Attachments", ()))))
                              for g in ec2.describe_internet_gateways()["InternetGateways"]},
        "route tables": {t["RouteTableId"] for t in tables},
        "routes": {(t["RouteTableId"], tuple(sorted((k, str(v)) for k, v in r.items() if k != "State")))
                   for t in tables for r in t.get("Routes", ())},
        "route table associations": {a["RouteTableAssociationId"] for t in tables for a in t.get("Associations", ())},
        "security groups": {g["GroupId"] for g in groups},
        "ingress rules": {(g["GroupId"], rule) for g in groups for rule in lab1_network.ingress_rules(g)},
        "DB subnet groups": {(g["DBSubnetGroupName"], frozenset(s["SubnetIdentifier"] for s in g.get("Subnets", ())))
                             for g in rds_client.describe_db_subnet_groups()["DBSubnetGroups"]},
        "DB instances": {(d["DBInstanceIdentifier"], d.get("DbiResourceId"))
                         for d in rds_client.describe_db_instances()["DBInstances"]},
        "live EC2 instances": {i["InstanceId"] for r in reservations for i in r["Instances"]},
        "key pairs": {(k["KeyName"], k.get("KeyPairId")) for k in ec2.describe_key_pairs()["KeyPairs"]},
    }


def changes(before: dict[str, set], after: dict[str, set]) -> dict[str, dict]:
    """Per kind of resource, what appeared and what went: empty when the account is as it was."""
    return {kind: {"added": sorted(map(str, after[kind] - before[kind])), "gone": sorted(map(str, before[kind] - after[kind]))}
            for kind in before if before[kind] != after[kind]}


def test_second_provisioning_run_creates_nothing_new(ctx, aws_clients, messages):
    provision(ctx)
    first = snapshot(aws_clients)
    messages.clear()
    provision(ctx)
    assert changes(first, snapshot(aws_clients)) == {}
    assert not any(" created" in m or "creation started" in m or "launched" in m for m in messages), messages


def test_rerun_with_another_ssh_address_keeps_ssh_open_to_that_one_only(ctx, aws_clients, lab, messages):
    provision(ctx, upto="1.2")
    network.create_security_groups(make_context(aws_clients, None, messages, ssh_cidr="203.0.113.7/32"))
    group = find_network.security_group(aws_clients("ec2"), naming.EC2_SG)
    assert lab1_network.ingress_rules(group) == [("tcp", 22, 22, "203.0.113.7/32")]
    assert outcome(lab1_network.test_ec2_group_allows_only_ssh_from_one_address, lab) == "passed"


def test_a_detached_gateway_left_by_an_interrupted_run_is_adopted(ctx, aws_clients, messages):
    ec2 = aws_clients("ec2")
    left = ec2.create_internet_gateway(TagSpecifications=[
        {"ResourceType": "internet-gateway", "Tags": naming.lab_tags("crashed", naming.IGW)}])["InternetGateway"]
    provision(ctx, upto="1.1")
    vpc_id = find_network.vpc(ec2)["VpcId"]
    assert [g["InternetGatewayId"] for g in find_network.attached_internet_gateways(ec2, vpc_id)] == [left["InternetGatewayId"]]
    assert len(ec2.describe_internet_gateways()["InternetGateways"]) == 1


def test_an_existing_subnet_group_with_stale_subnets_is_pointed_at_the_private_subnets(ctx, aws_clients, lab):
    provision(ctx, upto="1.3")
    ec2 = aws_clients("ec2")
    public = find_network.subnet(ec2, naming.PUBLIC_SUBNET_A)["SubnetId"]
    private_b = find_network.subnet(ec2, naming.PRIVATE_SUBNET_B)["SubnetId"]
    aws_clients("rds").modify_db_subnet_group(DBSubnetGroupName=naming.DB_SUBNET_GROUP, SubnetIds=[public, private_b])
    rds.create_db_subnet_group(ctx)
    assert outcome(lab1_rds.test_db_subnet_group_holds_exactly_the_private_subnets, lab) == "passed"


# --- teardown ------------------------------------------------------------------------------------

def add_the_accounts_own_resources(clients) -> None:
    """What an account holds besides the lab, none of it with a lab name: a VPC with two subnets,
    a security group with a rule, a key pair, an instance, a DB subnet group and a DB instance."""
    ec2, rds_client = clients("ec2"), clients("rds")
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.9.{n}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
               for n, zone in ((1, "us-east-1a"), (2, "us-east-1b"))]
    group_id = ec2.create_security_group(GroupName="own-app", Description="own", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}])
    ec2.create_key_pair(KeyName="own-key")
    ec2.run_instances(ImageId=bastion.latest_ami(clients("ssm")), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                      KeyName="own-key", SubnetId=subnets[0], SecurityGroupIds=[group_id])
    rds_client.create_db_subnet_group(DBSubnetGroupName="own-db-subnets", DBSubnetGroupDescription="own",
                                      SubnetIds=subnets)
    rds_client.create_db_instance(DBInstanceIdentifier="own-db", DBInstanceClass="db.t3.micro", Engine="mysql",
                                  MasterUsername="owner", MasterUserPassword=str(generate_password()),
                                  AllocatedStorage=20, DBSubnetGroupName="own-db-subnets")


def test_teardown_returns_the_account_to_how_it_was(ctx, aws_clients):
    add_the_accounts_own_resources(aws_clients)
    before = snapshot(aws_clients)
    provision(ctx)
    teardown(ctx)
    assert inventory.lab_leftovers(aws_clients) == []
    assert changes(before, snapshot(aws_clients)) == {}  # the lab gone, and nothing else with it
    assert not (ctx.state_dir / bastion.KEY_FILE).exists()


def test_teardown_deletes_the_replica_before_the_primary(ctx, messages):
    provision(ctx)
    messages.clear()
    rds.delete_rds(ctx)
    order = [m for m in messages if "deletion started" in m or m.endswith(": deleted")]
    assert order == [
        f"RDS instance {naming.DB_REPLICA}: deletion started", f"RDS instance {naming.DB_REPLICA}: deleted",
        f"RDS instance {naming.DB_INSTANCE}: deletion started", f"RDS instance {naming.DB_INSTANCE}: deleted",
        f"DB subnet group {naming.DB_SUBNET_GROUP}: deleted",
    ]


def test_teardown_twice_is_harmless(ctx, aws_clients, messages):
    provision(ctx)
    teardown(ctx)
    messages.clear()
    teardown(ctx)
    assert messages == [f"VPC {naming.VPC}: not there"]


@pytest.mark.parametrize("upto", ["1.1", "1.2", "1.3", "1.4", "1.5"])
def test_teardown_cleans_up_a_half_built_lab(ctx, aws_clients, upto):
    before = snapshot(aws_clients)
    provision(ctx, upto=upto)
    teardown(ctx)
    assert inventory.lab_leftovers(aws_clients) == []
    assert changes(before, snapshot(aws_clients)) == {}


def test_teardown_cleans_up_what_a_crashed_run_left_by_name(ctx, aws_clients):
    before = snapshot(aws_clients)
    ec2 = aws_clients("ec2")
    # Pieces without any of provisioning's handles: a second lab VPC with a subnet routed by
    # a table of its own and cross-referencing groups, a detached named gateway, a stray key pair.
    vpc_id = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": naming.VPC}]}])["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    table_id = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)
    first = ec2.create_security_group(GroupName=naming.EC2_SG, Description="x", VpcId=vpc_id)["GroupId"]
    second = ec2.create_security_group(GroupName=naming.RDS_SG, Description="x", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=second, IpPermissions=[network.tcp_from_group(3306, first)])
    ec2.authorize_security_group_ingress(GroupId=first, IpPermissions=[network.tcp_from_group(22, second)])
    ec2.create_internet_gateway(TagSpecifications=[
        {"ResourceType": "internet-gateway", "Tags": [{"Key": "Name", "Value": naming.IGW}]}])
    ec2.create_key_pair(KeyName=naming.KEY_PAIR)
    teardown(ctx)
    assert inventory.lab_leftovers(aws_clients) == []
    assert changes(before, snapshot(aws_clients)) == {}

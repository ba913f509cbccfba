"""Labs 1, 2.1, 2.2 against the emulator: provisioning, re-runs, teardown (7.3, 7.4), and
every check passing on the lab as built. The seeded faults that make each check fail (and
nothing else) are in tests/faults (network.py, rds.py, bastion.py), run by test_fault_catalogue.py.
"""

from __future__ import annotations

import inspect
import stat
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest

from fixtures.lab import LabContext
from lookups import bastion as find_bastion
from lookups import inventory
from lookups import network as find_network
from provisioning import bastion, naming, network, rds
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


# --- declarations --------------------------------------------------------------------------------

def test_steps_and_teardown_are_declared_with_the_lab_ids():
    provisioning = lab_module.provisioning_steps()
    assert [s.step for s in lab_module.steps_of(network, provisioning)] == ["1.1", "1.2"]
    assert [s.step for s in lab_module.steps_of(rds, provisioning)] == ["1.3", "1.4", "2.1", "2.2"]
    assert [s.step for s in lab_module.steps_of(bastion, provisioning)] == ["1.5"]
    assert [s.step for s in TEARDOWN] == ["7.3", "7.4", "7.4"]


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

def test_provisioning_writes_the_private_key_0600_and_never_logs_it_or_the_password(ctx, messages):
    provision(ctx)
    key = ctx.state_dir / bastion.KEY_FILE
    material = key.read_text()
    assert "PRIVATE KEY" in material
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    logged = "\n".join(messages)
    assert "PRIVATE KEY" not in logged and material.strip().splitlines()[1] not in logged
    assert str(ctx.master_password) not in logged


def test_without_a_state_directory_the_private_key_is_discarded(aws_clients, tmp_path, messages):
    ctx = make_context(aws_clients, None, messages)
    provision(ctx)
    assert any("private key discarded" in m for m in messages)
    assert not list(tmp_path.iterdir())


def snapshot(clients) -> dict[str, int]:
    ec2, rds_client = clients("ec2"), clients("rds")
    tables = ec2.describe_route_tables()["RouteTables"]
    groups = ec2.describe_security_groups()["SecurityGroups"]
    reservations = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": list(find_bastion.LIVE_STATES)}])["Reservations"]
    return {
        "VPCs": len(ec2.describe_vpcs()["Vpcs"]),
        "subnets": len(ec2.describe_subnets()["Subnets"]),
        "internet gateways": len(ec2.describe_internet_gateways()["InternetGateways"]),
        "route tables": len(tables),
        "routes": sum(len(t.get("Routes", ())) for t in tables),
        "route table associations": sum(len(t.get("Associations", ())) for t in tables),
        "security groups": len(groups),
        "ingress rules": sum(len(lab1_network.ingress_rules(g)) for g in groups),
        "DB subnet groups": len(rds_client.describe_db_subnet_groups()["DBSubnetGroups"]),
        "DB instances": len(rds_client.describe_db_instances()["DBInstances"]),
        "live EC2 instances": sum(len(r["Instances"]) for r in reservations),
        "key pairs": len(ec2.describe_key_pairs()["KeyPairs"]),
    }


def test_second_provisioning_run_creates_nothing_new(ctx, aws_clients, messages):
    provision(ctx)
    first = snapshot(aws_clients)
    messages.clear()
    provision(ctx)
    assert snapshot(aws_clients) == first
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

def test_teardown_returns_the_account_to_how_it_was(ctx, aws_clients):
    before = snapshot(aws_clients)
    provision(ctx)
    teardown(ctx)
    assert inventory.lab_leftovers(aws_clients) == []
    assert snapshot(aws_clients) == before
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
    assert snapshot(aws_clients) == before


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
    assert snapshot(aws_clients) == before

"""Defects of Labs 1, 2.1 and 7.1 (the control plane) and erratum 6 (secrets), each shown
failing the lab's way and working the suite's way.

Lab 2.1 and 7.1 depend on how long AWS takes, so they run against a model of AWS (AwsModel) whose
resources change state as its clock advances; the clock is virtual and advances only when the test's
thread sleeps, so the lab's `sleep 300`, the AWS CLI's waiter and the suite's polls all cost no real
time. The lab's side is the lab's own commands, taken from the lab text and run by the pinned AWS
CLI v1 in this process; the suite's side is its provisioning function. Both reach the model through
botocore's before-call event (as botocore's Stubber does), so nothing is ever sent to AWS.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
import threading
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse

from provisioning import elasticache, lab_replay, naming, network, rds
from provisioning.aws import AwsClients, AwsTarget
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane, MysqlEndpoint
from provisioning.polling import wait_until
from provisioning.passwords import Secret, generate_password
from suites import test_lab1_network as lab1

from .conftest import REPO_ROOT

LITERAL = "LabPassword" + "123!"  # split so that this file does not hold it either
# Keys that sign nothing: the model answers before a request would be signed or sent.
MODEL_CREDENTIALS = {"aws_access_key_id": "model", "aws_secret_access_key": "model"}


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


# --- AWS as Lab 2.1 and 7.1 meet it: a model with its own clock ------------------------------------

class VirtualClock:
    """Seconds that pass only when the test's thread sleeps (time.sleep) and that its
    time.monotonic reads; other threads keep the real clock."""

    def __init__(self, monkeypatch):
        self.now = 0.0
        owner = threading.get_ident()
        real_sleep, real_monotonic = time.sleep, time.monotonic

        def sleep(seconds):
            if threading.get_ident() != owner:
                return real_sleep(seconds)
            self.now += max(seconds, 0)

        def monotonic():
            return self.now if threading.get_ident() == owner else real_monotonic()

        monkeypatch.setattr(time, "sleep", sleep)
        monkeypatch.setattr(time, "monotonic", monotonic)


@pytest.fixture
def clock(monkeypatch):
    return VirtualClock(monkeypatch)


class AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


class AwsModel:
    """Answers botocore's calls from state that follows the clock. Attached to a botocore
    session (the AWS CLI's) or a client's events; an operation it does not model is refused."""

    def __init__(self, clock: VirtualClock):
        self.clock = clock
        self.operations: dict = {}
        self.unmodelled: list[str] = []

    def attach(self, events) -> None:
        events.register("before-parameter-build", self._keep_params)
        events.register("before-call", self._answer)

    def _keep_params(self, params, context, **kwargs):
        context["modelled_params"] = dict(params)

    def _answer(self, model, context, **kwargs):
        operation = self.operations.get(model.name)
        try:
            if operation is None:
                self.unmodelled.append(model.name)
                raise AwsError("UnsupportedOperation", f"the model of AWS does not answer {model.name}")
            return AWSResponse(None, 200, {}, None), operation(**context.get("modelled_params", {}))
        except AwsError as error:
            return AWSResponse(None, error.status, {}, None), {
                "Error": {"Code": error.code, "Message": str(error)}, "ResponseMetadata": {"HTTPStatusCode": error.status}}


class MultiAzModel(AwsModel):
    """database-lab-mysql as AWS converts it to Multi-AZ: after modify-db-instance --multi-az
    --apply-immediately the change is pending while the instance stays `available`, then it is
    `modifying` while the standby is built ("10-15 minutes", the lab says), then Multi-AZ."""

    PENDING = 60.0
    CONVERTING = 720.0

    def __init__(self, clock):
        super().__init__(clock)
        self.requested_at: float | None = None
        self.operations = {"DescribeDBInstances": self.describe, "ModifyDBInstance": self.modify}

    def instance(self) -> dict:
        db = {"DBInstanceIdentifier": naming.DB_INSTANCE, "DBInstanceStatus": "available", "MultiAZ": False,
              "AvailabilityZone": "us-east-1a", "PendingModifiedValues": {}}
        elapsed = None if self.requested_at is None else self.clock.now - self.requested_at
        if elapsed is None:
            return db
        if elapsed < self.PENDING:
            return {**db, "PendingModifiedValues": {"MultiAZ": True}}
        if elapsed < self.PENDING + self.CONVERTING:
            return {**db, "DBInstanceStatus": "modifying", "PendingModifiedValues": {"MultiAZ": True}}
        return {**db, "MultiAZ": True, "SecondaryAvailabilityZone": "us-east-1b"}

    def describe(self, DBInstanceIdentifier):
        if DBInstanceIdentifier != naming.DB_INSTANCE:
            raise AwsError("DBInstanceNotFound", f"DBInstance {DBInstanceIdentifier} not found.", 404)
        return {"DBInstances": [self.instance()]}

    def modify(self, DBInstanceIdentifier, MultiAZ, ApplyImmediately):
        self.describe(DBInstanceIdentifier)
        if MultiAZ and ApplyImmediately and self.requested_at is None:
            self.requested_at = self.clock.now
        return {"DBInstance": self.instance()}


class CacheDeletionModel(AwsModel):
    """database-lab-redis and its cache subnet group as AWS deletes them: the group is `deleting`
    for longer than the lab's sleep (it "takes several minutes"), and the subnet group cannot be
    deleted while the group exists."""

    DELETING = 420.0

    def __init__(self, clock):
        super().__init__(clock)
        self.deleting_since: float | None = None
        self.subnet_group_exists = True
        self.operations = {"DescribeReplicationGroups": self.describe_group, "DeleteReplicationGroup": self.delete_group,
                           "DescribeCacheSubnetGroups": self.describe_subnet_group,
                           "DeleteCacheSubnetGroup": self.delete_subnet_group}

    def group_exists(self) -> bool:
        return self.deleting_since is None or self.clock.now - self.deleting_since < self.DELETING

    def describe_group(self, ReplicationGroupId):
        if ReplicationGroupId != naming.REPLICATION_GROUP or not self.group_exists():
            raise AwsError("ReplicationGroupNotFoundFault", f"Replication group {ReplicationGroupId} not found.", 404)
        status = "available" if self.deleting_since is None else "deleting"
        return {"ReplicationGroups": [{"ReplicationGroupId": ReplicationGroupId, "Status": status}]}

    def delete_group(self, ReplicationGroupId, **options):
        group = self.describe_group(ReplicationGroupId)["ReplicationGroups"][0]
        if group["Status"] != "available":
            raise AwsError("InvalidReplicationGroupState", f"Replication group {ReplicationGroupId} is {group['Status']}.")
        self.deleting_since = self.clock.now
        return {"ReplicationGroup": {**group, "Status": "deleting"}}

    def describe_subnet_group(self, CacheSubnetGroupName):
        if CacheSubnetGroupName != naming.CACHE_SUBNET_GROUP or not self.subnet_group_exists:
            raise AwsError("CacheSubnetGroupNotFoundFault", f"Cache subnet group {CacheSubnetGroupName} not found.", 404)
        return {"CacheSubnetGroups": [{"CacheSubnetGroupName": CacheSubnetGroupName}]}

    def delete_subnet_group(self, CacheSubnetGroupName):
        self.describe_subnet_group(CacheSubnetGroupName)
        if self.group_exists():
            raise AwsError("CacheSubnetGroupInUse",
                           f"Cache subnet group {CacheSubnetGroupName} is currently in use by a cache cluster.")
        self.subnet_group_exists = False
        return {}


def lab_commands(step: str) -> list[str]:
    """The commands of the step's bash blocks in the lab text, comments left out."""
    steps = lab_replay.parse_lab(lab_replay.lab_file().read_text(), stop_at_lab=8)
    commands = [c.text for s in steps if s.id == step for c in s.commands if not c.is_comment]
    assert commands, f"the lab text has no commands for Step {step}"
    return commands


@pytest.fixture
def cli_environment(monkeypatch, tmp_path):
    """What the AWS CLI reads from the environment: a region, keys that sign nothing, no config."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", naming.REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", MODEL_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MODEL_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


class LabTerminal:
    """A student's terminal typing a lab step's commands one after the other (a failed command
    does not stop the next): `aws` is the AWS CLI, talking to the model; `sleep` sleeps (on the
    virtual clock); `echo` echoes. Anything else has no stand-in here."""

    def __init__(self, model: AwsModel):
        from awscli.clidriver import create_clidriver

        self.driver = create_clidriver()
        model.attach(self.driver.session)

    def run(self, command: str, without: tuple[str, ...] = ()) -> tuple[int, str, str]:
        """(exit status, stdout, stderr); `without` drops those arguments."""
        words = [w for w in shlex.split(command.replace("\\\n", " ")) if w not in without]
        if words[0] == "aws":
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                status = self.driver.main(words[1:])
            return status, out.getvalue(), err.getvalue()
        if words[0] == "sleep":
            time.sleep(float(words[1]))
            return 0, "", ""
        if words[0] == "echo":
            return 0, " ".join(words[1:]) + "\n", ""
        raise AssertionError(f"no stand-in for {words[0]!r} in {command!r}")


def command_name(command: str) -> str:
    """`aws rds wait ...` -> "wait", `aws elasticache delete-cache-subnet-group ...` -> its operation; else the program."""
    words = shlex.split(command.replace("\\\n", " "))
    return words[2] if words[0] == "aws" else words[0]


def modelled_context(model: AwsModel, service: str) -> ProvisionContext:
    """The suite's provisioning context on real AWS (not an emulator: no shortcuts), its client
    for `service` answered by the model; 30 minutes per wait, as --lab-timeout 1800."""
    clients = AwsClients(AwsTarget(region=naming.REGION), credentials=MODEL_CREDENTIALS)
    model.attach(clients(service).meta.events)
    return context(clients, timeout=1800)


# --- Lab 2.1 waits for `available`, which the instance still is before Multi-AZ starts ---------------

def test_lab_waiter_returns_before_multi_az_is_on(clock, cli_environment):
    model = MultiAzModel(clock)
    terminal = LabTerminal(model)
    results = [terminal.run(command) for command in lab_commands("2.1")]
    assert [status for status, _, _ in results] == [0] * len(results), results
    verified = json.loads(results[-1][1])  # the lab's "Verify Multi-AZ is enabled"
    assert verified["MultiAZ"] is False, verified
    assert model.instance()["PendingModifiedValues"] == {"MultiAZ": True}  # the change had not even started


def test_suite_waits_for_multi_az_itself(clock):
    model = MultiAzModel(clock)
    db = rds.enable_multi_az(modelled_context(model, "rds"))
    assert db["MultiAZ"] is True and not db["PendingModifiedValues"], db
    assert model.instance()["MultiAZ"] is True and model.requested_at is not None
    assert not model.unmodelled


# --- Lab 7.1 waits a fixed 300 s before deleting the cache subnet group ------------------------------

def test_lab_subnet_group_deletion_fails_while_the_group_is_still_deleting(clock, cli_environment):
    model = CacheDeletionModel(clock)
    terminal = LabTerminal(model)
    # The lab's 7.1 with erratum 23 fixed (the CLI refuses --no-final-snapshot, so nothing would be deleted).
    results = {command_name(command): terminal.run(command, without=("--no-final-snapshot",))
               for command in lab_commands("7.1")}
    assert results["delete-replication-group"][0] == 0, results
    assert "sleep" in results
    status, _, stderr = results["delete-cache-subnet-group"]
    assert status != 0 and "CacheSubnetGroupInUse" in stderr, results["delete-cache-subnet-group"]
    assert model.subnet_group_exists  # left behind, and with it the VPC's subnets


def test_suite_deletes_the_cache_subnet_group_once_the_group_is_gone(clock):
    model = CacheDeletionModel(clock)
    elasticache.delete_cache(modelled_context(model, "elasticache"))
    assert not model.group_exists() and not model.subnet_group_exists
    assert not model.unmodelled


# --- erratum 6: the master password in commands and code ---------------------------------------------

def test_lab_puts_the_master_password_in_commands_and_code():
    steps = lab_replay.parse_lab(lab_replay.lab_file().read_text(), stop_at_lab=8)
    on_command_lines = [c for s in steps for c in s.commands if not c.is_comment and LITERAL in c.text]
    # aws rds create-db-instance --master-user-password '...', mysql -p'...' (twice)
    assert sorted(c.word for c in on_command_lines) == ["aws", "mysql", "mysql"], on_command_lines
    python = re.findall(r"^```python\n(.*?)^```", lab_replay.lab_file().read_text(), flags=re.MULTILINE | re.DOTALL)
    in_code = [block for block in python if re.search(rf"'password':\s*'{re.escape(LITERAL)}'", block)]
    assert len(in_code) >= 3, f"{len(in_code)} of the lab's Python programs hold it in DB_CONFIG"


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


def test_suite_code_holds_no_password_and_never_shows_the_generated_one(aws_clients):
    sources = [p for d in ("provisioning", "suites", "fixtures", "dblab", "grading") for p in (REPO_ROOT / d).rglob("*.py")]
    assert sources and not [str(p) for p in sources if LITERAL in p.read_text()]
    password = generate_password()
    assert isinstance(password, Secret)

    def connect(endpoint):  # a failure with the password in a local, as a traceback shows it
        raise ConnectionRefusedError(f"cannot connect to {endpoint.host}:{endpoint.port}")

    endpoint = MysqlEndpoint("127.0.0.1", naming.MYSQL_PORT, naming.DB_MASTER_USER, password)
    try:
        connect(endpoint)
    except ConnectionRefusedError as exc:
        failure = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    # Everything that carries it, as a log line, a report or a traceback would print it.
    shown = {"password": repr(password), "context": repr(context(aws_clients, master_password=password)),
             "endpoint": repr(endpoint), "traceback": failure}
    assert [name for name, text in shown.items() if str(password) in text] == []

"""Least privilege: grading/iam-policy.json is exactly the read actions grade runs call, and the
preflight names a missing permission before any check runs.

The operations are recorded through a botocore event hook loaded into real grade runs
(`pytest -m aws --lab-grade`), of an account with the whole lab and of an empty one (checks
take other paths when things are missing). moto's IAM enforcement then proves the preflight
against a user who holds the shipped policy, and one who lacks an action of it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import boto3
import pytest

from grading.preflight import (
    ALWAYS_ALLOWED, POLICY_FILE, PROBES, CredentialsRejected, load_policy, policy_document, run_preflight, step_of_sid,
)
from provisioning import lab, naming
from provisioning.catalogue import load_steps
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.readonly import is_read
from provisioning.passwords import generate_password
from provisioning.aws import AwsClients, AwsTarget
from provisioning.tunnel import TunnelError, bastion_address, discover_forwards

from .conftest import REPO_ROOT

# Loaded into the grader with -p: a botocore event hook on every client records the IAM action
# (signing name:operation) of each call it makes, and the lab step of the check that made it.
# before-parameter-build, not before-call: a read the run already asked is answered from its read
# cache (provisioning/read_cache.py) without being sent, yet the step needs the action on its own.
RECORDER = """
import json, os
import botocore.session

CALLS = set()
STEP = [None]
_create_client = botocore.session.Session.create_client

def _create(self, *args, **kwargs):
    client = _create_client(self, *args, **kwargs)
    prefix = client.meta.service_model.signing_name
    client.meta.events.register("before-parameter-build",
                                lambda model, **_: CALLS.add((STEP[0], f"{prefix}:{model.name}")))
    return client

botocore.session.Session.create_client = _create

import grading.preflight
_run_preflight = grading.preflight.run_preflight

def _preflight(*args, **kwargs):
    # The preflight probes every action on purpose; its calls are checked on their own.
    before, STEP[0] = STEP[0], "preflight"
    try:
        return _run_preflight(*args, **kwargs)
    finally:
        STEP[0] = before

grading.preflight.run_preflight = _preflight

def pytest_runtest_setup(item):
    marker = item.get_closest_marker("step")
    STEP[0] = str(marker.args[0]) if marker and marker.args else None

def pytest_sessionfinish(session):
    STEP[0] = None  # the grade's account summary runs after the checks

def pytest_unconfigure(config):
    with open(os.environ["DBLAB_OPERATIONS_FILE"], "w") as file:
        json.dump(sorted(CALLS, key=str), file)
"""


@pytest.fixture(scope="module")
def recorder_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("recorder")
    (directory / "dblab_operation_recorder.py").write_text(RECORDER)
    return directory


def _record_grade_run(moto_server, recorder_dir: Path, reports: Path) -> list[tuple[str | None, str]]:
    environ = {k: v for k, v in os.environ.items() if k not in ("LOCALSTACK_HOST", "AWS_PROFILE")}
    environ.update(AWS_ENDPOINT_URL=moto_server.endpoint_url, PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{recorder_dir}",
                   DBLAB_OPERATIONS_FILE=str(reports / "operations.json"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "aws", "--lab-grade", "--lab-student=recorded", "-q",
         "-p", "no:cacheprovider", "-p", "dblab_operation_recorder", f"--junitxml={reports / 'junit.xml'}",
         f"--lab-reports-dir={reports}", "--lab-timeout=5"],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert (reports / "operations.json").is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    return [tuple(call) for call in json.loads((reports / "operations.json").read_text())]


@pytest.fixture(scope="module")
def recorded(moto_server, session_aws_clients, recorder_dir, tmp_path_factory) -> dict[str | None, set[str]]:
    """step -> IAM actions called while grading an empty account and one with the whole lab."""
    moto_server.reset()
    calls = _record_grade_run(moto_server, recorder_dir, tmp_path_factory.mktemp("empty"))
    ctx = ProvisionContext(clients=session_aws_clients, run_id="policy", dataplane=DataPlane(),
                           master_password=generate_password(), log=lambda message: None)
    assert all(result.ok for result in lab.provision(ctx))
    calls += _record_grade_run(moto_server, recorder_dir, tmp_path_factory.mktemp("full"))
    by_step: dict[str | None, set[str]] = defaultdict(set)
    for step, action in calls:
        if step != "preflight":
            by_step[step].add(action)
    return dict(by_step)


def test_the_policy_is_exactly_the_actions_grade_runs_call_by_step(recorded):
    expected = policy_document(recorded)
    shipped = json.loads(POLICY_FILE.read_text())
    assert shipped == expected, (
        "grading/iam-policy.json differs from what grade runs call; if the checks changed, replace it with:\n"
        + json.dumps(expected, indent=2))


def test_the_policy_grants_reads_only_and_no_wildcard():
    policy = json.loads(POLICY_FILE.read_text())
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"])
        for action in statement["Action"]:
            service, operation = action.split(":")
            assert "*" not in action and is_read(service, operation), action


def test_the_policy_fits_an_iam_managed_policy():
    minified = json.dumps(json.loads(POLICY_FILE.read_text()), separators=(",", ":"))
    assert len(minified) <= 6144  # IAM's limit for a managed policy, whitespace excluded


def test_each_statement_names_a_lab_step_or_the_account_summary():
    steps = load_steps()
    for sid in load_policy().statements:
        assert sid == "GradeAccountSummary" or step_of_sid(sid) in steps, sid


def test_the_preflight_probes_exactly_the_policy_s_actions():
    assert set(PROBES) == load_policy().actions
    assert not ALWAYS_ALLOWED & load_policy().actions


def test_the_tunnel_reads_only_what_the_policy_grants(moto_server):
    clients = AwsClients(AwsTarget(endpoint_url=moto_server.endpoint_url))  # own clients: the hook stays here
    calls = set()
    for service in ("ec2", "rds", "elasticache"):
        client = clients(service)
        prefix = client.meta.service_model.signing_name
        client.meta.events.register("before-call", lambda model, prefix=prefix, **_: calls.add(f"{prefix}:{model.name}"))
    try:
        bastion_address(clients("ec2"))
    except TunnelError:
        pass  # no bastion in this account: the lookup was made all the same
    discover_forwards(clients("rds"), clients("elasticache"))
    assert calls == {"ec2:DescribeInstances", "rds:DescribeDBInstances", "elasticache:DescribeReplicationGroups"}
    assert calls <= load_policy().actions


# --- the preflight against moto's IAM enforcement ---------------------------------------------------

@pytest.fixture
def iam_enforced(moto_server):
    """moto checks every call against IAM policies while this is active (in-process server)."""
    from moto import settings

    moto_server.reset()
    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    iam = boto3.client("iam", endpoint_url=moto_server.endpoint_url, region_name=naming.REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")

    def grader(without: tuple[str, ...] = ()):
        name = f"grader{len(without)}"
        policy = json.loads(POLICY_FILE.read_text())
        for statement in policy["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a not in without]
        policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="dblab-grader", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        session = boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                                region_name=naming.REGION)
        clients = {service: session.client(service, endpoint_url=moto_server.endpoint_url)
                   for service in ("sts", "ec2", "rds", "dynamodb", "dynamodbstreams", "elasticache")}
        return clients.__getitem__

    yield grader, settings
    settings.INITIAL_NO_AUTH_ACTION_COUNT = previous


def test_preflight_passes_with_exactly_the_shipped_policy(iam_enforced):
    grader, settings = iam_enforced
    clients = grader()
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    result = run_preflight(clients)
    assert result.ok, result.lines()


def test_preflight_names_the_missing_permission_and_the_steps_that_need_it(iam_enforced):
    grader, settings = iam_enforced
    clients = grader(without=("ec2:DescribeVpcs",))
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    result = run_preflight(clients)
    assert list(result.missing) == ["ec2:DescribeVpcs"]
    reasons = result.step_reasons()
    assert reasons["1.1"] == "missing permission ec2:DescribeVpcs: add it from grading/iam-policy.json"
    assert set(reasons) == set(load_policy().steps_needing("ec2:DescribeVpcs"))
    assert "4.1" not in reasons  # DynamoDB's steps do not need it
    assert result.summary_problems() == [
        "missing permission ec2:DescribeVpcs: add it from grading/iam-policy.json (the grade's account summary needs it)"]


def test_rejected_credentials_stop_the_preflight_with_the_reason(iam_enforced, moto_server):
    _, settings = iam_enforced
    session = boto3.Session(aws_access_key_id="AKIADBLABNOSUCHKEY00", aws_secret_access_key="x", region_name=naming.REGION)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    with pytest.raises(CredentialsRejected, match="^sts:GetCallerIdentity: InvalidClientTokenId"):
        run_preflight(lambda service: session.client(service, endpoint_url=moto_server.endpoint_url))

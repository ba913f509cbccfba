"""Least privilege for the provisioner: provisioning/iam-policy.json is exactly what a provisioning
run (the account guard, provision twice, dblab sweep, teardown) calls, by lab step; every action
in it is a real operation; and moto's IAM enforcement shows that a user holding exactly it can
build and delete the whole lab, while one lacking a single action fails that action's step.
"""

from __future__ import annotations

import difflib
import json
import re

import boto3
import botocore.session
import pytest

from dblab.iam_policy import (
    GLOBAL_PREFIXES, GUARD, POLICY_FILE, REGENERATE, SERVICE_LINKED_ROLES, SWEEP, policy_document,
    record_lab_run, render,
)
from provisioning import lab, naming
from provisioning.aws import AwsClients, AwsTarget
from provisioning.catalogue import load_steps
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password

# IAM prefix -> the botocore services whose signing name it is (dynamodbstreams signs as dynamodb).
SERVICES_OF_PREFIX = {"ec2": ("ec2",), "rds": ("rds",), "dynamodb": ("dynamodb", "dynamodbstreams"),
                      "elasticache": ("elasticache",), "ssm": ("ssm",), "sts": ("sts",), "iam": ("iam",)}


def _shipped() -> dict:
    return json.loads(POLICY_FILE.read_text())


def _by_sid(document: dict) -> dict[str, set[str]]:
    return {s["Sid"]: set(s["Action"]) for s in document["Statement"]}


@pytest.fixture(scope="module")
def recorded(moto_server) -> dict[str, set[str]]:
    moto_server.reset()
    try:
        return record_lab_run(moto_server.endpoint_url)
    finally:
        moto_server.reset()


def test_the_policy_is_exactly_what_a_recorded_run_calls(recorded):
    expected, shipped = policy_document(recorded), _shipped()
    if shipped == expected:
        return
    want, have = _by_sid(expected), _by_sid(shipped)
    lines = []
    for sid in sorted(want.keys() | have.keys()):
        missing, extra = sorted(want.get(sid, set()) - have.get(sid, set())), sorted(have.get(sid, set()) - want.get(sid, set()))
        if missing:
            lines.append(f"  {sid}: missing {', '.join(missing)}")
        if extra:
            lines.append(f"  {sid}: extra {', '.join(extra)}")
    diff = "".join(difflib.unified_diff(render(shipped).splitlines(True), render(expected).splitlines(True),
                                        "provisioning/iam-policy.json", "recorded"))
    pytest.fail("provisioning/iam-policy.json differs from what a provisioning run calls:\n" + "\n".join(lines)
                + f"\nregenerate it with: {REGENERATE}\n" + diff[:4000])


def test_every_action_is_a_real_operation_of_its_service():
    session = botocore.session.get_session()
    operations: dict[str, set[str]] = {}
    for prefix, services in SERVICES_OF_PREFIX.items():
        operations[prefix] = set()
        for service in services:
            model = session.get_service_model(service)
            assert model.signing_name == prefix, (service, model.signing_name)
            operations[prefix] |= set(model.operation_names)
    for statement in _shipped()["Statement"]:
        for action in statement["Action"]:
            prefix, _, operation = action.partition(":")
            assert prefix in operations, f"{statement['Sid']}: {action}: a service the lab does not use"
            assert operation in operations[prefix], f"{statement['Sid']}: {action} is no operation of {prefix}"


def test_no_wildcards_and_every_statement_is_a_step_or_a_named_phase():
    steps = load_steps()
    policy = _shipped()
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        sid = statement["Sid"]
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        assert all("*" not in action and "?" not in action for action in statement["Action"]), sid
        assert statement["Action"] == sorted(set(statement["Action"])), sid
        match = re.fullmatch(r"Step(\d+)dot(\d+)", sid)
        assert sid in (GUARD, SWEEP, SERVICE_LINKED_ROLES) or (match and f"{match[1]}.{match[2]}" in steps), sid


def test_regional_statements_are_limited_to_the_lab_region_and_global_ones_are_not():
    for statement in _shipped()["Statement"]:
        prefixes = {a.split(":")[0] for a in statement["Action"]}
        region = statement.get("Condition", {}).get("StringEquals", {}).get("aws:RequestedRegion")
        if prefixes & GLOBAL_PREFIXES:
            assert prefixes <= GLOBAL_PREFIXES and region is None, statement["Sid"]
        else:
            assert region == naming.REGION and statement["Resource"] == "*", statement["Sid"]
    linked = _by_sid(_shipped())[SERVICE_LINKED_ROLES]
    assert linked == {"iam:CreateServiceLinkedRole"}
    statement = next(s for s in _shipped()["Statement"] if s["Sid"] == SERVICE_LINKED_ROLES)
    assert all("/aws-service-role/" in arn for arn in statement["Resource"])


def test_the_policy_fits_an_iam_managed_policy():
    assert len(json.dumps(_shipped(), separators=(",", ":"))) <= 6144


# --- moto's IAM enforcement -------------------------------------------------------------------------

@pytest.fixture
def provisioner(moto_server):
    """clients(without=()) -> AwsClients of an IAM user holding the shipped policy minus `without`;
    moto enforces IAM from then until the test ends."""
    from moto import settings

    moto_server.reset()
    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    iam = boto3.client("iam", endpoint_url=moto_server.endpoint_url, region_name=naming.REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")

    def clients(without: tuple[str, ...] = ()) -> AwsClients:
        policy = _shipped()
        for statement in policy["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a not in without]
            # moto gives its condition evaluation no aws:RequestedRegion (every call would be denied)
            # and checks no resource but "*": the actions are what it can prove.
            statement.pop("Condition", None)
            statement["Resource"] = "*"
        policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]
        name = f"provisioner{len(without)}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="dblab-provisioner", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        return AwsClients(AwsTarget(region=naming.REGION, endpoint_url=moto_server.endpoint_url), credentials={
            "aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]})

    try:
        yield clients
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
        moto_server.reset()


def _context(clients: AwsClients) -> ProvisionContext:
    return ProvisionContext(clients=clients, run_id="least-privilege", dataplane=DataPlane(),
                            master_password=generate_password(), timeout=10, log=lambda message: None)


def test_exactly_the_policy_provisions_and_tears_down_the_whole_lab(provisioner):
    from provisioning.account_guard import caller_account

    clients = provisioner()
    caller_account(clients)
    ctx = _context(clients)
    assert lab.failures(lab.provision(ctx)) == {}
    assert lab.failures(lab.provision(ctx)) == {}  # a re-run adopts
    assert lab.failures(lab.teardown(ctx)) == {}


def test_one_missing_action_fails_its_step_with_access_denied(provisioner):
    ctx = _context(provisioner(without=("rds:CreateDBInstanceReadReplica",)))
    failures = lab.failures(lab.provision(ctx, [s for s in lab.provisioning_steps() if s.step in ("1.1", "1.2", "1.3", "1.4", "2.2")]))
    assert set(failures) == {"2.2"}, failures
    assert "AccessDenied" in failures["2.2"] and "CreateDBInstanceReadReplica" in failures["2.2"], failures["2.2"]

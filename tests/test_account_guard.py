"""Issue 10 (the guard before any write): `pytest -m aws --lab-provision` writes only to the account
--lab-account names, the account the credentials are in; otherwise one line, a non-zero exit and
nothing created. Against moto's server through AWS_ENDPOINT_URL, as a LocalStack user points it."""

from __future__ import annotations

import os
import subprocess
import sys

import boto3
import pytest

from provisioning import naming
from provisioning.account_guard import AccountGuardError, guard_account
from provisioning.aws import AwsClients, AwsTarget

from .conftest import REPO_ROOT

MOTO_ACCOUNT = "123456789012"  # the account moto's default credentials are in


def _inventory(endpoint_url: str) -> dict[str, int]:
    """How much of anything provisioning creates first is in the emulated account."""
    ec2 = boto3.client("ec2", endpoint_url=endpoint_url, region_name=naming.REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return {"vpcs": len(ec2.describe_vpcs()["Vpcs"]), "groups": len(ec2.describe_security_groups()["SecurityGroups"]),
            "key pairs": len(ec2.describe_key_pairs()["KeyPairs"])}


def _provision(endpoint_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAB_", "PYTEST_XDIST"))}
    env.update(AWS_ENDPOINT_URL=endpoint_url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_CONFIG_FILE=os.devnull)
    return subprocess.run([sys.executable, "-m", "pytest", "-m", "aws", "--lab-provision", "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def _lines(result) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


@pytest.mark.parametrize("args, says", [
    ((), f"confirm the account with --lab-account={MOTO_ACCOUNT}"),
    (("--lab-account=111122223333",), f"--lab-account=111122223333, but the credentials are in AWS account {MOTO_ACCOUNT}"),
])
def test_provisioning_an_account_not_named_is_one_line_and_creates_nothing(moto_server, args, says):
    moto_server.reset()
    before = _inventory(moto_server.endpoint_url)
    result = _provision(moto_server.endpoint_url, *args)
    lines = _lines(result)
    assert result.returncode != 0 and len(lines) == 1 and says in lines[0] and "nothing was created" in lines[0], lines
    assert _inventory(moto_server.endpoint_url) == before


def test_the_named_account_passes_the_guard(moto_server):
    # No check selected: the guard runs at the session's start, then nothing is collected to run.
    result = _provision(moto_server.endpoint_url, f"--lab-account={MOTO_ACCOUNT}", "-k", "no_check_is_called_this")
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, _lines(result)[-5:]
    assert not any("nothing was created" in line for line in _lines(result)), _lines(result)
    # Before anything is created: the plan, each resource with its region and its cost.
    plan = [line for line in _lines(result) if line.startswith("dblab: ")]
    assert plan[0].startswith(f"dblab: plan: the lab in AWS account {MOTO_ACCOUNT} (emulator at ")
    assert f"region {naming.REGION}" in plan[0] and "as of " in plan[0]
    assert any(naming.DB_INSTANCE in line and "/h" in line for line in plan)
    assert any(naming.REPLICATION_GROUP in line and "/h" in line for line in plan)
    assert "per hour while it all exists" in plan[-1] and "for a run of" in plan[-1]


def test_a_malformed_account_id_is_one_line(moto_server):
    lines = _lines(_provision(moto_server.endpoint_url, "--lab-account=12345"))
    assert len(lines) == 1 and "takes an AWS account id (12 digits)" in lines[0], lines


def test_credentials_that_do_not_work_are_the_guards_one_line_too(moto_server):
    clients = AwsClients(AwsTarget(region=naming.REGION, endpoint_url="http://127.0.0.1:9"))
    with pytest.raises(AccountGuardError, match="cannot tell which AWS account"):
        guard_account(clients, MOTO_ACCOUNT, where="emulator at http://127.0.0.1:9")

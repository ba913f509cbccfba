"""How check outcomes become statuses in grade mode: the grader's own problems are never the
student's, and only a missing prerequisite blocks its dependents."""

import json

import pytest

from botocore.exceptions import ClientError, NoCredentialsError

from grading.plugin import _grader_problem
from provisioning.errors import DENIED, DENIED_CODES, REJECTED, REJECTED_CODES, access_problem
from provisioning.outcomes import (
    BLOCKED, NOT_GRADABLE, OTHER_SKIP, SKIP_KINDS, blocked_by, classify_skip, skip_detail, skip_message, status_of_skip,
)
from provisioning.readonly import WriteRefused

PLUGINS = ["-p", "fixtures.plugin", "-p", "fixtures.steps", "-p", "fixtures.environment", "-p", "grading.plugin",
           "-p", "no:cacheprovider"]

CHECKS = """
import pytest
from botocore.exceptions import ClientError
from provisioning.readonly import WriteRefused

@pytest.mark.step("1.1")
def test_vpc():
    pass

@pytest.mark.step("1.1")
def test_dns():
    raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeVpcAttribute")

@pytest.mark.step("1.2")
def test_ssh():
    assert False, "security group database-lab-ec2-sg: ingress is tcp 22 from 0.0.0.0/0"

@pytest.mark.step("1.2")
def test_rds_sg():
    pass

@pytest.mark.step("1.3")
def test_subnet_group():
    assert False, "DB subnet group database-lab-subnet-group: not found"

@pytest.mark.step("1.4")
def test_primary():
    pass

@pytest.mark.step("2.1")
def test_multi_az():
    pass

@pytest.mark.step("4.1")
def test_table():
    raise WriteRefused("grading is read-only: dynamodb:PutItem refused")

@pytest.mark.step("4.3")
def test_stream():
    pass
"""

RUBRIC = """
version = "outcomes"
[steps."1.1"]
points = 20
checks = { test_vpc = "vpc hint", test_dns = "dns hint" }
[steps."1.2"]
points = 20
checks = { test_ssh = "only your /32 on port 22", test_rds_sg = "rds hint" }
[steps."1.3"]
points = 20
checks = { test_subnet_group = "create the subnet group" }
[steps."1.4"]
points = 20
checks = { test_primary = "primary hint" }
[steps."2.1"]
points = 10
checks = { test_multi_az = "multi-az hint" }
[steps."4.1"]
points = 5
checks = { test_table = "table hint" }
[steps."4.3"]
points = 5
checks = { test_stream = "stream hint" }
"""


@pytest.fixture(scope="module")
def graded(moto_server, tmp_path_factory):
    """One grading run of the checks above, shared by the tests below (as pytester would run it)."""
    import os
    import subprocess
    import sys

    from .conftest import REPO_ROOT

    directory = tmp_path_factory.mktemp("outcomes")
    (directory / "test_checks.py").write_text(CHECKS)
    (directory / "rubric.toml").write_text(RUBRIC)
    reports = directory / "reports"
    environ = {k: v for k, v in os.environ.items() if k != "LOCALSTACK_HOST"}
    environ.update(AWS_ENDPOINT_URL=moto_server.endpoint_url, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *PLUGINS, "--lab-grade", "--lab-student", "dora",
         f"--lab-rubric={directory / 'rubric.toml'}", f"--lab-reports-dir={reports}", "-rs",
         f"--junitxml={directory / 'junit.xml'}", "test_checks.py"],
        cwd=directory, env=environ, capture_output=True, text=True, timeout=120)
    grade = json.loads((reports / "grades" / "dora.json").read_text())
    return pytest.LineMatcher(result.stdout.splitlines()), {step["step"]: step for step in grade["steps"]}


def test_access_denied_and_refused_writes_are_not_gradable_instead_of_failing(graded):
    result, steps = graded
    dns = next(c for c in steps["1.1"]["checks"] if c["id"] == "test_dns")
    assert dns["status"] == "not_gradable" and dns["hint"] is None
    assert "UnauthorizedOperation on DescribeVpcAttribute" in dns["message"] and "IAM" in dns["message"]
    assert (steps["1.1"]["status"], steps["1.1"]["points"], steps["1.1"]["max_points"]) == ("pass", 20, 20)
    assert steps["4.1"]["status"] == "not_gradable" and "refused a write" in steps["4.1"]["reason"]
    assert steps["4.3"]["status"] == "pass", "a check the grader could not run blocks nothing"
    result.fnmatch_lines(["*not_gradable: UnauthorizedOperation on DescribeVpcAttribute*"])


def test_a_partly_wrong_prerequisite_blocks_nothing(graded):
    _, steps = graded
    assert (steps["1.2"]["status"], steps["1.2"]["points"]) == ("fail", 10)
    ssh = next(c for c in steps["1.2"]["checks"] if c["id"] == "test_ssh")
    assert ssh["hint"] == "only your /32 on port 22" and "0.0.0.0/0" in ssh["message"]
    # 1.4 needs 1.2 and 1.3: 1.2 is partly there, 1.3 is missing; so 1.4 is blocked by 1.3 alone.
    assert steps["1.4"]["status"] == "blocked" and steps["1.4"]["blocked_by"] == ["1.3"]
    assert steps["2.1"]["status"] == "blocked", "blocked transitively through 1.4"
    assert all(c["hint"] is None for c in steps["1.4"]["checks"] + steps["2.1"]["checks"])


def test_failures_print_one_line_each_and_the_grade_summary(graded):
    result, _ = graded
    result.fnmatch_lines(["*dblab grade*", "dora (account 123456789012, us-east-1): *",
                                 "*hint: only your /32 on port 22*"])
    assert not any(line.startswith("    def test_") for line in result.lines), "tracebacks are one line when grading"


def _caused_by(cause: BaseException) -> BaseException:
    """An error a check raised about an AWS error (raise ... from error)."""
    error = RuntimeError("the check's own words")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("exception, expected", [
    (ClientError({"Error": {"Code": "AccessDenied", "Message": "x"}}, "DescribeDBInstances"), "AccessDenied on DescribeDBInstances"),
    (ClientError({"Error": {"Code": "DBInstanceNotFound", "Message": "x"}}, "DescribeDBInstances"), None),
    (ClientError({"Error": {"Code": "ExpiredToken", "Message": "x"}}, "DescribeVpcs"), "ExpiredToken on DescribeVpcs"),
    (_caused_by(ClientError({"Error": {"Code": "AccessDeniedException"}}, "GetItem")), "AccessDeniedException on GetItem"),
    (NoCredentialsError(), "could not reach AWS"),
    (WriteRefused("grading is read-only: ec2:CreateTags refused"), "refused a write"),
    (AssertionError("VPC database-lab-vpc: not found"), None),
])
def test_only_the_graders_own_problems_are_excused(exception, expected):
    problem = _grader_problem(exception)
    assert (problem is None) if expected is None else (expected in problem)


def test_a_grader_without_credentials_stops_before_the_first_check_with_one_line_naming_the_fix(tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import REPO_ROOT

    # No AWS_* variable, no credentials file, no instance metadata: nothing can reach an account.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "LOCALSTACK_HOST"}
    environ.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
                   AWS_EC2_METADATA_DISABLED="true", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "aws", "--lab-grade", "--lab-student=erin", "-q", "-p", "no:cacheprovider",
         f"--junitxml={tmp_path / 'junit.xml'}", f"--lab-reports-dir={tmp_path / 'reports'}", "--lab-timeout=5"],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout[-2000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines[:40]
    assert lines[0].startswith("ERROR: --lab-grade: cannot grade erin: the grader's AWS credentials do not work "
                               "(NoCredentialsError"), lines[0]
    assert "AWS_PROFILE" in lines[0], "the line names the fix"
    assert not (tmp_path / "reports" / "grades" / "erin.json").exists()


EXPIRED = """
import botocore.client
from botocore.exceptions import ClientError

def _expired(self, operation_name, api_params):
    raise ClientError({"Error": {"Code": "ExpiredToken", "Message": "The security token included in the request is expired"}},
                      operation_name)

botocore.client.BaseClient._make_api_call = _expired
"""


def test_expired_credentials_stop_before_the_first_check_with_one_line(moto_server, tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import REPO_ROOT

    # Every AWS call answers ExpiredToken, as AWS does once a session's token has expired
    # (moto does not expire tokens).
    (tmp_path / "dblab_expired.py").write_text(EXPIRED)
    environ = {k: v for k, v in os.environ.items() if k != "LOCALSTACK_HOST"}
    environ.update(AWS_ENDPOINT_URL=moto_server.endpoint_url, PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{tmp_path}")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "aws", "--lab-grade", "--lab-student=fay", "-q", "-p", "no:cacheprovider",
         "-p", "dblab_expired", f"--lab-reports-dir={tmp_path / 'reports'}", "--lab-timeout=5"],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout[-2000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines == ["ERROR: --lab-grade: cannot grade fay: the grader's AWS credentials do not work "
                     "(sts:GetCallerIdentity: ExpiredToken: The security token included in the request is expired): "
                     "renew the grader's credentials (aws sso login, or assume the role again) and grade again"], lines


def test_expired_credentials_are_told_from_missing_ones_by_the_preflight():
    from botocore.exceptions import NoCredentialsError, ProfileNotFound
    from botocore.stub import Stubber
    import boto3

    from grading.preflight import NO_CREDENTIALS_FIX, PROFILE_FIX, REJECTED_FIX, CredentialsRejected, check_credentials

    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    with Stubber(sts) as stub:
        stub.add_client_error("get_caller_identity", "ExpiredToken", "token expired")
        with pytest.raises(CredentialsRejected, match="^sts:GetCallerIdentity: ExpiredToken") as expired:
            check_credentials(lambda service: sts)
    assert expired.value.fix == REJECTED_FIX

    def raising(error):
        def clients(service):
            raise error
        return clients

    with pytest.raises(CredentialsRejected) as missing:
        check_credentials(raising(NoCredentialsError()))
    assert missing.value.fix == NO_CREDENTIALS_FIX
    with pytest.raises(CredentialsRejected) as profile:
        check_credentials(raising(ProfileNotFound(profile="nobody")))
    assert profile.value.fix == PROFILE_FIX and "nobody" in str(profile.value)


@pytest.mark.parametrize("kind", SKIP_KINDS)
def test_a_skip_reason_reads_back_as_the_kind_it_was_built_with(kind):
    reason = skip_message(kind, "step 1.3 (a title) failed: see why")
    assert classify_skip(reason) == kind
    assert skip_detail(reason) == "step 1.3 (a title) failed: see why"
    assert status_of_skip(reason) == (BLOCKED if kind == BLOCKED else NOT_GRADABLE)


def test_a_plain_skip_has_no_kind_and_a_blocked_reason_names_its_prerequisite():
    assert classify_skip("no tunnel today") == OTHER_SKIP and skip_detail("no tunnel today") == "no tunnel today"
    assert blocked_by(skip_message(BLOCKED, "step 1.3 (a title) failed in x")) == "1.3"


def test_each_aws_error_code_is_either_denied_or_rejected():
    assert not DENIED_CODES & REJECTED_CODES
    assert {access_problem(ClientError({"Error": {"Code": code}}, "Op")) for code in DENIED_CODES} == {DENIED}
    assert {access_problem(ClientError({"Error": {"Code": code}}, "Op")) for code in REJECTED_CODES} == {REJECTED}

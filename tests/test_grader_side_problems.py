"""The grader's own problems are never the student's: an AWS answer about the grader's access, a
database login refused to the grader, a refused or dropped connection, a failed tunnel, throttling
that outlived botocore's retries. When grading, each makes its check not_gradable with the reason
and the fix (provisioning/errors.caller_problem, the one place that decides), never fail and never
blocked; the score on what the grader could see is unchanged.

The corpus: each error kind decided alone; a grading run whose checks raise them; and the whole
lab on real servers, graded with the grader's MySQL password wrong and Redis unreachable (the
case measured in issue 9: 2.3 and 3.1 failed, 3.2 and 5.3 were blocked, 1.4 and 5.2 lost
points), then with a primary and no replica bound.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from urllib.parse import quote

import pymysql
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from redis import exceptions as redis_errors

from provisioning import lab, naming
from provisioning.context import ProvisionContext
from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA
from provisioning.errors import DENIED_CODES, REJECTED_CODES, THROTTLED_CODES, caller_problem
from provisioning.passwords import generate_password
from provisioning.sql_errors import LOGIN_ERRORS
from provisioning.tunnel import Forward, TunnelError

from .conftest import REPO_ROOT

MYSQL_FIX = "check the password given with --mysql-password-env / --lab-mysql-url"


def _client_error(code: str, operation: str = "DescribeDBInstances") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "x"}}, operation)


def _failed_while_handling(error: BaseException) -> BaseException:
    """What a check raises when it fails inside `except error:` (pytest.fail keeps the context)."""
    try:
        try:
            raise error
        except type(error):
            pytest.fail("RDS instance database-lab-mysql: cannot query it")
    except pytest.fail.Exception as failure:
        return failure


# --- each kind, decided alone ------------------------------------------------------------------

@pytest.mark.parametrize("error, reason, fix", [
    *[(pymysql.err.OperationalError(code, "Access denied for user 'admin'"), f"MySQL login was refused ({code}",
       MYSQL_FIX) for code in sorted(LOGIN_ERRORS)],
    (_failed_while_handling(pymysql.err.OperationalError(1045, "Access denied")), "MySQL login was refused (1045",
     MYSQL_FIX),
    *[(pymysql.err.OperationalError(code, "Can't connect"), f"could not reach MySQL ({code}", "--lab-mysql-url")
      for code in (2003, 2005, 2006, 2013)],
    (redis_errors.ConnectionError("Error 111 connecting"), "could not reach Redis (ConnectionError", "--lab-redis-url"),
    (redis_errors.TimeoutError("Timeout reading"), "could not reach Redis (TimeoutError", "--lab-redis-url"),
    (redis_errors.AuthenticationError("invalid password"), "Redis login was refused", "--lab-redis-url"),
    (redis_errors.BusyLoadingError("loading"), "still loading", "grade again"),
    (TunnelError("ssh to the bastion failed: Permission denied (publickey)."), "tunnel", "Permission denied"),
    *[(_client_error(code), f"{code} on DescribeDBInstances: AWS throttled the grader", "grade again later")
      for code in sorted(THROTTLED_CODES)],
    (_client_error("ExpiredToken"), "ExpiredToken on DescribeDBInstances", "renew them"),
    (_client_error("AccessDenied"), "AccessDenied on DescribeDBInstances", "grading/iam-policy.json"),
    (EndpointConnectionError(endpoint_url="https://rds.us-east-1.amazonaws.com"), "could not reach AWS", "network"),
    (ReadTimeoutError(endpoint_url="https://rds.us-east-1.amazonaws.com"), "could not reach AWS", "network"),
], ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None)
def test_a_grader_side_error_is_its_problem_with_the_reason_and_the_fix(error, reason, fix):
    problem = caller_problem(error, grading=True)
    assert problem is not None, error
    assert reason in problem.reason and fix in problem.reason, problem.reason


@pytest.mark.parametrize("error", [
    pymysql.err.ProgrammingError(1146, "Table 'labdb.products' doesn't exist"),
    pymysql.err.OperationalError(1290, "running with the --read-only option"),
    pymysql.err.OperationalError(1054, "Unknown column 'quantity'"),
    redis_errors.ReadOnlyError("You can't write against a read only replica."),
    redis_errors.ResponseError("unknown command 'CONFIG'"),
    _client_error("DBInstanceNotFound"),
    AssertionError("VPC database-lab-vpc: not found"),
    _failed_while_handling(pymysql.err.OperationalError(1290, "read-only")),
], ids=lambda value: type(value).__name__)
def test_an_answer_about_the_students_databases_stays_the_checks_finding(error):
    assert caller_problem(error, grading=True) is None


@pytest.mark.parametrize("error", [pymysql.err.OperationalError(code, "Access denied") for code in sorted(LOGIN_ERRORS)]
                         + [redis_errors.AuthenticationError("invalid password")], ids=str)
def test_locally_a_refused_login_is_the_checks_failure_since_the_suite_made_the_password(error):
    # The seeded faults 1.4-master-account-locked and 1.4-master-password-changed rely on it.
    assert caller_problem(error, grading=False) is None


def test_a_refused_connection_is_never_the_students_even_locally():
    assert caller_problem(pymysql.err.OperationalError(2003, "Can't connect"), grading=False) is not None


def test_each_aws_error_code_is_in_one_list():
    assert not THROTTLED_CODES & (DENIED_CODES | REJECTED_CODES)


# --- a grading run: the grader's problems block nothing -----------------------------------------

PLUGINS = ["-p", "fixtures.plugin", "-p", "fixtures.steps", "-p", "fixtures.environment", "-p", "grading.plugin",
           "-p", "no:cacheprovider"]

CHECKS = """
import pymysql
import pytest
from botocore.exceptions import ClientError
from redis import exceptions as redis_errors
from provisioning.tunnel import TunnelError

@pytest.mark.step("1.4")
def test_primary_is_available():
    pass

@pytest.mark.step("1.4")
def test_primary_answers():
    try:
        raise pymysql.err.OperationalError(1045, "Access denied for user 'admin'")
    except pymysql.MySQLError as exc:
        pytest.fail(f"RDS instance database-lab-mysql: cannot query it: {exc}")

@pytest.mark.step("3.1")
def test_columns():
    raise pymysql.err.OperationalError(1045, "Access denied for user 'admin'")

@pytest.mark.step("3.1")
def test_key():
    raise pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")

@pytest.mark.step("3.2")
def test_rows():
    raise TunnelError("ssh to the bastion failed: Connection timed out")

@pytest.mark.step("5.2")
def test_group_is_available():
    raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "DescribeReplicationGroups")

@pytest.mark.step("5.2")
def test_replica_role():
    raise redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

@pytest.mark.step("5.3")
def test_leaderboard():
    pass
"""

RUBRIC = """
version = "grader-side"
[steps."1.4"]
points = 40
checks = { test_primary_is_available = "wait for it", test_primary_answers = "connect to labdb" }
[steps."3.1"]
points = 20
checks = { test_columns = "the Lab 3 columns", test_key = "the key" }
[steps."3.2"]
points = 10
checks = { test_rows = "run app.py" }
[steps."5.2"]
points = 20
checks = { test_group_is_available = "wait for it", test_replica_role = "a replica" }
[steps."5.3"]
points = 10
checks = { test_leaderboard = "run the app" }
"""


@pytest.fixture(scope="module")
def graded(moto_server, tmp_path_factory):
    directory = tmp_path_factory.mktemp("grader-side")
    (directory / "test_checks.py").write_text(CHECKS)
    (directory / "rubric.toml").write_text(RUBRIC)
    reports = directory / "reports"
    environ = {k: v for k, v in os.environ.items() if k != "LOCALSTACK_HOST"}
    environ.update(AWS_ENDPOINT_URL=moto_server.endpoint_url, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *PLUGINS, "--lab-grade", "--lab-student", "hana",
         f"--lab-rubric={directory / 'rubric.toml'}", f"--lab-reports-dir={reports}", "-rs", "test_checks.py"],
        cwd=directory, env=environ, capture_output=True, text=True, timeout=120)
    grade = json.loads((reports / "grades" / "hana.json").read_text())
    return result, {step["step"]: step for step in grade["steps"]}


def test_the_graders_problems_fail_nothing_and_block_nothing(graded):
    result, steps = graded
    assert {step: entry["status"] for step, entry in steps.items()} == {
        "1.4": "pass", "3.1": "not_gradable", "3.2": "not_gradable", "5.2": "not_gradable", "5.3": "pass"}, \
        result.stdout[-3000:]
    assert (steps["1.4"]["points"], steps["1.4"]["max_points"]) == (40, 40), "what the grader saw keeps every point"
    assert (steps["5.3"]["points"], steps["5.3"]["max_points"]) == (10, 10), "3.2 and 5.2 the grader could not see block nothing"


def test_each_not_gradable_check_names_the_reason_and_the_fix(graded):
    _, steps = graded
    messages = {check["id"]: check["message"] for step in steps.values() for check in step["checks"]}
    assert MYSQL_FIX in messages["test_primary_answers"] and MYSQL_FIX in messages["test_columns"]
    assert "could not reach MySQL (2013" in messages["test_key"]
    assert "tunnel" in messages["test_rows"] and "Connection timed out" in messages["test_rows"]
    assert "ThrottlingException" in messages["test_group_is_available"] and "grade again later" in messages["test_group_is_available"]
    assert "could not reach Redis" in messages["test_replica_role"] and "--lab-redis-url" in messages["test_replica_role"]
    assert all(check["hint"] is None for step in steps.values() for check in step["checks"]), "no hint blames the student"


# --- the whole lab on real servers -------------------------------------------------------------

def _mysql_url(endpoint, password: str | None = None) -> str:
    return (f"mysql://{endpoint.user}:{quote(password or str(endpoint.password), safe='')}"
            f"@{endpoint.host}:{endpoint.port}/{endpoint.database}")


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served_lab(moto_server, session_aws_clients, tmp_path_factory):
    """The whole lab in the emulated account, its data plane on a local MariaDB and Redis pair."""
    from provisioning.local.engines import start_local_engines

    password = generate_password()
    engines = start_local_engines(tmp_path_factory.mktemp("servers"), password, moto=False)
    try:
        moto_server.reset()
        plane = engines.dataplane()
        ctx = ProvisionContext(clients=session_aws_clients, run_id="student", dataplane=plane,
                               master_password=password, log=lambda message: None)
        failed = [result for result in lab.provision(ctx, lab.provisioning_steps()) if result.error]
        assert not failed, failed

        reports_of: dict = {}

        def grade(student: str, **urls: str) -> dict:
            reports = tmp_path_factory.mktemp(f"grade-{student}")
            environ = {k: v for k, v in os.environ.items()
                       if k not in ("LOCALSTACK_HOST", "AWS_PROFILE") and not k.startswith("LAB_")}
            environ.update(AWS_ENDPOINT_URL=moto_server.endpoint_url, PYTHONPATH=str(REPO_ROOT), **urls)
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-m", "aws", "--lab-grade", f"--lab-student={student}", "-q",
                 "-p", "no:cacheprovider", f"--lab-reports-dir={reports}", "--lab-timeout=10"],
                cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=300)
            grade_file = reports / "grades" / f"{student}.json"
            reports_of[student] = reports
            assert grade_file.is_file(), result.stdout[-3000:] + result.stderr[-2000:]
            grade = json.loads(grade_file.read_text())
            assert str(password) not in result.stdout + result.stderr + grade_file.read_text()
            return grade

        grade.reports = reports_of  # each student's reports folder, for the evidence tests
        yield plane, grade
    finally:
        engines.stop()


def _steps(grade: dict) -> dict[str, tuple]:
    return {step["step"]: (step["status"], step["points"], step["max_points"]) for step in grade["steps"]}


def test_a_wrong_grader_password_and_an_unreachable_redis_cost_the_student_nothing(served_lab):
    plane, grade = served_lab
    unseen = grade("iris")  # no data plane given: what the grader can see without one
    wrong = grade("jack", LAB_MYSQL_URL=_mysql_url(plane.mysql[naming.DB_INSTANCE], "not-the-password"),
                  LAB_MYSQL_REPLICA_URL=_mysql_url(plane.mysql[naming.DB_REPLICA], "not-the-password"),
                  LAB_REDIS_URL=f"redis://127.0.0.1:{_unused_port()}",
                  LAB_REDIS_REPLICA_URL=f"redis://127.0.0.1:{_unused_port()}")
    statuses = {step["step"]: step["status"] for step in wrong["steps"]}
    assert not {s for s, status in statuses.items() if status in ("fail", "blocked")}, statuses
    assert _steps(wrong) == _steps(unseen), "the score on what the grader could see is unchanged"
    assert (wrong["score"], wrong["max_score"]) == (unseen["score"], unseen["max_score"])
    by_step = {step["step"]: step for step in wrong["steps"]}
    for step in ("2.3", "3.1", "3.2"):
        assert MYSQL_FIX in by_step[step]["reason"], by_step[step]["reason"]
    assert "could not reach Redis" in by_step["5.3"]["reason"] and "--lab-redis-url" in by_step["5.3"]["reason"]


def test_a_primary_without_a_replica_is_graded_not_dropped(served_lab):
    plane, grade = served_lab
    graded = grade("kate", LAB_MYSQL_URL=_mysql_url(plane.mysql[naming.DB_INSTANCE]),
                   LAB_REDIS_URL=f"redis://127.0.0.1:{plane.redis[REDIS_PRIMARY].port}")
    steps = {step["step"]: step for step in graded["steps"]}
    for step in ("1.4", "2.3", "3.1", "3.2", "5.2", "5.3"):
        entry = steps[step]
        assert (entry["status"], entry["points"]) == ("pass", entry["rubric_points"]), json.dumps(entry, indent=1)
    replica_checks = [check for check in steps["2.3"]["checks"] + steps["5.2"]["checks"]
                      if check["id"].startswith(("test_replica_", "test_redis_replica_"))
                      and check["status"] == "not_gradable" and "grading never writes" not in check["message"]]
    assert len(replica_checks) == 5, [check["id"] for check in replica_checks]
    assert all(check["message"].startswith("not-reachable") and "replica" in check["message"]
               for check in replica_checks), replica_checks
    assert graded["score"] == graded["max_score"] == 100


# --- dblab grade's tunnel binds each server on its own ------------------------------------------

class _Forwarded:
    """A tunnel whose ports are open (what tunnel_env sees of a real one)."""

    def __init__(self, forwards):
        from provisioning.tunnel import Tunnel

        self._tunnel = Tunnel(["ssh"], forwards)

    def dataplane(self, **kwargs):
        return self._tunnel.dataplane(**kwargs)


def test_a_tunnel_to_a_primary_without_a_replica_binds_the_primary():
    from dblab.grade_dataplane import tunnel_env
    from provisioning.dataplane import parse_mysql_url

    forwards = [Forward(naming.DB_INSTANCE, "p.rds", 3306, 41001), Forward(REDIS_PRIMARY, "m.cache", 6379, 41003)]
    env, notes = tunnel_env(_Forwarded(forwards), "pw")
    assert set(env) == {"LAB_MYSQL_URL", "LAB_REDIS_URL"} and parse_mysql_url(env["LAB_MYSQL_URL"]).port == 41001
    assert notes == [f"MySQL {naming.DB_REPLICA} not graded: it has no endpoint",
                     "Redis replica not graded: the replication group has no reader endpoint"]


def test_a_tunnel_to_a_replica_alone_binds_the_replica():
    from dblab.grade_dataplane import tunnel_env

    forwards = [Forward(naming.DB_REPLICA, "r.rds", 3306, 41002), Forward(REDIS_REPLICA, "r.cache", 6379, 41004)]
    env, _ = tunnel_env(_Forwarded(forwards), "pw")
    assert set(env) == {"LAB_MYSQL_REPLICA_URL", "LAB_REDIS_REPLICA_URL"}


def test_dblab_grade_keeps_the_one_line_of_a_run_stopped_for_credentials_as_the_reason():
    from dblab.grade_runner import _no_grade_reason

    output = ("ERROR: --lab-grade: cannot grade nina: the grader's AWS credentials do not work "
              "(sts:GetCallerIdentity: ExpiredToken: expired): renew the grader's credentials\n")
    assert _no_grade_reason("nina", output, 4) == (
        "--lab-grade: cannot grade nina: the grader's AWS credentials do not work "
        "(sts:GetCallerIdentity: ExpiredToken: expired): renew the grader's credentials")


# --- the data plane's answers as evidence (grading/evidence_dataplane.py) ------------------------

def _regraded(reports, student: str, out) -> dict:
    result = subprocess.run([sys.executable, "-m", "dblab", "regrade", "--evidence",
                             str(reports / "evidence" / student), "--reports", str(out)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((out / "grades" / f"{student}.json").read_text())


def _checks(grade: dict) -> dict:
    return {check["id"]: (check["status"], check["points"], check["message"])
            for step in grade["steps"] for check in step["checks"]}


def test_the_data_planes_answers_are_evidence_and_a_regrade_needs_no_server(served_lab, tmp_path):
    plane, grade = served_lab
    graded = grade("liam", LAB_MYSQL_URL=_mysql_url(plane.mysql[naming.DB_INSTANCE]),
                   LAB_MYSQL_REPLICA_URL=_mysql_url(plane.mysql[naming.DB_REPLICA]),
                   LAB_REDIS_URL=f"redis://127.0.0.1:{plane.redis[REDIS_PRIMARY].port}",
                   LAB_REDIS_REPLICA_URL=f"redis://127.0.0.1:{plane.redis[REDIS_REPLICA].port}")
    reports = grade.reports["liam"]
    evidence = reports / "evidence" / "liam"
    assert {path.parent.name for path in evidence.rglob("*.json") if path.parent != evidence} == {"aws", "mysql", "redis"}
    products = [json.loads(path.read_text()) for path in (evidence / "mysql").glob("*.json")]
    assert any("FROM products" in answer["request"]["query"] and answer["answer"]["rows"] for answer in products)
    text = "".join(path.read_text() for path in evidence.rglob("*.json"))
    assert str(plane.mysql[naming.DB_INSTANCE].password) not in text
    # The servers are not asked: the regrade binds endpoints that answer from the evidence.
    regraded = _regraded(reports, "liam", tmp_path / "out")
    assert _checks(regraded) == _checks(graded)
    assert (regraded["score"], regraded["max_score"]) == (graded["score"], graded["max_score"]) == (100, 100)


def test_the_graders_own_data_plane_problems_regrade_to_the_same_reasons(served_lab, tmp_path):
    plane, grade = served_lab
    wrong = grade("mona", LAB_MYSQL_URL=_mysql_url(plane.mysql[naming.DB_INSTANCE], "not-the-password"),
                  LAB_REDIS_URL=f"redis://127.0.0.1:{_unused_port()}")
    regraded = _regraded(grade.reports["mona"], "mona", tmp_path / "out")
    assert _checks(regraded) == _checks(wrong)
    assert {step["step"]: step.get("reason") for step in regraded["steps"]} == {
        step["step"]: step.get("reason") for step in wrong["steps"]}

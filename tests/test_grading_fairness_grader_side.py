"""Fairness (issue 9): the grader's own problems are never the student's.

One student did the whole lab: the lab's commands replayed (tests/fairness/build.py), Lab 4.2's
app, and the data-plane steps (2.3, 3.2, 5.3) on local servers bound to the lab's RDS instances
and Redis group. The account is graded as the grader saw it:
- everything (the data plane reached with the right password): the reference, every step full;
- no data plane given: the reference for what the control plane alone shows;
- with the grader's own problems: the MySQL password wrong and Redis unreachable (the issue's
  measured case), MySQL refused, Redis hanging up, AccessDenied on one service (moto's IAM
  enforcement), throttling that outlived botocore's retries; each must leave every check the
  grader could see as it was, and make the rest not_gradable, never fail or blocked;
- without working credentials (none, unknown keys, an expired token): one line naming the fix,
  and a non-zero exit, before any check.
And one more allowed variation that needs the data plane: Lab 6 run after Lab 5.
"""

from __future__ import annotations

import json

import boto3
import pytest

from grading.preflight import POLICY_FILE
from provisioning import naming
from provisioning.local.engines import start_local_engines
from provisioning.passwords import generate_password
from tests.fairness.accounts import DEFAULT_ACCOUNT, default_account
from tests.fairness.build import build, run_steps
from tests.fairness.corpus import require_lab_text
from tests.fairness.dataplane import HangingUp, closed_port, grader_urls, mysql_url, redis_url
from tests.fairness.grade import DATA_PLANE_STEPS, Graded, blamed, changed, run_grade, step_line
from tests.fairness.lab6 import run_lab_6

DATA_PLANE_PROVISIONING = ("2.3", "3.2", "5.3")
MYSQL_STEPS = ("2.3", "3.1", "3.2")
DYNAMODB_STEPS = ("4.1", "4.2", "4.3")
ELASTICACHE_STEPS = ("5.1", "5.2", "5.3")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    password = generate_password()
    engines = start_local_engines(tmp_path_factory.mktemp("student-servers"), password, moto=False)
    yield engines
    engines.stop()


@pytest.fixture(scope="module")
def student(moto_server, servers):
    """The whole lab in moto's default account (its IAM users are the graders of the AccessDenied case)."""
    require_lab_text()
    moto_server.reset()  # the default account is every module's: start from an empty one
    account = default_account(moto_server.endpoint_url)
    build(account)
    run_steps(account, naming.REGION, DATA_PLANE_PROVISIONING, dataplane=servers.dataplane(),
              master_password=servers.mysql.primary.password)
    return account


class Grades:
    """Each grade of the student's account, made once."""

    def __init__(self, endpoint_url, student, servers, scratch):
        self.endpoint_url, self.student, self.servers, self.scratch = endpoint_url, student, servers, scratch
        self._made: dict[str, Graded] = {}

    def grade(self, case: str, *args: str, keys: dict | None = None, env: dict | None = None) -> Graded:
        if case not in self._made:
            self._made[case] = run_grade(case, self.scratch.mktemp(case), *args, endpoint_url=self.endpoint_url,
                                         keys=self.student.keys if keys is None else keys, env=env)
        return self._made[case]

    def mysql(self, password=None) -> tuple[str, str]:
        pair = self.servers.mysql
        return mysql_url(pair.primary, password), mysql_url(pair.replica, password)

    def redis(self) -> tuple[str, str]:
        return redis_url(self.servers.redis.primary), redis_url(self.servers.redis.replica)

    @property
    def everything(self) -> Graded:
        return self.grade("sees-everything", env=grader_urls(self.mysql(), self.redis()))

    @property
    def control_plane(self) -> Graded:
        return self.grade("sees-the-control-plane")

    @property
    def mysql_refused(self) -> Graded:
        refused = f"mysql://admin:x@127.0.0.1:{closed_port()}/labdb"
        return self.grade("grader-mysql-refused", env=grader_urls((refused, refused), self.redis()))

    @property
    def redis_hangs_up(self) -> Graded:
        if "grader-redis-hangs-up" not in self._made:
            with HangingUp() as server:
                dropped = f"redis://127.0.0.1:{server.port}"
                return self.grade("grader-redis-hangs-up", env=grader_urls(self.mysql(), (dropped, dropped)))
        return self._made["grader-redis-hangs-up"]

    def grades_of_the_servers(self) -> list[Graded]:
        """Every grade that reads the student's servers as they are before Lab 6 changes them."""
        return [self.everything, self.mysql_refused, self.redis_hangs_up]


@pytest.fixture(scope="module")
def grades(moto_server, student, servers, tmp_path_factory) -> Grades:
    return Grades(moto_server.endpoint_url, student, servers, tmp_path_factory)


def _check_statuses(graded: Graded) -> dict[str, str]:
    return {c["id"]: c["status"] for s in graded.grade["steps"] for c in s["checks"]}


def _check_steps(graded: Graded) -> dict[str, str]:
    return {c["id"]: s["step"] for s in graded.grade["steps"] for c in s["checks"]}


def assert_only_hidden(graded: Graded, grades: Grades, hidden_steps: tuple[str, ...]) -> None:
    """What a grader-side problem may do to a grade: make checks not_gradable (`hidden_steps`
    wholly), nothing else. Nothing failed or blocked, every check as the grader that saw everything
    graded it or not_gradable, every check the control plane shows graded as it is there, and
    every step's points all of what could be graded."""
    assert graded.grade is not None, f"{graded.student}: no grade written; {graded.explain()}"
    problems = [f"blamed on the student: {line}" for line in blamed(graded)]
    seen_all, seen_control = _check_statuses(grades.everything), _check_statuses(grades.control_plane)
    steps = _check_steps(graded)
    for check, status in _check_statuses(graded).items():
        if status not in (seen_all.get(check), "not_gradable"):
            problems.append(f"{check}: {status}, graded {seen_all.get(check)} by the grader that saw everything")
        elif steps[check] not in hidden_steps and seen_control.get(check) == "pass" and status != "pass":
            problems.append(f"{check}: {status}, though it needs only the control plane")
    for step in hidden_steps:
        if graded.steps[step]["status"] != "not_gradable":
            problems.append(f"{step_line(graded.steps[step])}\n    (the grader could not see this step)")
    problems += [step_line(s) for s in graded.grade["steps"] if s["points"] != s["max_points"]]
    assert not problems, f"{graded.student}:\n" + "\n".join(problems)


# --- the references ------------------------------------------------------------------------------------

def test_the_whole_lab_seen_whole_earns_every_point(grades):
    graded = grades.everything
    short = [step_line(s) for s in graded.grade["steps"] if (s["status"], s["points"]) != ("pass", s["max_points"])]
    assert not short, "the whole lab, data plane reached:\n" + "\n".join(short)
    assert graded.grade["score"] == graded.grade["max_score"] > 0


def test_the_control_plane_alone_earns_every_point_it_shows(grades):
    graded = grades.control_plane
    wrong = [step_line(s) for s in graded.grade["steps"]
             if (s["status"], s["points"]) != (("not_gradable", 0) if s["step"] in DATA_PLANE_STEPS
                                              else ("pass", s["rubric_points"]))]
    assert not wrong, "the whole lab, no data plane given:\n" + "\n".join(wrong)


# --- the grader's data-plane problems ---------------------------------------------------------------

def test_acceptance_the_graders_wrong_password_and_unreachable_redis_cost_the_student_nothing(grades):
    """The issue's measured case: 2.3 and 3.1 failed, 3.2 and 5.3 were blocked, 1.4 and 5.2 lost points."""
    env = grader_urls(grades.mysql(password=generate_password()), (f"redis://127.0.0.1:{closed_port()}",) * 2)
    graded = grades.grade("grader-password-wrong-redis-unreachable", env=env)
    assert_only_hidden(graded, grades, DATA_PLANE_STEPS)
    assert not changed(graded, grades.control_plane, [s["step"] for s in graded.grade["steps"]]), (
        "\n".join(changed(graded, grades.control_plane, [s["step"] for s in graded.grade["steps"]])))


def test_mysql_refusing_the_grader_hides_the_mysql_steps_only(grades):
    assert_only_hidden(grades.mysql_refused, grades, MYSQL_STEPS)


def test_redis_hanging_up_on_the_grader_hides_the_redis_steps_only(grades):
    assert_only_hidden(grades.redis_hangs_up, grades, ("5.3",))


# --- the grader's AWS problems ---------------------------------------------------------------------------

@pytest.fixture
def iam_enforced(moto_server):
    """moto checks every call against IAM while the block runs (the server is in this process)."""
    from moto import settings

    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    yield lambda: setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = previous


def _grader_user(endpoint_url: str, name: str, without_prefix: str) -> dict:
    """An IAM user of the student's account holding the shipped grader policy minus every
    action of one service; its keys in the environment's form."""
    iam = boto3.client("iam", endpoint_url=endpoint_url, region_name=naming.REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    policy = json.loads(POLICY_FILE.read_text())
    for statement in policy["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if not a.startswith(without_prefix)]
    policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="dblab-grader", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def test_access_denied_on_one_service_hides_its_steps_only(grades, moto_server, iam_enforced):
    keys = _grader_user(moto_server.endpoint_url, "grader-without-dynamodb", "dynamodb:")
    grades.everything, grades.control_plane  # the references, graded before IAM applies to their keys too
    iam_enforced()
    graded = grades.grade("grader-denied-dynamodb", keys=keys)
    assert graded.grade["account"] == DEFAULT_ACCOUNT, graded.explain()
    assert_only_hidden(graded, grades, DYNAMODB_STEPS)
    reasons = [graded.steps[s].get("reason") or "" for s in DYNAMODB_STEPS]
    assert all("dynamodb:" in reason for reason in reasons), reasons


def test_throttling_beyond_the_retries_hides_the_throttled_service_only(grades):
    env = {"DBLAB_AWS_ERROR": "ThrottlingException", "DBLAB_AWS_ERROR_SERVICES": "elasticache"}
    graded = grades.grade("grader-throttled-elasticache", "-p", "tests.fairness.aws_errors", env=env)
    assert_only_hidden(graded, grades, ELASTICACHE_STEPS)


# --- no working credentials: one line, before any check ---------------------------------------------

def _assert_stops_in_one_line(graded: Graded) -> None:
    lines = [line for line in graded.output.splitlines() if line.strip()]
    assert graded.result.returncode != 0 and len(lines) == 1 and "credentials" in lines[0].lower(), (
        f"expected one line naming the credentials and a non-zero exit; {graded.explain()}")
    assert graded.grade is None or not blamed(graded), blamed(graded)


def test_acceptance_no_credentials_at_all_is_one_line_and_a_non_zero_exit(tmp_path):
    """The instructor's command as the issue ran it: no keys, no profile, no endpoint."""
    _assert_stops_in_one_line(run_grade("x", tmp_path, endpoint_url=None, keys={}, quiet=False))


def test_an_endpoint_that_does_not_answer_is_one_line(tmp_path):
    """Against an emulator no keys are needed (the suite signs with dummy ones, as LocalStack users
    do); one that does not answer stops the run the same way, naming the endpoint."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    graded = run_grade("x", tmp_path, endpoint_url=endpoint, keys={}, quiet=False)
    _assert_stops_in_one_line(graded)
    assert endpoint in graded.output or "AWS_ENDPOINT_URL" in graded.output, graded.explain()


def test_unknown_keys_are_one_line(grades, iam_enforced):
    iam_enforced()
    keys = {"AWS_ACCESS_KEY_ID": "AKIADBLABNOSUCHKEY00", "AWS_SECRET_ACCESS_KEY": "not-a-secret"}
    _assert_stops_in_one_line(grades.grade("grader-unknown-keys", keys=keys))


def test_an_expired_token_is_one_line(grades):
    _assert_stops_in_one_line(grades.grade("grader-token-expired", "-p", "tests.fairness.aws_errors",
                                           env={"DBLAB_AWS_ERROR": "ExpiredToken"}))


# --- an allowed variation that needs the data plane -------------------------------------------------------

@pytest.fixture(scope="module")
def after_lab_6(grades, servers):
    """Lab 6 changes what Redis holds: every other grade of these servers is made before it."""
    grades.grades_of_the_servers()
    run_lab_6(servers.mysql.primary, servers.redis.primary)
    return grades.grade("lab-6-after-lab-5", env=grader_urls(grades.mysql(), grades.redis()))


def test_running_lab_6_after_lab_5_costs_nothing(after_lab_6, grades):
    short = [step_line(s) for s in after_lab_6.grade["steps"]
             if (s["status"], s["points"]) != ("pass", s["max_points"])]
    short += changed(after_lab_6, grades.everything, [s["step"] for s in after_lab_6.grade["steps"]])
    assert not short, "Lab 6 (the lab's 6.1 and 6.2 scripts) run after Lab 5:\n" + "\n".join(short)

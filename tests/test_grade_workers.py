"""dblab grade's warm workers (dblab/grade_worker.py): one worker grades many students in turn, each
in a child of its own that sees only that student's environment; a run that crashes costs that
student only, a worker that dies is replaced, a run over --student-timeout is killed, and Ctrl-C
or SIGTERM leaves no worker or child behind. The grading runs load tests/grade_worker_plugin.py,
which writes down what each saw and crashes, exits, kills its worker or hangs when told to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dblab.grade_runner import SCRUBBED_ENV
from provisioning import naming
from provisioning.polling import wait_until

from .conftest import REPO_ROOT
from .test_grading_roster import ROLE, _dblab_grade, _grade

PLUGIN = ("--", "-p", "tests.grade_worker_plugin")
INSTRUCTOR = {"AWS_ACCESS_KEY_ID": "AKIAINSTRUCTOR000000", "AWS_SECRET_ACCESS_KEY": "instructor-secret",
              "LAB_MYSQL_URL": "mysql://admin:instructor-pw@127.0.0.1:1/labdb"}
STUDENT_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"}


def _account(number: int) -> str:
    return f"{240000000000 + number}"  # accounts of their own: nothing to build, nothing shared


def _class(directory: Path, actions: dict[str, str], students: list[str]) -> tuple[Path, dict]:
    """A roster of empty emulated accounts, and the environment that hands the plan to the plugin."""
    rows = [f"{student},{ROLE.format(account=_account(n))},{naming.REGION}" for n, student in enumerate(students)]
    roster = directory / "roster.csv"
    roster.write_text("student,credentials,region\n" + "\n".join(rows) + "\n")
    records = directory / "seen"
    records.mkdir()
    plan = directory / "plan.json"
    plan.write_text(json.dumps({"records": str(records), "actions": actions}))
    return roster, {"DBLAB_TEST_GRADE_PLAN": str(plan), **INSTRUCTOR}


def _seen(directory: Path, student: str) -> dict:
    return json.loads((directory / "seen" / f"{student}.json").read_text())


def _gone(pid: int) -> bool:
    """No process of a worker (or forked from one) runs under `pid`: none, a zombie, or another program."""
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z" or b"dblab.grade_worker" not in cmdline


def _wait_gone(pids) -> None:
    wait_until(lambda: all(_gone(pid) for pid in pids), timeout=30, what=f"processes {sorted(pids)} ended")


# --- one worker, a class in turn -----------------------------------------------------------------

STUDENTS = ["s0", "s1", "s2", "s3", "s4", "s5", "s6"]
ACTIONS = {"s1": "segv", "s3": "exit", "s5": "kill-worker"}


@pytest.fixture(scope="module")
def one_worker(moto_server, tmp_path_factory):
    directory = tmp_path_factory.mktemp("workers")
    roster, env = _class(directory, ACTIONS, STUDENTS)
    reports = directory / "reports"
    result = _dblab_grade(roster, reports, endpoint=None, env=env,
                          extra=("--endpoint-url", moto_server.endpoint_url, "--jobs", "1", *PLUGIN))
    return directory, reports, result


def _line(result, student: str) -> str:
    return next(line for line in result.stdout.splitlines() if line.startswith(f"{student}: "))


def test_one_worker_grades_the_students_in_turn_each_in_a_child_of_its_own(one_worker):
    directory, reports, result = one_worker
    seen = {student: _seen(directory, student) for student in STUDENTS}
    first_worker = seen["s0"]["worker"]
    assert [seen[s]["worker"] for s in ("s0", "s1", "s2", "s3", "s4", "s5")] == [first_worker] * 6, seen
    assert len({record["pid"] for record in seen.values()}) == len(STUDENTS)
    assert all(record["cwd"] == str(REPO_ROOT) for record in seen.values())
    for student in ("s0", "s2", "s4", "s6"):
        assert _grade(reports, student)["max_score"] > 0, _line(result, student)
    # The worker parsed the service models once; every run's botocore sessions find them loaded.
    assert {"ec2", "rds", "elasticache", "dynamodb", "sts"} <= set(seen["s0"]["models_loaded"])
    _wait_gone({first_worker, seen["s6"]["worker"], *(record["pid"] for record in seen.values())})


def test_each_run_sees_its_own_credentials_and_nothing_the_instructor_or_another_run_left(one_worker):
    directory, reports, result = one_worker
    instructor_aws = {k for k in os.environ if k.startswith("AWS_") and k not in SCRUBBED_ENV} | {"AWS_CONFIG_FILE"}
    keys = set()
    for number, student in enumerate(STUDENTS):
        seen = _seen(directory, student)
        assert set(seen["aws"]) - instructor_aws == STUDENT_KEYS, seen["aws"].keys()
        assert seen["aws"]["AWS_ACCESS_KEY_ID"] != INSTRUCTOR["AWS_ACCESS_KEY_ID"]
        keys.add(seen["aws"]["AWS_ACCESS_KEY_ID"])
        assert seen["lab"] == [], "a lab setting of dblab grade's shell reached a grading run"
        assert seen["left_behind"] is None, f"{student} saw what {seen['left_behind']}'s run left in its environment"
        if student in ("s0", "s2", "s4", "s6"):
            assert _grade(reports, student)["account"] == _account(number)
    assert len(keys) == len(STUDENTS)
    assert "instructor-secret" not in result.stdout + result.stderr and "SessionToken" not in result.stdout


def test_a_run_that_crashes_is_not_gradable_and_the_worker_grades_the_next_student(one_worker):
    directory, reports, result = one_worker
    crashed = _grade(reports, "s1")
    assert {step["status"] for step in crashed["steps"]} == {"not_gradable"}
    assert crashed["steps"][0]["reason"] == "the grading run crashed (signal 11, SIGSEGV)"
    assert _line(result, "s1").startswith("s1: not gradable: the grading run crashed (signal 11, SIGSEGV) (log: ")
    log = (reports / "logs" / "s1.log").read_text()
    assert "Fatal Python error: Segmentation fault" in log  # pytest's faulthandler, in the student's log
    assert log.rstrip().endswith("dblab grade: the grading run crashed (signal 11, SIGSEGV)")
    exited = _grade(reports, "s3")["steps"][0]["reason"]
    assert exited.startswith("the grading run ended with status 3"), exited
    assert _seen(directory, "s2")["worker"] == _seen(directory, "s1")["worker"]
    assert _grade(reports, "s2")["max_score"] > 0
    assert result.returncode == 1
    assert result.stdout.strip().splitlines()[-1].startswith(f"graded {len(STUDENTS)} student(s) in ")
    assert "(3 not gradable, 0 already graded)" in result.stdout


def test_a_worker_that_dies_is_replaced_and_its_student_is_not_gradable(one_worker):
    directory, reports, result = one_worker
    reason = _grade(reports, "s5")["steps"][0]["reason"]
    assert reason == "the grading worker stopped (signal 9, SIGKILL)"
    assert _seen(directory, "s6")["worker"] != _seen(directory, "s5")["worker"]
    assert _grade(reports, "s6")["max_score"] > 0, _line(result, "s6")


# --- a run over --student-timeout, and Ctrl-C -----------------------------------------------------

def test_a_run_over_the_student_timeout_is_killed_and_not_gradable(moto_server, tmp_path):
    roster, env = _class(tmp_path, {"hang": "hang"}, ["hang"])
    result = _dblab_grade(roster, tmp_path / "reports", endpoint=None, env=env,
                          extra=("--endpoint-url", moto_server.endpoint_url, "--student-timeout", "2", *PLUGIN))
    assert _grade(tmp_path / "reports", "hang")["steps"][0]["reason"] == (
        "the grading run ended with status -9: dblab grade: stopped after 2s (--student-timeout)"), result.stdout
    seen = _seen(tmp_path, "hang")
    _wait_gone({seen["pid"], seen["worker"]})


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_dblab_grade_leaves_no_worker_and_no_grading_run(moto_server, tmp_path, signum):
    roster, env = _class(tmp_path, {"hang": "hang"}, ["hang", "other"])
    environ = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST", "AWS_PROFILE")}
    environ.update(env, AWS_CONFIG_FILE=os.devnull)
    grade = subprocess.Popen(
        [sys.executable, "-m", "dblab", "grade", "--roster", str(roster), "--reports", str(tmp_path / "reports"),
         "--endpoint-url", moto_server.endpoint_url, "--jobs", "2", *PLUGIN],
        cwd=REPO_ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Both runs have started: "hang" hangs (SIGTERM ignored); "other" may be graded already.
        wait_until(lambda: all((tmp_path / "seen" / f"{s}.json").exists() for s in ("hang", "other")) or
                   grade.poll() is not None, timeout=120, what="both grading runs started")
        assert grade.poll() is None, grade.communicate()
        grade.send_signal(signum)
        out, err = grade.communicate(timeout=60)
    finally:
        if grade.poll() is None:
            grade.kill()
            grade.communicate()
    if signum == signal.SIGINT:
        assert grade.returncode == 130 and "dblab: interrupted" in err, out + err
    assert not (tmp_path / "reports" / "grades" / "hang.json").exists()  # graded again next time
    pids = {record[key] for s in ("hang", "other") for record in [_seen(tmp_path, s)] for key in ("pid", "worker")}
    _wait_gone(pids)

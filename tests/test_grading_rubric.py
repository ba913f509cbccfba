"""The rubric: the shipped one is complete, and a bad one is refused in one line."""

import os
import subprocess
import sys

import pytest

from grading.rubric import RUBRIC_FILE, RubricError, load_rubric

from .conftest import REPO_ROOT

GOOD = """
version = "t1"
[steps."1.1"]
points = 60
[steps."1.1".checks]
test_vpc = "create the VPC"
[steps."4.1"]
points = 40
[steps."4.1".checks]
test_table = { hint = "create the table", weight = 2 }
"""


def write(tmp_path, text):
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    return path


def test_the_shipped_rubric_gives_100_points_and_a_hint_for_every_check():
    rubric = load_rubric()
    assert sum(step.points for step in rubric.steps.values()) == 100
    assert rubric.version
    assert all(check.hint for step in rubric.steps.values() for check in step.checks.values())
    assert list(rubric.steps)[:2] == ["1.1", "1.2"]


def test_an_instructor_rubric_with_weights_loads(tmp_path):
    rubric = load_rubric(write(tmp_path, GOOD))
    assert rubric.version == "t1"
    assert rubric.check("4.1", "test_table").weight == 2
    assert rubric.check("1.1", "test_vpc").hint == "create the VPC"


@pytest.mark.parametrize("change, problem", [
    (lambda t: t.replace("points = 40", "points = 38"), "step points add up to 98, not 100"),
    (lambda t: t.replace('"4.1"', '"9.9"'), "step 9.9 is not a lab step"),
    (lambda t: t.replace('"create the VPC"', '""'), "step 1.1: check test_vpc has no hint"),
    (lambda t: t.replace('version = "t1"', ""), "needs a version"),
    (lambda t: t.replace("weight = 2", "weight = -1"), "weight must be a number >= 0"),
    (lambda t: t.replace("weight = 2", "wieght = 2"), "unknown key(s) wieght"),
    (lambda t: t.replace("test_table", "test_vpc"), "check test_vpc is listed under steps 1.1 and 4.1"),
    (lambda t: t.replace("points = 60", "points = 60\n[[oops"), "not valid TOML"),
    (lambda t: t.replace("weight = 2", "requires = \"test_vpc\""), "requires test_vpc, which is not a check of step 4.1"),
    (lambda t: t.replace("weight = 2", "note = \" \""), "note must be a non-empty string"),
])
def test_a_bad_rubric_is_refused_in_one_line_naming_the_problem(tmp_path, change, problem):
    path = write(tmp_path, change(GOOD))
    with pytest.raises(RubricError) as error:
        load_rubric(path)
    message = str(error.value)
    assert problem in message and str(path) in message and "\n" not in message


def test_an_instructor_can_read_each_grading_decision_beside_its_check(tmp_path):
    rubric = load_rubric(write(tmp_path, GOOD.replace("weight = 2", 'weight = 2, note = "keys are the lab\'s"')))
    assert rubric.check("4.1", "test_table").note == "keys are the lab's"
    assert rubric.check("1.1", "test_vpc").note is None


def test_the_fairness_policy_lists_every_decision_of_the_shipped_rubric():
    """docs/grading.md's table names exactly the checks whose rubric entry has a note, each under its step."""
    import re

    rubric = load_rubric()
    noted = {(step.id, check.id) for step in rubric.steps.values() for check in step.checks.values() if check.note}
    policy = (REPO_ROOT / "docs" / "grading.md").read_text()
    listed = set(re.findall(r"^\| (\d\.\d) \| `(test_\w+)` \|", policy, re.MULTILINE))
    assert noted and listed == noted, {"noted in the rubric only": noted - listed, "in the policy only": listed - noted}


def test_a_missing_rubric_file_names_the_option(tmp_path):
    with pytest.raises(RubricError, match="no such file.*--lab-rubric"):
        load_rubric(tmp_path / "nope.toml")


@pytest.mark.parametrize("collected, problem", [
    ({"test_vpc": "1.1"}, "step 4.1: check test_table is not among the collected checks"),
    ({"test_vpc": "1.1", "test_table": "4.2"}, "check test_table is listed under step 4.1 but is marked step 4.2"),
    ({"test_vpc": "1.1", "test_table": "4.1", "test_subnet": "1.1"}, "step 1.1: check test_subnet has no entry"),
])
def test_the_rubric_must_match_the_collected_checks(tmp_path, collected, problem):
    rubric = load_rubric(write(tmp_path, GOOD))
    with pytest.raises(RubricError, match=problem):
        rubric.validate_checks(collected)
    rubric.validate_checks({"test_vpc": "1.1", "test_table": "4.1", "test_cleanup": "7.5"})  # 7.5: not graded


def grade_collect(tmp_path, *args):
    environ = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", "aws",
         "--lab-grade", "--junitxml", str(tmp_path / "junit.xml"), *args],
        cwd=REPO_ROOT, env={**environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True, timeout=120)


def test_the_shipped_rubric_covers_every_check_of_the_suite(tmp_path):
    result = grade_collect(tmp_path, "--lab-student", "rubric-check")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


@pytest.mark.parametrize("args, message", [
    # "--lab-rubric=PATH", one token: a separate existing path would be taken for a test path by
    # pytest before conftest.py declares the option, and would move the rootdir.
    (["--lab-student", "alice", "--lab-rubric=RUBRIC"], "step points add up to 98, not 100"),
    ([], "--lab-grade needs --lab-student NAME"),
    (["--lab-student", "../alice"], "--lab-student '../alice': use letters, digits"),
])
def test_bad_grading_input_is_a_usage_error_in_one_line(tmp_path, args, message):
    rubric = write(tmp_path, GOOD.replace("points = 40", "points = 38"))
    result = grade_collect(tmp_path, *[a.replace("RUBRIC", str(rubric)) for a in args])
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if message in line]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_the_shipped_rubric_file_is_packaged_next_to_the_code():
    assert RUBRIC_FILE.parent.name == "grading" and RUBRIC_FILE.is_file()

"""A failing check blocks the checks of the steps that need it, and nothing else."""

from provisioning.catalogue import load_steps

SUBNET_GROUP_STEP = load_steps()["1.3"].title

PLUGINS = ["-p", "fixtures.plugin", "-p", "fixtures.steps", "-p", "fixtures.environment", "-p", "no:cacheprovider"]

CHECKS = """
import pytest

@pytest.mark.step("1.3")
def test_subnet_group():
    assert False, "subnet group in one AZ"

@pytest.mark.step("1.4")
def test_instance():
    pass

@pytest.mark.step("2.2")
def test_replica():
    pass

@pytest.mark.step("4.1")
def test_table():
    pass
"""


def test_dependents_of_a_failed_step_are_reported_blocked(lab_pytester):
    lab_pytester.makepyfile(test_checks=CHECKS)
    result = lab_pytester.runpytest_subprocess(*PLUGINS, "-rs")
    result.assert_outcomes(failed=1, passed=1, skipped=2)
    result.stdout.fnmatch_lines([
        f"*test_checks.py::test_instance: blocked: step 1.3 ({SUBNET_GROUP_STEP}) failed in test_checks.py::test_subnet_group",
        f"*test_checks.py::test_replica: blocked: step 1.3 ({SUBNET_GROUP_STEP}) failed in test_checks.py::test_subnet_group",
    ])


def test_an_unknown_step_id_is_a_usage_error(lab_pytester):
    lab_pytester.makepyfile(test_checks="import pytest\n@pytest.mark.step('9.9')\ndef test_x():\n    pass\n")
    result = lab_pytester.runpytest_subprocess(*PLUGINS)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*unknown lab step '9.9'*"])


PARTLY_WRONG = """
import pytest

@pytest.mark.step("1.2")
def test_ssh_rule():
    assert False, "SSH open to 0.0.0.0/0"

@pytest.mark.step("1.2")
def test_mysql_rule():
    pass

@pytest.mark.step("1.4")
def test_instance():
    pass
"""


def test_a_step_with_one_wrong_setting_does_not_block_its_dependents(lab_pytester):
    lab_pytester.makepyfile(test_checks=PARTLY_WRONG)
    result = lab_pytester.runpytest_subprocess(*PLUGINS)
    result.assert_outcomes(failed=1, passed=2)


# --- grading: a pass the rubric's `requires` cancels does not make its step present ---------------

REQUIRES_CHECKS = """
import pytest

@pytest.mark.step("1.3")
def test_group_has_only_private_subnets():
    pass  # runs first, and passes with nothing to look at

@pytest.mark.step("1.3")
def test_group_exists():
    assert EXISTS, "DB subnet group database-lab-subnet-group: not found"

@pytest.mark.step("1.4")
def test_instance():
    pass
"""

REQUIRES_RUBRIC = """
version = "requires"
[steps."1.3"]
points = 50
[steps."1.3".checks]
test_group_exists = "create the subnet group"
test_group_has_only_private_subnets = { requires = "test_group_exists", hint = "only the private subnets" }
[steps."1.4"]
points = 50
checks = { test_instance = "create the instance" }
"""


def _grade_requires(lab_pytester, monkeypatch, moto_server, *, exists: bool) -> dict:
    import json

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)  # grading reads an account: the emulator's
    monkeypatch.delenv("LOCALSTACK_HOST", raising=False)
    lab_pytester.makepyfile(test_checks=REQUIRES_CHECKS.replace("EXISTS", str(exists)))
    rubric = lab_pytester.makefile(".toml", rubric=REQUIRES_RUBRIC)
    reports = lab_pytester.path / "reports"
    result = lab_pytester.runpytest_subprocess(*PLUGINS, "-p", "grading.plugin", "--lab-grade", "--lab-student=gus",
                                               f"--lab-rubric={rubric}", f"--lab-reports-dir={reports}", "-rs")
    grade = json.loads((reports / "grades" / "gus.json").read_text())
    return result, {step["step"]: step for step in grade["steps"]}


def test_a_pass_that_requires_a_failed_check_does_not_keep_its_dependents_from_being_blocked(
        lab_pytester, monkeypatch, moto_server):
    result, steps = _grade_requires(lab_pytester, monkeypatch, moto_server, exists=False)
    assert (steps["1.3"]["status"], steps["1.3"]["points"]) == ("fail", 0)
    assert steps["1.4"]["status"] == "blocked" and steps["1.4"]["blocked_by"] == ["1.3"], steps["1.4"]
    result.stdout.fnmatch_lines(["*test_instance: blocked: step 1.3 *"])


def test_a_pass_whose_required_check_passed_counts(lab_pytester, monkeypatch, moto_server):
    _, steps = _grade_requires(lab_pytester, monkeypatch, moto_server, exists=True)
    assert [steps[s]["status"] for s in ("1.3", "1.4")] == ["pass", "pass"]

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

"""README's "Adding a lab step", followed for real: a catalogue with a new step, its module and
its checks is provisioned, checked, blocked, torn down and reported from the catalogue alone.

The new lab (8) keeps a parameter in the emulated SSM: step 8.1 writes it, step 8.2 (which needs
8.1) writes a second one, cleanup step 8.9 deletes both. Its cleanup check lives in a module whose
name sorts first, so only the catalogue's phase can make it run last.
"""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

import pytest

from .conftest import REPO_ROOT

PLUGINS = ["-p", "fixtures.plugin", "-p", "fixtures.steps", "-p", "fixtures.environment", "-p", "no:cacheprovider"]

CATALOGUE = """
[labs]
"8" = "Extra lab"

[steps."8.1"]
title = "Create the extra parameter"
requires = []
phase = "provision"
run = ["lab8pkg.steps:create_parameter"]
suite = "test_lab8_extra"

[steps."8.2"]
title = "Create the dependent parameter"
requires = ["8.1"]
phase = "provision"
run = ["lab8pkg.steps:create_dependent"]
suite = "test_lab8_extra"

[steps."8.9"]
title = "Delete the extra parameters"
requires = []
phase = "cleanup"
run = ["lab8pkg.steps:delete_parameters"]
undoes = ["8.1", "8.2"]
suite = "test_a_cleanup"
"""

STEPS_MODULE = """
import os

NAMES = ("/database-lab/extra", "/database-lab/extra-dependent")


def _put(ctx, name, value):
    ctx.clients("ssm").put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


def create_parameter(ctx):
    # LAB8_FAULT seeds the fault the 8.1 check must see.
    _put(ctx, NAMES[0], "wrong" if os.environ.get("LAB8_FAULT") else "extra")


def create_dependent(ctx):
    _put(ctx, NAMES[1], "dependent")


def delete_parameters(ctx):
    ctx.clients("ssm").delete_parameters(Names=list(NAMES))
"""

CHECKS = """
import pytest


def value(lab, name):
    found = lab.client("ssm").get_parameters(Names=[name])["Parameters"]
    return found[0]["Value"] if found else None


@pytest.mark.step("8.1")
def test_extra_parameter_holds_extra(lab):
    assert value(lab, "/database-lab/extra") == "extra", "parameter /database-lab/extra: wrong value"


@pytest.mark.step("8.2")
def test_dependent_parameter_exists(lab):
    assert value(lab, "/database-lab/extra-dependent") == "dependent"
"""

CLEANUP_CHECKS = """
import pytest

pytestmark = pytest.mark.step("8.9")


def test_extra_parameters_are_gone(lab, lab_environment):
    results = lab_environment.teardown()
    assert [r.step for r in results] == ["8.9"] and all(r.ok for r in results), results
    found = lab.client("ssm").get_parameters(Names=["/database-lab/extra", "/database-lab/extra-dependent"])
    assert found["Parameters"] == []
"""


@pytest.fixture
def new_step(lab_pytester, monkeypatch):
    """A checkout with lab 8 added beside the catalogue, as README's section says."""
    folder = lab_pytester.path
    (folder / "lab8pkg").mkdir()
    (folder / "lab8pkg" / "__init__.py").write_text("")
    (folder / "lab8pkg" / "steps.py").write_text(textwrap.dedent(STEPS_MODULE))
    (folder / "catalogue.toml").write_text(CATALOGUE)
    (folder / "test_lab8_extra.py").write_text(textwrap.dedent(CHECKS))
    (folder / "test_a_cleanup.py").write_text(textwrap.dedent(CLEANUP_CHECKS))
    monkeypatch.setenv("PYTHONPATH", f"{REPO_ROOT}:{folder}")
    monkeypatch.setenv("LAB_CATALOGUE", str(folder / "catalogue.toml"))
    return lab_pytester


def _run(pytester, *args):
    return pytester.runpytest_subprocess(*PLUGINS, "-rs", f"--junitxml={pytester.path / 'junit.xml'}",
                                         "test_a_cleanup.py", "test_lab8_extra.py", *args)


def _cases(pytester) -> list[tuple[str, dict]]:
    root = ET.parse(pytester.path / "junit.xml").getroot()
    return [(case.get("name"), {p.get("name"): p.get("value") for p in case.iter("property")})
            for case in root.iter("testcase")]


def test_a_new_step_is_provisioned_checked_and_torn_down_from_the_catalogue(new_step):
    result = _run(new_step)
    result.assert_outcomes(passed=3)
    # Cleanup runs last because the catalogue says so, although its module sorts first.
    assert _cases(new_step) == [("test_extra_parameter_holds_extra", {"step": "8.1"}),
                                ("test_dependent_parameter_exists", {"step": "8.2"}),
                                ("test_extra_parameters_are_gone", {"step": "8.9"})]


def test_a_failed_new_step_blocks_its_dependent_and_cleanup_still_runs(new_step, monkeypatch):
    monkeypatch.setenv("LAB8_FAULT", "1")
    result = _run(new_step)
    result.assert_outcomes(failed=1, skipped=1, passed=1)
    result.stdout.fnmatch_lines([
        "*test_dependent_parameter_exists: blocked: step 8.1 (Create the extra parameter) failed in "
        "test_lab8_extra.py::test_extra_parameter_holds_extra",
    ])


def test_a_step_whose_function_is_missing_is_one_usage_error(new_step):
    catalogue = new_step.path / "catalogue.toml"
    catalogue.write_text(catalogue.read_text().replace("lab8pkg.steps:create_dependent", "lab8pkg.steps:create_nothing"))
    result = _run(new_step)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*step 8.2 (Create the dependent parameter): lab8pkg.steps has no function 'create_nothing'*"])
    assert "Traceback" not in result.stderr.str()


def test_a_step_without_a_check_is_one_usage_error(new_step):
    checks = new_step.path / "test_lab8_extra.py"
    checks.write_text(checks.read_text().replace('@pytest.mark.step("8.2")', '@pytest.mark.step("8.1")'))
    result = _run(new_step)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*step 8.2 (Create the dependent parameter): no check in test_lab8_extra.py is marked*"])

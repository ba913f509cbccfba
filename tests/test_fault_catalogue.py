"""Every check fails for the right reason: the seeded-fault catalogue (tests/faults) run once
against a provisioned local lab.

Each fault must fail every check it targets and no check outside them (checks of steps that
depend on the targets' steps may fail as a consequence); every check of the suites must be
killed by some fault; the reference environment must pass, and be the reference again after
the last fault. A check changed to always pass makes its faults survive here.

The runner is a subprocess: moto's backends are global to a process (and the self-tests have
a moto of their own). It takes about 2.5 minutes on two cores; `make faults` prints its table.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from provisioning.catalogue import load_steps
from tests.faults.catalogue import CLEANUP_FAULTS, FAULTS
from tests.faults.runner import Report
from tests.faults.table import render
from tests.faults.verdicts import collateral, false_failures, killed_checks, survivors

from .conftest import REPO_ROOT

ALL_FAULTS = FAULTS + CLEANUP_FAULTS


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Report:
    results = tmp_path_factory.mktemp("faults") / "faults.json"
    run = subprocess.run([sys.executable, "-m", "tests.faults.runner", "--json", str(results)], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=900)
    if not results.exists():
        pytest.fail(f"the fault runner stopped (exit {run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}")
    return Report.from_json(json.loads(results.read_text()))


def the_run(report: Report, fault_id: str):
    runs = [run for run in report.faults if run.id == fault_id]
    assert len(runs) == 1, f"fault {fault_id} ran {len(runs)} times"
    run = runs[0]
    assert not run.error, f"fault {fault_id}: {run.error}"
    return run


# --- the catalogue itself (no environment needed) -----------------------------------------------

def test_fault_ids_are_unique_and_name_a_lab_step():
    ids = [fault.id for fault in ALL_FAULTS]
    assert len(ids) == len(set(ids))
    steps = load_steps()
    assert not [fault.id for fault in ALL_FAULTS if fault.step not in steps or not fault.id.startswith(fault.step + "-")]


# --- the run ------------------------------------------------------------------------------------

def test_reference_environment_passes_every_check(report):
    for view, outcomes in report.reference.items():
        assert outcomes, f"no check ran on the reference environment ({view})"
        assert false_failures(outcomes, emulator_limited_ok="aws" not in view) == {}, view


def test_environment_is_the_reference_again_after_every_fault(report):
    reference, final = report.reference["emulator"], report.final["emulator"]
    assert {n: o["status"] for n, o in final.items()} == {n: o["status"] for n, o in reference.items()}


def test_every_target_is_a_check_of_the_suites(report):
    assert not [(fault.id, t) for fault in ALL_FAULTS for t in fault.targets if t not in report.checks]


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=lambda fault: fault.id)
def test_fault_fails_every_check_it_targets(report, fault):
    run = the_run(report, fault.id)
    assert survivors(run) == [], {t: run.outcomes.get(t) for t in survivors(run)}
    assert not run.not_restored, f"still failing after the fault was reverted: {run.not_restored}"


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=lambda fault: fault.id)
def test_fault_breaks_no_unrelated_check(report, fault):
    run = the_run(report, fault.id)
    assert collateral(run, report.checks) == [], {c: run.outcomes[c]["message"] for c in collateral(run, report.checks)}


def test_every_check_is_killed_by_some_fault(report):
    killed = killed_checks(report.faults, report.checks)
    assert [name for name in report.checks if name not in killed] == []


def test_checks_fail_on_an_assertion_not_a_crash(report):
    # A check that dies of an unexpected exception under a fault did not see the fault.
    crashes = [(run.id, target, run.outcomes[target]["message"]) for run in report.faults for target in run.targets
               if target in run.outcomes and not run.outcomes[target]["message"].startswith(("AssertionError", "Failed"))]
    assert crashes == []


def test_no_check_message_shows_a_password(report):
    assert report.secrets_shown == []


def test_the_table_lists_every_check_and_no_gap(report):
    text, gaps = render(report, catalogue_ids=[fault.id for fault in ALL_FAULTS])
    assert gaps == []
    assert all(name in text for name in report.checks)

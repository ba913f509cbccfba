"""Every check fails for the right reason: the seeded-fault catalogue (tests/faults) run once
against a provisioned local lab.

Each fault must fail every check it targets, by the check's own assertion with a message that
names what the fault breaks (anything else is a crash), and no check outside them (only the
checks of a step the fault makes missing may fail with it); every check of the suites must be
killed by some fault; the reference environment must pass, and be the reference again after
the last fault. A check changed to always pass makes its faults survive here; the probes
(tests/faults/probes.py), wrong on purpose, must be reported collateral and crashed.

The runner is a subprocess: moto's backends are global to a process (and the self-tests have
a moto of their own). It takes about 7 minutes of one core, more than make test's budget allows
next to everything else: `make fault-table` runs it (marker fault_table; .ci/run runs it after
make test), and `make faults` prints the table.
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
from tests.faults.probes import PROBES
from tests.faults.verdicts import (
    check_name, collateral, crash_reason, crashes, false_failures, killed_checks, resolve, survivors, verdict,
)

from .conftest import REPO_ROOT

ALL_FAULTS = FAULTS + CLEANUP_FAULTS

pytestmark = pytest.mark.fault_table


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


def test_every_target_names_one_check_of_the_suites(report):
    assert [(fault.id, unknown) for fault in ALL_FAULTS
            if (unknown := resolve(fault.targets, list(report.checks))[1])] == []


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=lambda fault: fault.id)
def test_fault_fails_every_check_it_targets(report, fault):
    run = the_run(report, fault.id)
    assert survivors(run) == [], {check_name(t): run.outcomes.get(t) for t in survivors(run)}
    assert not run.not_restored, f"still failing after the fault was reverted: {run.not_restored}"


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=lambda fault: fault.id)
def test_fault_fails_its_targets_by_assertion_naming_what_it_breaks(report, fault):
    # A check that dies of an unexpected exception, in a fixture, or of another wrong thing
    # under a fault did not see the fault.
    run = the_run(report, fault.id)
    assert {check_name(t): crash_reason(run, t) for t in crashes(run)} == {}


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=lambda fault: fault.id)
def test_fault_breaks_no_unrelated_check(report, fault):
    run = the_run(report, fault.id)
    found = collateral(run, report.checks)
    assert found == [], {check_name(c): run.outcomes[c]["message"] for c in found}


@pytest.mark.parametrize("probe", list(PROBES), ids=lambda probe: probe.id)
def test_a_probe_wrong_on_purpose_gets_its_own_verdict_not_killed(report, probe):
    runs = [run for run in report.probes if run.id == probe.id]
    assert len(runs) == 1, f"probe {probe.id} ran {len(runs)} times"
    assert verdict(runs[0], report.checks) == PROBES[probe]


def test_every_check_is_killed_by_some_fault(report):
    killed = killed_checks(report.faults, report.checks)
    assert [name for name in report.checks if name not in killed] == []


def test_no_check_message_shows_a_password(report):
    assert report.secrets_shown == []


def test_the_table_lists_every_check_and_no_gap(report):
    text, gaps = render(report, catalogue_ids=[fault.id for fault in ALL_FAULTS])
    assert gaps == []
    assert all(check_name(name) in text for name in report.checks)

"""The fault runner's verdicts, on recorded outcomes (no environment)."""

from __future__ import annotations

from tests.faults.table import gaps
from tests.faults.verdicts import COLLATERAL, ERROR, KILLED, SURVIVED, FaultRun, dependent_steps, verdict

STEPS = {"vpc": "1.1", "sg": "1.2", "primary": "1.4", "widgets": "2.3", "table": "4.1", "orders": "4.2"}
FAILED = {"status": "failed", "message": "AssertionError: x"}
PASSED = {"status": "passed", "message": ""}


def run(targets, **outcomes) -> FaultRun:
    return FaultRun(id="f", step="1.1", title="t", view="emulator", targets=list(targets), outcomes=outcomes)


def test_a_fault_that_fails_its_targets_only_is_killed():
    assert verdict(run(["vpc"], vpc=FAILED, sg=PASSED), STEPS) == KILLED


def test_a_target_that_passes_or_is_skipped_survives():
    assert verdict(run(["vpc"], vpc=PASSED), STEPS) == SURVIVED
    assert verdict(run(["vpc"], vpc={"status": "skipped", "message": "blocked: step 1.1"}), STEPS) == SURVIVED
    assert verdict(run(["vpc"]), STEPS) == SURVIVED  # never ran


def test_failures_in_dependent_steps_are_consequences_not_collateral():
    assert "1.4" in dependent_steps({"1.1"}) and "4.2" not in dependent_steps({"1.1"})
    assert verdict(run(["vpc"], vpc=FAILED, primary=FAILED, widgets=FAILED), STEPS) == KILLED


def test_a_failure_in_the_targets_own_step_or_an_unrelated_one_is_collateral():
    assert verdict(run(["table"], table=FAILED, orders=FAILED, vpc=FAILED), STEPS) == COLLATERAL
    steps = {**STEPS, "other 4.1 check": "4.1"}
    assert verdict(run(["table"], table=FAILED, **{"other 4.1 check": FAILED}), steps) == COLLATERAL


def test_a_fault_that_could_not_be_applied_or_reverted_is_an_error():
    broken = run(["vpc"], vpc=FAILED)
    broken.error = "applying: ClientError"
    assert verdict(broken, STEPS) == ERROR
    unreverted = run(["vpc"], vpc=FAILED)
    unreverted.not_restored = {"vpc": FAILED}
    assert verdict(unreverted, STEPS) == ERROR


def test_gaps_name_checks_no_fault_kills_and_false_failures_on_the_reference():
    class Report:
        checks = {"vpc": "1.1", "sg": "1.2"}
        reference = {"emulator": {"vpc": PASSED, "sg": {"status": "skipped", "message": "emulator-limited: x"}},
                     "aws": {"sg": {"status": "skipped", "message": "emulator-limited: x"}}}
        final = {"emulator": {"vpc": PASSED, "sg": FAILED}}
        faults = [run(["vpc"], vpc=FAILED)]
        secrets_shown: list = []

    found = gaps(Report(), catalogue_ids=["f"])
    assert "check sg (1.2) is killed by no fault" in found
    assert any(g.startswith("reference environment (aws): sg") for g in found)  # a skip is no pass on the AWS view
    assert not any("(emulator): sg" in g for g in found)  # emulator-limited is fine where the emulator answers
    assert any("no longer match the reference: ['sg']" in g for g in found)

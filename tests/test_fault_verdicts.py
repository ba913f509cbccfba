"""The fault runner's verdicts, on recorded outcomes (no environment)."""

from __future__ import annotations

from tests.faults.table import gaps
from tests.faults.verdicts import (
    COLLATERAL, CRASHED, ERROR, KILLED, SURVIVED, FaultRun, missing_steps, resolve, verdict,
)

STEPS = {"vpc": "1.1", "dns": "1.1", "sg": "1.2", "primary": "1.4", "widgets": "2.3", "table": "4.1", "orders": "4.2"}
FAILED = {"status": "failed", "message": "AssertionError: VPC database-lab-vpc: CIDR is 10.1.0.0/16"}
PASSED = {"status": "passed", "message": ""}
BLOCKED = {"status": "skipped", "message": "blocked: step 1.1 (Create VPC) failed in this run"}


def run(targets, breaks=("10.1.0.0/16",), baseline=None, missing=(), **outcomes) -> FaultRun:
    return FaultRun(id="f", step="1.1", title="t", view="emulator", targets=list(targets), breaks=list(breaks),
                    outcomes=outcomes, baseline=baseline or {name: "passed" for name in outcomes},
                    missing_steps=list(missing))


def test_a_fault_that_fails_its_targets_by_assertion_naming_it_is_killed():
    assert verdict(run(["vpc"], vpc=FAILED, sg=PASSED), STEPS) == KILLED


def test_a_target_that_passes_or_is_skipped_survives():
    assert verdict(run(["vpc"], vpc=PASSED), STEPS) == SURVIVED
    assert verdict(run(["vpc"], vpc=BLOCKED), STEPS) == SURVIVED
    assert verdict(run(["vpc"]), STEPS) == SURVIVED  # never ran


def test_a_target_that_raises_errors_in_a_fixture_or_fails_for_another_reason_crashed():
    raised = {"status": "crashed", "message": "KeyError: 'CidrBlock'"}
    assert verdict(run(["vpc"], vpc=raised), STEPS) == CRASHED
    teardown = {"status": "crashed", "message": "OperationalError: (2013, 'Lost connection')"}
    assert verdict(run(["vpc"], vpc=teardown), STEPS) == CRASHED
    # An assertion that does not name what the fault breaks saw something else.
    elsewhere = {"status": "failed", "message": "AssertionError: VPC database-lab-vpc: EnableDnsHostnames is off"}
    assert verdict(run(["vpc"], vpc=elsewhere), STEPS) == CRASHED


def test_a_failure_in_a_dependent_step_is_collateral_when_the_target_step_is_only_partly_wrong():
    # 1.1 still has a passing check: a partly wrong step blocks nothing, so 1.4 failing is damage.
    assert verdict(run(["vpc"], vpc=FAILED, dns=PASSED, primary=FAILED), STEPS) == COLLATERAL


def test_checks_of_a_step_the_fault_makes_missing_are_excused_and_its_dependents_are_blocked():
    outcomes = {"vpc": FAILED, "dns": {"status": "failed", "message": "AssertionError: no VPC"}, "primary": BLOCKED}
    assert missing_steps(STEPS, outcomes, {n: PASSED for n in outcomes}) == ["1.1", "1.4"]  # 1.4: blocked
    assert verdict(run(["vpc"], missing=["1.1"], **outcomes), STEPS) == KILLED


def test_a_check_that_stops_passing_without_being_blocked_is_collateral():
    limited = {"status": "skipped", "message": "emulator-limited: moto cannot show this"}
    assert verdict(run(["vpc"], vpc=FAILED, sg=limited), STEPS) == COLLATERAL
    # ...but not a check that was skipped on the reference too.
    assert verdict(run(["vpc"], baseline={"vpc": "passed", "sg": "skipped"}, vpc=FAILED, sg=limited), STEPS) == KILLED


def test_a_failure_in_the_targets_own_step_or_an_unrelated_one_is_collateral():
    assert verdict(run(["table"], breaks=["x"], table={"status": "failed", "message": "Failed: x"},
                       orders=FAILED, vpc=FAILED), STEPS) == COLLATERAL


def test_a_fault_that_could_not_be_applied_or_reverted_is_an_error():
    broken = run(["vpc"], vpc=FAILED)
    broken.error = "applying: ClientError"
    assert verdict(broken, STEPS) == ERROR
    unreverted = run(["vpc"], vpc=FAILED)
    unreverted.not_restored = {"vpc": FAILED}
    assert verdict(unreverted, STEPS) == ERROR


def test_targets_resolve_to_one_node_id_each():
    nodeids = ["suites/a.py::test_x", "suites/b.py::test_x", "suites/a.py::test_y[p]"]
    assert resolve(["test_y[p]", "suites/b.py::test_x"], nodeids) == (["suites/a.py::test_y[p]", "suites/b.py::test_x"], [])
    assert resolve(["test_x", "test_z"], nodeids) == ([], ["test_x", "test_z"])  # ambiguous, unknown


def test_gaps_name_checks_no_fault_kills_crashes_and_false_failures_on_the_reference():
    class Report:
        checks = {"vpc": "1.1", "sg": "1.2"}
        reference = {"emulator": {"vpc": PASSED, "sg": {"status": "skipped", "message": "emulator-limited: x"}},
                     "aws": {"sg": {"status": "skipped", "message": "emulator-limited: x"}}}
        final = {"emulator": {"vpc": PASSED, "sg": FAILED}}
        faults = [run(["vpc"], vpc={"status": "crashed", "message": "TypeError: x"})]
        probes: list = []
        probe_verdicts: dict = {}
        secrets_shown: list = []

    found = gaps(Report(), catalogue_ids=["f"])
    assert "check vpc (1.1) is killed by no fault" in found  # a crash is no kill
    assert "fault f: crashed: vpc: TypeError: x" in found
    assert "check sg (1.2) is killed by no fault" in found
    assert any(g.startswith("reference environment (aws): sg") for g in found)  # a skip is no pass on the AWS view
    assert not any("(emulator): sg" in g for g in found)  # emulator-limited is fine where the emulator answers
    assert any("no longer match the reference: ['sg']" in g for g in found)


def test_a_probe_with_another_verdict_than_it_must_get_is_a_gap():
    class Report:
        checks = {"vpc": "1.1", "sg": "1.2"}
        reference, final, faults, secrets_shown = {}, {}, [], []
        probes = [run(["vpc"], vpc=FAILED, sg=FAILED)]
        probe_verdicts = {"f": CRASHED}

    assert gaps(Report()) == ["probe f must be reported crashed, was collateral: also broke: ['sg']"]

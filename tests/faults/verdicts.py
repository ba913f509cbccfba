"""Verdicts from recorded outcomes (pure functions: no environment, no pytest run).

Outcomes are keyed by node id (suites/test_lab1_network.py::test_vpc_has_the_lab_cidr); a fault
declares its targets by test name, resolved to node ids once (`resolve`).

killed      every target failed by its own assertion, with a message naming what the fault breaks
survived    a target passed (or was skipped, or never ran): the check cannot see this fault
crashed     a target raised something other than its assertion, errored in setup or teardown, or
            failed without naming what the fault breaks: it did not see the fault
collateral  a check outside the targets failed, crashed, or stopped passing, other than the checks
            of a step the fault really makes missing (no check of it passes) or checks blocked
            by such a step
error       the fault could not be applied or reverted, the checks left their own data
            behind under it, or the run itself broke
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioning.outcomes import BLOCKED, EMULATOR_LIMITED, classify_skip

KILLED, SURVIVED, CRASHED, COLLATERAL, ERROR = "killed", "survived", "crashed", "collateral", "error"
PASSED, FAILED, CRASHED_STATUS, SKIPPED = "passed", "failed", "crashed", "skipped"
BROKEN = (FAILED, CRASHED_STATUS)


@dataclass
class FaultRun:
    """What one fault did to the checks (outcomes as {node id: {"status", "message"}})."""

    id: str
    step: str
    title: str
    view: str
    targets: list[str]  # node ids
    breaks: list[str] = field(default_factory=list)  # what a target's message must name (any one)
    outcomes: dict[str, dict] = field(default_factory=dict)
    baseline: dict[str, str] = field(default_factory=dict)  # node id -> status on the reference, for the re-run
    missing_steps: list[str] = field(default_factory=list)  # steps none of whose checks passed under the fault
    touched: list[str] = field(default_factory=list)
    rerun: int = 0  # how many checks ran under the fault
    seconds: float = 0.0
    error: str | None = None  # applying, running or reverting failed
    not_restored: dict[str, dict] = field(default_factory=dict)  # targets still broken after the revert
    left_behind: list[str] = field(default_factory=list)  # data the writes_data checks did not remove


def resolve(targets, nodeids) -> tuple[list[str], list[str]]:
    """Targets (test names, or node ids) as node ids; and the targets that name no single check."""
    found, unknown = [], []
    for target in targets:
        matches = [n for n in nodeids if n == target or n.endswith("::" + target)]
        (found if len(matches) == 1 else unknown).append(matches[0] if len(matches) == 1 else target)
    return found, unknown


def check_name(nodeid: str) -> str:
    return nodeid.split("::")[-1]


def broken(outcome: dict | None) -> bool:
    return outcome is not None and outcome["status"] in BROKEN


def names_the_fault(message: str, breaks) -> bool:
    text = message.lower()
    return any(word.lower() in text for word in breaks)


def target_result(run: FaultRun, target: str) -> str:
    outcome = run.outcomes.get(target)
    if outcome is None or outcome["status"] in (PASSED, SKIPPED):
        return SURVIVED
    if outcome["status"] == FAILED and names_the_fault(outcome["message"], run.breaks):
        return KILLED
    return CRASHED


def survivors(run: FaultRun) -> list[str]:
    return [t for t in run.targets if target_result(run, t) == SURVIVED]


def crashes(run: FaultRun) -> list[str]:
    return [t for t in run.targets if target_result(run, t) == CRASHED]


def crash_reason(run: FaultRun, target: str) -> str:
    outcome = run.outcomes[target]
    if outcome["status"] == FAILED:
        return f"failed without naming {' or '.join(run.breaks)}: {outcome['message']}"
    return outcome["message"]


def missing_steps(step_of: dict[str, str], outcomes: dict[str, dict], baseline: dict[str, dict]) -> list[str]:
    """Steps that had a passing check on the reference and have none under the fault (a check not
    re-run keeps its reference outcome): the steps the fault really makes missing."""
    def status(name: str) -> str:
        return (outcomes.get(name) or baseline.get(name) or {}).get("status", "")

    steps = {step_of[name] for name in baseline if name in step_of and baseline[name]["status"] == PASSED}
    return sorted(step for step in steps
                  if not any(status(name) == PASSED for name, of in step_of.items() if of == step))


def collateral(run: FaultRun, step_of: dict[str, str]) -> list[str]:
    """Checks outside the targets that the fault broke. A partly wrong step blocks nothing, so a
    check of a dependent step that fails is collateral too; only a step the fault makes missing
    excuses its own checks (and the ledger skips the steps that need it: blocked, not failed)."""
    excused = set(run.missing_steps)
    found = []
    for name, outcome in run.outcomes.items():
        if name in run.targets or step_of.get(name) in excused:
            continue
        was = run.baseline.get(name, PASSED)
        if broken(outcome) or (outcome["status"] == SKIPPED and was == PASSED
                               and classify_skip(outcome["message"]) != BLOCKED):
            found.append(name)
    return sorted(found)


def verdict(run: FaultRun, step_of: dict[str, str]) -> str:
    if run.error or run.not_restored or run.left_behind:
        return ERROR
    if survivors(run):
        return SURVIVED
    if crashes(run):
        return CRASHED
    if collateral(run, step_of):
        return COLLATERAL
    return KILLED


def unknown_targets(runs: list[FaultRun], step_of: dict[str, str]) -> dict[str, list[str]]:
    return {run.id: missing for run in runs if (missing := [t for t in run.targets if t not in step_of])}


def killed_checks(runs: list[FaultRun], step_of: dict[str, str]) -> dict[str, list[str]]:
    """Check -> the faults that killed it (as a target, by assertion naming the fault, without error)."""
    killed: dict[str, list[str]] = {}
    for run in runs:
        if run.error or run.not_restored or run.left_behind:
            continue
        for target in run.targets:
            if target_result(run, target) == KILLED:
                killed.setdefault(target, []).append(run.id)
    return killed


def false_failures(reference: dict[str, dict], *, emulator_limited_ok: bool = True) -> dict[str, dict]:
    """Checks that did not pass on the reference environment (emulator-limited skips are fine
    where the emulator is what the checks see)."""
    def fine(o: dict) -> bool:
        return o["status"] == PASSED or (emulator_limited_ok and o["status"] == SKIPPED
                                         and classify_skip(o["message"]) == EMULATOR_LIMITED)
    return {name: o for name, o in reference.items() if not fine(o)}

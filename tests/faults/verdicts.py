"""Verdicts from recorded outcomes (pure functions: no environment, no pytest run).

killed      every target check of the fault failed
survived    a target check passed (or was skipped): the check cannot see this fault
collateral  a check outside the targets failed, and outside the steps that depend on the
            targets' steps (those are blocked or fail as a consequence, which is fine)
error       the fault could not be applied or reverted, the checks left their own data
            behind under it, or the run itself broke
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioning.catalogue import load_steps, prerequisites
from provisioning.outcomes import EMULATOR_LIMITED, classify_skip

KILLED, SURVIVED, COLLATERAL, ERROR = "killed", "survived", "collateral", "error"
BROKEN = ("failed", "error")


@dataclass
class FaultRun:
    """What one fault did to the checks (outcomes as {name: {"status", "message"}})."""

    id: str
    step: str
    title: str
    view: str
    targets: list[str]
    outcomes: dict[str, dict] = field(default_factory=dict)
    touched: list[str] = field(default_factory=list)
    rerun: int = 0  # how many checks ran under the fault
    seconds: float = 0.0
    error: str | None = None  # applying, running or reverting failed
    not_restored: dict[str, dict] = field(default_factory=dict)  # targets still broken after the revert
    left_behind: list[str] = field(default_factory=list)  # data the writes_data checks did not remove


def dependent_steps(steps: set[str]) -> set[str]:
    """Steps that need any of `steps`, directly or not."""
    catalogue = load_steps()
    return {step for step in catalogue if set(prerequisites(step, catalogue)) & steps}


def broken(outcome: dict | None) -> bool:
    return outcome is not None and outcome["status"] in BROKEN


def survivors(run: FaultRun) -> list[str]:
    return [t for t in run.targets if not broken(run.outcomes.get(t))]


def collateral(run: FaultRun, step_of: dict[str, str]) -> list[str]:
    # Not the targets' own steps: a fault aimed at one setting must leave its neighbours passing.
    allowed = dependent_steps({step_of.get(t) for t in run.targets})
    return sorted(name for name, outcome in run.outcomes.items()
                  if broken(outcome) and name not in run.targets and step_of.get(name) not in allowed)


def verdict(run: FaultRun, step_of: dict[str, str]) -> str:
    if run.error or run.not_restored or run.left_behind:
        return ERROR
    if survivors(run):
        return SURVIVED
    if collateral(run, step_of):
        return COLLATERAL
    return KILLED


def unknown_targets(runs: list[FaultRun], step_of: dict[str, str]) -> dict[str, list[str]]:
    return {run.id: missing for run in runs if (missing := [t for t in run.targets if t not in step_of])}


def killed_checks(runs: list[FaultRun], step_of: dict[str, str]) -> dict[str, list[str]]:
    """Check -> the faults that killed it (as a target of a fault without error)."""
    killed: dict[str, list[str]] = {}
    for run in runs:
        if run.error or run.not_restored or run.left_behind:
            continue
        for target in run.targets:
            if broken(run.outcomes.get(target)):
                killed.setdefault(target, []).append(run.id)
    return killed


def false_failures(reference: dict[str, dict], *, emulator_limited_ok: bool = True) -> dict[str, dict]:
    """Checks that did not pass on the reference environment (emulator-limited skips are fine
    where the emulator is what the checks see)."""
    def fine(o: dict) -> bool:
        return o["status"] == "passed" or (emulator_limited_ok and o["status"] == "skipped"
                                           and classify_skip(o["message"]) == EMULATOR_LIMITED)
    return {name: o for name, o in reference.items() if not fine(o)}

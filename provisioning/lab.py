"""Run the lab's creating steps, and its cleanup, in the order the step catalogue implies.

catalogue.toml names each step's provisioning functions; this module only orders them (each
after its prerequisites; cleanup reversed along them), times them and records failures, so one
failed step blocks its dependents and not the whole lab.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .catalogue import LabStep, load_steps, prerequisites, provisioning_order, teardown_order
from .context import ProvisionContext, Step


@dataclass(frozen=True)
class StepResult:
    step: str
    title: str
    seconds: float
    error: str | None = None  # "ExceptionType: message"
    skipped: str | None = None  # why it did not run

    @property
    def ok(self) -> bool:
        return self.error is None and self.skipped is None


def _runnable(steps: list[LabStep]) -> list[Step]:
    # A step with several functions (7.4: the bastion, then the network) becomes one Step each.
    return [Step(step.id, step.title, function) for step in steps for function in step.functions()]


def provisioning_steps() -> list[Step]:
    return _runnable(provisioning_order())


def teardown_steps() -> list[Step]:
    return _runnable(teardown_order())


def _run(step: Step, ctx: ProvisionContext) -> StepResult:
    start = time.monotonic()
    try:
        step.run(ctx)
    except Exception as exc:  # recorded; KeyboardInterrupt and SystemExit propagate
        ctx.log(f"step {step.step} {step.title}: FAILED: {type(exc).__name__}: {exc}")
        return StepResult(step.step, step.title, time.monotonic() - start, error=f"{type(exc).__name__}: {exc}")
    seconds = time.monotonic() - start
    ctx.log(f"step {step.step} {step.title}: done in {seconds:.2f}s")
    return StepResult(step.step, step.title, seconds)


def provision(ctx: ProvisionContext, steps: list[Step] | None = None) -> list[StepResult]:
    """Create the lab. Never raises for a failed step: its dependents are skipped instead."""
    catalogue = load_steps()
    failed: set[str] = set()
    results = []
    for step in steps if steps is not None else provisioning_steps():
        blocking = [p for p in prerequisites(step.step, catalogue) if p in failed]
        if blocking:
            ctx.log(f"step {step.step} {step.title}: skipped, step {blocking[0]} failed")
            results.append(StepResult(step.step, step.title, 0.0, skipped=f"step {blocking[0]} failed"))
            failed.add(step.step)
            continue
        result = _run(step, ctx)
        if not result.ok:
            failed.add(step.step)
        results.append(result)
    return results


def teardown(ctx: ProvisionContext, steps: list[Step] | None = None) -> list[StepResult]:
    """Delete the lab. Every step runs even when an earlier one failed: leave as little as possible."""
    return [_run(step, ctx) for step in (steps if steps is not None else teardown_steps())]


def failures(results: list[StepResult]) -> dict[str, str]:
    return {r.step: (r.error or r.skipped) for r in results if not r.ok}


def steps_of(module, steps: list[Step]) -> list[Step]:
    """The Steps whose function lives in `module` (a module's share of the lab)."""
    return [step for step in steps if step.run.__module__ == module.__name__]

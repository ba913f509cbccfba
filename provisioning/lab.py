"""Run the lab's creating steps in order, and its cleanup (7.1-7.4) in dependency order.

Each module under provisioning/ declares STEPS and TEARDOWN; this module only orders them,
times them and records failures, so one failed step blocks its dependents (by the step
catalogue) and not the whole lab.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass

from .catalog import load_steps, prerequisites
from .context import ProvisionContext, Step

# Ties between equal step ids keep this order.
PROVISION_MODULES = ("network", "rds", "bastion", "mysql_data", "dynamodb", "elasticache")
# 7.1 ElastiCache, 7.2 DynamoDB, 7.3 RDS, 7.4 EC2 then the VPC: what depends on a thing goes first.
TEARDOWN_MODULES = ("elasticache", "dynamodb", "rds", "bastion", "network")


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


def _collect(modules: tuple[str, ...], attribute: str) -> list[Step]:
    steps: list[Step] = []
    for name in modules:
        module = importlib.import_module(f"{__package__}.{name}")
        steps.extend(getattr(module, attribute, ()))
    return steps


def provisioning_steps() -> list[Step]:
    return sorted(_collect(PROVISION_MODULES, "STEPS"), key=lambda step: step.sort_key)


def teardown_steps() -> list[Step]:
    return sorted(_collect(TEARDOWN_MODULES, "TEARDOWN"), key=lambda step: step.sort_key)


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
    catalog = load_steps()
    failed: set[str] = set()
    results = []
    for step in steps if steps is not None else provisioning_steps():
        blocking = [p for p in prerequisites(step.step, catalog) if p in failed]
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

"""Run the lab's creating steps, and its cleanup, in the order the step catalogue implies.

catalogue.toml names each step's provisioning functions; this module gathers them and hands
them to the plan (provisioning/plan.py), which orders them (each after its prerequisites; cleanup
reversed along them), times them and records failures, so one failed step blocks its dependents
and not the whole lab.
"""

from __future__ import annotations

from .catalogue import LabStep, provisioning_order, teardown_order
from .context import ProvisionContext, Step
from .plan import TaskResult, provisioning_plan, run_plan, teardown_plan

StepResult = TaskResult  # one step's outcome, with when it started and ended


def _runnable(steps: list[LabStep]) -> list[Step]:
    # A step with several functions (7.4: the bastion, then the network) becomes one Step each.
    return [Step(step.id, step.title, function) for step in steps for function in step.functions()]


def provisioning_steps() -> list[Step]:
    return _runnable(provisioning_order())


def teardown_steps() -> list[Step]:
    return _runnable(teardown_order())


def provision(ctx: ProvisionContext, steps: list[Step] | None = None, *, workers: int | None = 1,
              on_result=None, extra_waits: dict[str, tuple[str, ...]] | None = None) -> list[StepResult]:
    """Create the lab. Never raises for a failed step: its dependents are skipped instead.

    workers=1 (the default) runs one step at a time in the lab's order; None runs every step
    whose prerequisites are done at once (provisioning/plan.py), as a run on AWS does.
    extra_waits orders tasks that are not lab steps among them (provisioning/run_tunnel.py).
    """
    plan = provisioning_plan(steps if steps is not None else provisioning_steps(), extra_waits)
    return run_plan(plan, ctx, workers=workers, on_result=on_result)


def teardown(ctx: ProvisionContext, steps: list[Step] | None = None, *, workers: int | None = 1,
             on_result=None) -> list[StepResult]:
    """Delete the lab. Every step runs even when an earlier one failed: leave as little as possible."""
    plan = teardown_plan(steps if steps is not None else teardown_steps())
    return run_plan(plan, ctx, workers=workers, on_result=on_result)


def failures(results: list[StepResult]) -> dict[str, str]:
    return {r.step: (r.error or r.skipped) for r in results if not r.ok}


def steps_of(module, steps: list[Step]) -> list[Step]:
    """The Steps whose function lives in `module` (a module's share of the lab)."""
    return [step for step in steps if step.run.__module__ == module.__name__]

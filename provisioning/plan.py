"""Run the lab's steps as a graph: every step as soon as the steps it waits for are done.

On AWS the lab's waits add up to 25-45 minutes one after another, but most of them are
independent (the DynamoDB table, the cache group and the RDS chain). The step catalogue says
what waits for what (`requires`, and `after` for orderings AWS imposes); provisioning/catalogue.py
derives each step's dependencies, and this module runs them in threads, one per ready step.

Failures behave as in the sequential order: a provisioning step whose prerequisite (`requires`)
failed is skipped, a step only ordered `after` a failed one still runs; cleanup steps all run.
On Ctrl-C (a KeyboardInterrupt in the calling thread) no further step starts, the waits of the
running ones stop at their next poll (polling.CANCEL), and the interrupt is raised again once
every worker has returned, so teardown never races a create still in flight.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from dataclasses import dataclass
from typing import Callable

from .catalogue import load_steps, prerequisites, provisioning_dependencies, teardown_dependencies
from .context import ProvisionContext, Step
from .polling import CANCEL, Cancelled


@dataclass(frozen=True)
class Task:
    """One lab step's share of a plan: its provisioning functions, run in the listed order."""

    step: str
    title: str
    functions: tuple[Step, ...]
    waits_for: tuple[str, ...]  # steps of the plan that must be done before it starts


@dataclass(frozen=True)
class TaskResult:
    step: str
    title: str
    started: float  # seconds since the plan started
    ended: float
    waits_for: tuple[str, ...]
    error: str | None = None  # "ExceptionType: message"
    skipped: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return self.error is None and self.skipped is None


@dataclass
class Plan:
    tasks: list[Task]
    blocking: bool  # provisioning: a failed prerequisite skips its dependents; teardown: all run
    @property
    def ids(self) -> list[str]:
        return [task.step for task in self.tasks]


def _tasks(steps: list[Step], dependencies: dict[str, tuple[str, ...]]) -> list[Task]:
    grouped: dict[str, list[Step]] = {}
    for step in steps:
        grouped.setdefault(step.step, []).append(step)
    present = set(grouped)

    def within(step_id: str) -> tuple[str, ...]:
        # A plan of some steps only (tests pass subsets): wait for the nearest ones it holds.
        found: list[str] = []
        for other in dependencies.get(step_id, ()):
            found += [other] if other in present else list(within(other))
        return tuple(dict.fromkeys(found))

    return [Task(step_id, functions[0].title, tuple(functions), within(step_id)) for step_id, functions in grouped.items()]


def provisioning_plan(steps: list[Step], extra_waits: dict[str, tuple[str, ...]] | None = None) -> Plan:
    """The creating steps; extra_waits adds tasks that are not lab steps (the run's tunnel) and
    what waits for them."""
    dependencies = dict(provisioning_dependencies())
    for step, waits in (extra_waits or {}).items():
        dependencies[step] = tuple(dependencies.get(step, ())) + tuple(waits)
    return Plan(_tasks(steps, dependencies), blocking=True)


def teardown_plan(steps: list[Step]) -> Plan:
    return Plan(_tasks(steps, teardown_dependencies()), blocking=False)


def _blocked_by(task: Task, plan: Plan, failed: set[str]) -> str | None:
    if not plan.blocking:
        return None
    needed = prerequisites(task.step, load_steps())  # a task that is not a lab step needs none
    return next((step for step in needed if step in failed), None)


def _perform(task: Task, ctx: ProvisionContext, clock: Callable[[], float], cancel: threading.Event) -> TaskResult:
    CANCEL.set(cancel)
    started = clock()
    try:
        for function in task.functions:
            if cancel.is_set():
                raise Cancelled(f"step {task.step}: interrupted before it started")
            function.run(ctx)
    except Cancelled as exc:
        return TaskResult(task.step, task.title, started, clock(), task.waits_for, error=f"Cancelled: {exc}")
    except Exception as exc:  # recorded; its dependents are skipped instead
        ctx.log(f"step {task.step} {task.title}: FAILED: {type(exc).__name__}: {exc}")
        return TaskResult(task.step, task.title, started, clock(), task.waits_for, error=f"{type(exc).__name__}: {exc}")
    ended = clock()
    ctx.log(f"step {task.step} {task.title}: done in {ended - started:.2f}s")
    return TaskResult(task.step, task.title, started, ended, task.waits_for)


def run_plan(plan: Plan, ctx: ProvisionContext, *, workers: int | None = None,
             on_result: Callable[[TaskResult], None] | None = None) -> list[TaskResult]:
    """Run every task once its `waits_for` are done; results in the plan's order.

    workers=1 runs the same graph one step at a time (the lab's sequential order). on_result
    hears of each step as it ends (an interrupted run's timeline is drawn from what it heard).
    """
    origin = time.monotonic()

    def clock() -> float:
        return time.monotonic() - origin

    cancel = threading.Event()
    results: dict[str, TaskResult] = {}

    def record(result: TaskResult) -> None:
        results[result.step] = result
        if on_result is not None:
            on_result(result)
    failed: set[str] = set()
    pending = list(plan.tasks)
    running: dict[Future, Task] = {}
    pool = ThreadPoolExecutor(max_workers=workers or max(len(plan.tasks), 1), thread_name_prefix="dblab-step")
    try:
        while pending or running:
            for task in [t for t in pending if all(w in results for w in t.waits_for)]:
                if workers is not None and len(running) >= workers:
                    break
                pending.remove(task)
                blocker = _blocked_by(task, plan, failed)
                if blocker is not None:
                    now = clock()
                    ctx.log(f"step {task.step} {task.title}: skipped, step {blocker} failed")
                    record(TaskResult(task.step, task.title, now, now, task.waits_for, skipped=f"step {blocker} failed"))
                    failed.add(task.step)
                    continue
                running[pool.submit(copy_context().run, _perform, task, ctx, clock, cancel)] = task
            if not running:
                continue  # skipped tasks may have made others ready
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                result = future.result()
                record(result)
                if not result.ok:
                    failed.add(result.step)
    except BaseException:
        cancel.set()  # Ctrl-C: the running steps stop at their next poll; nothing new starts
        for future in running:
            try:
                record(future.result())
            except BaseException:  # noqa: BLE001  (a worker's own crash, or a second Ctrl-C: go on collecting)
                continue
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [results[step] for step in plan.ids if step in results]

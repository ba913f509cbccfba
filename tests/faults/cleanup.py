"""Step 7.5 (cleanup verification) under faults: each check tears a lab down, so each fault
gets a small lab of its own on the same moto, with the real LabEnvironment and teardown.

Reference scenarios: the reference environment's own full teardown (the checks see the
emulator), and a small lab graded "as on AWS", where the deletions moto never finishes
(a replication group stays 'deleting', a cache subnet group cannot be deleted) are
finished the way AWS finishes them. The faults break teardown itself: a step that fails,
a step that leaves a resource behind, a stop that does not stop the servers.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import provisioning.lab as lab_module
from provisioning.aws import AwsTarget
from provisioning.catalogue import load_steps
from provisioning import naming
from provisioning.context import Step
from provisioning.environment import EnvironmentSpec, LabEnvironment

from . import aws_view
from .model import AWS, EMULATOR, Fault, fault
from .plugin import FaultSession

LAB7 = Path(__file__).resolve().parents[2] / "suites" / "test_lab7_cleanup.py"
CONTROL_PLANE_WITH_CACHE = ("1.1", "1.2", "5.1", "5.2")
TABLE_ONLY = ("4.1",)


@dataclass
class Scenario:
    """A small lab for one cleanup fault: which steps to provision, whether to run servers,
    and the changes (to teardown, or to stopping) the fault makes."""

    steps: tuple[str, ...] = TABLE_ONLY
    servers: bool = False
    view: str = EMULATOR
    teardown: dict[str, Step] = field(default_factory=dict)  # 7.x step id -> its replacement
    stop_does_nothing: bool = False


def run_lab7(environment, view: str) -> dict[str, dict]:
    """The 7.5 checks against `environment`, as pytest runs them; their outcomes."""
    outcomes = {}

    def drive(session: FaultSession) -> None:
        result = session.run(session.names(), view)
        outcomes.update({name: {"status": o.status, "message": o.message} for name, o in result.outcomes.items()})

    session = FaultSession(environment, drive, check_timeout=1.0, answers=aws_view.AwsAnswers())
    code = pytest.main([str(LAB7), "-o", "addopts=", "-p", "no:cacheprovider", "-p", "no:terminal"], plugins=[session])
    if session.error is not None:
        raise session.error
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise RuntimeError(f"running the 7.5 checks failed (pytest exit code {code})")
    return outcomes


def _finish_deletions_as_aws() -> None:
    """What AWS does minutes after 7.1 and moto never does: the group and subnet group go."""
    backend = aws_view.elasticache_backend()
    for group_id in [g for g, group in backend.replication_groups.items() if group.status == "deleting"]:
        del backend.replication_groups[group_id]
        backend.cache_subnet_groups.clear()  # 7.1 deleted it after the group; moto cannot


def run_scenario(moto, scenario: Scenario, log) -> dict[str, dict]:
    moto.reset()  # a fresh account: moto's ElastiCache forgets nothing it was asked to delete
    wanted = [s for s in lab_module.provisioning_steps() if s.step in scenario.steps]
    teardown = [scenario.teardown.get(s.step, s) for s in lab_module.teardown_steps()]
    spec = EnvironmentSpec(local=scenario.servers, aws=AwsTarget(endpoint_url=moto.endpoint_url), provision=True,
                           run_id=f"faults-7-5-{secrets.token_hex(3)}", ssh_cidr="198.51.100.10/32", timeout=30)
    environment = LabEnvironment(spec, log=log)
    originals = lab_module.provisioning_steps, lab_module.teardown_steps
    lab_module.provisioning_steps, lab_module.teardown_steps = (lambda: wanted), (lambda: teardown)
    try:
        environment.start()
        if scenario.stop_does_nothing:
            environment.stop_servers = lambda keep_emulator=False: None
        if scenario.view == AWS and "7.1" not in scenario.teardown:
            real_teardown = environment.teardown

            def teardown_as_on_aws():
                results = real_teardown()
                _finish_deletions_as_aws()
                return results
            environment.teardown = teardown_as_on_aws
        return run_lab7(environment, scenario.view)
    finally:
        lab_module.provisioning_steps, lab_module.teardown_steps = originals
        environment.close()  # the real stop, whatever the fault did to stop_servers


# --- the faults: fault.apply(scenario) configures the scenario -----------------------------------

def _skip(step: str) -> Step:
    return Step(step, load_steps()[step].title, lambda ctx: ctx.log(f"step {step}: skipped by a seeded fault"))


def _fails_after(step: Step) -> Step:
    def run(ctx):
        step.run(ctx)
        raise RuntimeError(f"{step.title}: the deletion was requested but not confirmed in time (seeded fault)")
    return Step(step.step, step.title, run)


def _real(step_id: str) -> Step:
    return next(s for s in lab_module.teardown_steps() if s.step == step_id)


@fault("7.5", "teardown-step-fails", "a cleanup step reports an error (its deletion unconfirmed)",
       "test_every_cleanup_step_succeeded", breaks="7.2")
def teardown_step_fails(scenario: Scenario):
    scenario.teardown["7.2"] = _fails_after(_real("7.2"))


@fault("7.5", "table-left-behind", "the cleanup leaves the DynamoDB table behind", "test_no_lab_resource_remains",
       breaks=naming.ORDERS_TABLE)
def table_left_behind(scenario: Scenario):
    scenario.teardown["7.2"] = _skip("7.2")


@fault("7.5", "cache-left-behind", "the cleanup leaves the replication group and its subnet group behind",
       "test_elasticache_resources_deleted", "test_no_lab_resource_remains", view=AWS,
       breaks=naming.REPLICATION_GROUP)
def cache_left_behind(scenario: Scenario):
    scenario.steps = CONTROL_PLANE_WITH_CACHE
    scenario.teardown["7.1"] = _skip("7.1")


@fault("7.5", "servers-left-running", "stopping the servers does nothing: MariaDB and Redis keep running",
       "test_no_server_process_remains", breaks="server processes still running")
def servers_left_running(scenario: Scenario):
    scenario.steps, scenario.servers, scenario.stop_does_nothing = (), True, True


FAULTS: list[Fault] = [teardown_step_fails, table_left_behind, cache_left_behind, servers_left_running]


def run_scenarios(environment, faults: list[Fault], report) -> None:
    """Reference scenarios, then one scenario per fault; results into the report."""
    from .verdicts import FaultRun, missing_steps, resolve

    log = environment.log
    report.reference["cleanup"] = run_lab7(environment, EMULATOR)  # the reference lab's own teardown
    report.checks.update({name: "7.5" for name in report.reference["cleanup"]})
    moto = environment.engines.moto
    report.reference["cleanup, aws view"] = run_scenario(moto, Scenario(steps=CONTROL_PLANE_WITH_CACHE, view=AWS), log)
    for item in faults:
        scenario = Scenario(view=item.view)
        item.apply(scenario)
        checks = list(report.reference["cleanup"])
        targets, unknown = resolve(item.targets, checks)
        run = FaultRun(id=item.id, step=item.step, title=item.title, view=item.view, targets=targets,
                       breaks=list(item.breaks))
        baseline = report.reference["cleanup, aws view" if item.view == AWS else "cleanup"]
        try:
            if unknown:
                raise LookupError(f"targets that name no single check: {unknown}")
            run.outcomes = run_scenario(moto, scenario, log)
            run.baseline = {name: baseline[name]["status"] for name in run.outcomes if name in baseline}
            run.missing_steps = missing_steps(report.checks, run.outcomes, baseline)
        except Exception as exc:
            run.error = f"scenario: {type(exc).__name__}: {exc}"
        run.rerun = len(run.outcomes)
        report.faults.append(run)

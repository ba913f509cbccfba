"""Issue 10, the parallel plan: every independent step at once, AWS's orderings kept, a failed
prerequisite skipping only its dependents, Ctrl-C stopping the running waits, and a timeline whose
critical path is computed from the run's own numbers."""

from __future__ import annotations

import threading

import pytest

from provisioning.catalogue import provisioning_dependencies, teardown_dependencies
from provisioning.context import ProvisionContext, Step
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password
from provisioning.plan import Plan, Task, TaskResult, provisioning_plan, run_plan
from provisioning.polling import wait_until
from provisioning.timeline import RunTimeline, phase_timeline


def _ctx(log=None) -> ProvisionContext:
    return ProvisionContext(clients=None, run_id="plan-test", dataplane=DataPlane(),
                            master_password=generate_password(), log=log or (lambda message: None))


def test_aws_orderings_are_in_the_graph():
    waits = provisioning_dependencies()
    assert "2.1" in waits["2.2"]  # AWS refuses a replica of an instance that is modifying
    assert "2.3" in waits["3.2"]  # the lab's data order on the primary
    assert waits["3.2"] == ("1.4", "2.3")  # 3.1 has nothing to run: it stands for its own prerequisite
    assert waits["4.1"] == () and waits["1.1"] == ()  # the DynamoDB table and the VPC start at once
    assert teardown_dependencies()["7.4"] == ("7.1", "7.3")  # the network after what lives in it
    assert teardown_dependencies()["7.2"] == ()


class Gate:
    """Steps that finish only when the test says so, recording who ran alongside whom."""

    def __init__(self):
        self.started: list[str] = []
        self.release = {step: threading.Event() for step in ("a", "b", "c", "d")}
        self.lock = threading.Lock()

    def step(self, step_id: str, fail: bool = False) -> Step:
        def run(ctx):
            with self.lock:
                self.started.append(step_id)
            wait_until(lambda: self.release[step_id].is_set(), timeout=30, what=f"step {step_id} released")
            if fail:
                raise RuntimeError(f"step {step_id} broke")
        return Step(step_id, f"step {step_id}", run)


def _plan(gate: Gate, waits: dict[str, tuple[str, ...]], failing: str | None = None) -> Plan:
    return Plan([Task(step, f"step {step}", (gate.step(step, fail=step == failing),), waits.get(step, ()))
                 for step in ("a", "b", "c", "d")], blocking=True)


def test_independent_steps_run_at_the_same_time_and_dependents_wait(monkeypatch):
    gate = Gate()
    plan = _plan(gate, {"c": ("a",), "d": ("b", "c")})
    monkeypatch.setattr("provisioning.plan.prerequisites", lambda step, steps: {"c": ["a"], "d": ["b", "c", "a"]}.get(step, []))
    results: list[TaskResult] = []
    runner = threading.Thread(target=lambda: results.extend(run_plan(plan, _ctx())))
    runner.start()
    wait_until(lambda: set(gate.started) == {"a", "b"}, timeout=10, what="a and b started together")
    gate.release["a"].set()
    wait_until(lambda: "c" in gate.started, timeout=10, what="c started once a was done")
    assert "d" not in gate.started  # b is still running
    gate.release["b"].set()
    gate.release["c"].set()
    wait_until(lambda: "d" in gate.started, timeout=10, what="d started once b and c were done")
    gate.release["d"].set()
    runner.join(timeout=10)
    by_step = {r.step: r for r in results}
    assert all(r.ok for r in results) and list(by_step) == ["a", "b", "c", "d"]
    assert by_step["c"].started >= by_step["a"].ended and by_step["d"].started >= by_step["c"].ended


def test_a_failed_prerequisite_skips_its_dependents_only(monkeypatch):
    gate = Gate()
    for event in gate.release.values():
        event.set()
    plan = _plan(gate, {"c": ("a",), "d": ("b",)}, failing="a")
    monkeypatch.setattr("provisioning.plan.prerequisites", lambda step, steps: {"c": ["a"], "d": ["b"]}.get(step, []))
    results = {r.step: r for r in run_plan(plan, _ctx())}
    assert results["a"].error == "RuntimeError: step a broke"
    assert results["c"].skipped == "step a failed"
    assert results["b"].ok and results["d"].ok


def test_an_after_step_that_failed_does_not_skip_the_step_ordered_after_it():
    # 2.2 waits for 2.1 (AWS refuses a replica of a modifying instance) but does not need it.
    steps = [Step("2.1", "step 2.1", lambda ctx: (_ for _ in ()).throw(RuntimeError("no Multi-AZ"))),
             Step("2.2", "step 2.2", lambda ctx: None)]
    results = {r.step: r for r in run_plan(provisioning_plan(steps), _ctx())}
    assert results["2.1"].error and results["2.2"].ok


def test_ctrl_c_stops_the_running_waits_and_is_raised_once_every_step_has_returned():
    gate = Gate()
    plan = _plan(gate, {"c": ("a",)})
    heard: list[TaskResult] = []

    def interrupt(result: TaskResult) -> None:
        heard.append(result)
        raise KeyboardInterrupt  # arrives in the thread that runs the plan, as Ctrl-C does

    gate.release["d"].set()  # d ends at once; a and b are left waiting for 30 s
    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, _ctx(), on_result=interrupt)
    stopped = {r.step: r for r in heard}
    assert stopped["a"].error.startswith("Cancelled") and stopped["b"].error.startswith("Cancelled")
    assert "c" not in gate.started  # nothing starts after the interrupt


def test_the_critical_path_is_the_longest_chain_of_measured_waits():
    results = [TaskResult("1.1", "vpc", 0.0, 1.0, ()), TaskResult("4.1", "table", 0.0, 3.0, ()),
               TaskResult("1.4", "rds", 1.0, 6.0, ("1.1",)), TaskResult("2.1", "multi-az", 6.0, 9.0, ("1.4",)),
               TaskResult("4.2", "app", 3.0, 4.0, ("4.1",))]
    timeline = phase_timeline("provisioning", results)
    assert timeline.critical_steps == ["1.1", "1.4", "2.1"] and timeline.critical_path == 9.0
    assert timeline.sequential_sum == 13.0 and timeline.wall == 9.0 and timeline.ratio_to_critical_path == 1.0


def test_the_timeline_is_written_as_json_and_a_page_that_shows_every_step(tmp_path):
    run = RunTimeline("run-x", "emulator at http://127.0.0.1:1", 0.01)
    run.add("provisioning", [TaskResult("1.1", "the network", 0.0, 1.0, ()),
                             TaskResult("1.2", "the groups", 1.0, 1.5, ("1.1",), error="Boom: x")])
    run.write(tmp_path)
    data = (tmp_path / "timeline.json").read_text()
    page = (tmp_path / "timeline.html").read_text()
    assert '"critical_steps": [\n        "1.1",\n        "1.2"' in data
    assert "1.1 the network" in page and "1.2 the groups" in page
    assert "failed: Boom: x" in page and "<script" not in page

"""provisioning.lab: step order, failure isolation, teardown order."""

from provisioning import lab
from provisioning.context import ProvisionContext, Step
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password


def make_ctx(aws_clients=None):
    return ProvisionContext(clients=aws_clients, run_id="test", dataplane=DataPlane(),
                            master_password=generate_password(), log=lambda message: None)


def recorder(calls, step_id, fail=False):
    def run(ctx):
        calls.append(step_id)
        if fail:
            raise RuntimeError(f"{step_id} broke")
    return Step(step_id, f"step {step_id}", run)


def test_a_failed_step_skips_its_dependents_and_nothing_else():
    calls = []
    steps = [recorder(calls, "1.1"), recorder(calls, "1.3", fail=True), recorder(calls, "1.4"),
             recorder(calls, "2.2"), recorder(calls, "4.1")]
    results = {r.step: r for r in lab.provision(make_ctx(), steps)}
    assert calls == ["1.1", "1.3", "4.1"]
    assert results["1.3"].error == "RuntimeError: 1.3 broke"
    assert results["1.4"].skipped == "step 1.3 failed"
    assert results["2.2"].skipped == "step 1.4 failed"  # transitively blocked
    assert results["4.1"].ok


def test_teardown_runs_every_step_even_after_a_failure():
    calls = []
    steps = [recorder(calls, "7.1", fail=True), recorder(calls, "7.2"), recorder(calls, "7.4")]
    results = lab.teardown(make_ctx(), steps)
    assert calls == ["7.1", "7.2", "7.4"]
    assert [r.ok for r in results] == [False, True, True]


def test_provisioning_steps_follow_the_lab_order():
    order = [step.step for step in lab.provisioning_steps()]
    assert order == sorted(order, key=lambda s: tuple(map(int, s.split("."))))
    for expected in ("1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.2", "2.3", "3.2", "4.1", "4.2", "4.3",
                     "5.1", "5.2", "5.3"):
        assert expected in order, f"no provisioning step for {expected}"


def test_teardown_deletes_dependents_first():
    steps = lab.teardown_steps()
    assert [s.step for s in steps] == sorted(s.step for s in steps)
    assert {s.step for s in steps} == {"7.1", "7.2", "7.3", "7.4"}
    modules = [s.run.__module__.rsplit(".", 1)[1] for s in steps if s.step == "7.4"]
    assert modules.index("bastion") < modules.index("network"), "the bastion must go before its subnet and VPC"

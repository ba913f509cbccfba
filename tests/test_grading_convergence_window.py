"""Grading waits for convergence once: every convergence poll of a grade ends at the same deadline
(the session's start plus the grading timeout), so a later failing check reads once and gives its
verdict; outside grading each wait gets the whole timeout. Proven by counting probes, not by timing."""

from __future__ import annotations

import ast
from time import monotonic
from types import SimpleNamespace

import pytest

import fixtures.lab
import suites.test_lab4_dynamodb as lab4
from fixtures.checks import eventually
from fixtures.environment import lab_context
from fixtures.lab import LabContext
from provisioning import dynamodb, settings
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password

from .conftest import REPO_ROOT

GRADE_WINDOW = "by the end of the grade's 5s convergence window"


class Probe:
    """A convergence that never happens, counting how often it is looked at."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return None


def grading_lab(ends: float, timeout: float = 5) -> LabContext:
    return LabContext(clients=None, dataplane=DataPlane(), timeout=timeout, target="aws", convergence_ends=ends)


def failing_wait(lab, probe) -> str:
    with pytest.raises(pytest.fail.Exception) as failure:
        eventually(lab, probe, "the index did not list the order")
    return str(failure.value)


def test_grading_waits_shrink_to_the_one_deadline_and_then_to_nothing(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(fixtures.lab, "monotonic", lambda: clock[0])
    lab = grading_lab(ends=105.0)
    assert lab.convergence_wait() == 5.0
    clock[0] = 103.5  # a check that waited 3.5 s leaves the next one 1.5 s
    assert lab.convergence_wait() == 1.5
    clock[0] = 200.0
    assert lab.convergence_wait() == 0.0


def test_outside_grading_every_wait_gets_the_whole_timeout(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(fixtures.lab, "monotonic", lambda: clock[0])
    lab = LabContext(clients=None, dataplane=DataPlane(), timeout=60, target="local")
    assert lab.convergence_wait() == 60
    clock[0] = 10_000.0
    assert lab.convergence_wait() == 60
    assert lab.convergence_limit == "within 60s"


def test_outside_grading_a_second_failing_wait_polls_again():
    lab = LabContext(clients=None, dataplane=DataPlane(), timeout=0.1, target="local")
    first, second = Probe(), Probe()
    assert failing_wait(lab, first).endswith("did not list the order within 0.1s")
    failing_wait(lab, second)
    assert first.calls > 1 and second.calls > 1


def test_in_grading_the_second_failing_wait_probes_once():
    lab = grading_lab(ends=monotonic() + 0.1)
    first, second = Probe(), Probe()
    failing_wait(lab, first)  # polls until the window ends
    message = failing_wait(lab, second)
    assert first.calls > 1
    assert second.calls == 1
    assert message == f"the index did not list the order {GRADE_WINDOW}"


def test_a_wait_after_the_window_probes_once_and_names_the_window():
    lab = grading_lab(ends=monotonic() - 1)
    probe = Probe()
    message = failing_wait(lab, probe)
    assert probe.calls == 1
    assert GRADE_WINDOW in message and "within 0s" not in message


def test_a_read_after_the_window_still_passes_on_what_it_finds():
    lab = grading_lab(ends=monotonic() - 1)
    assert eventually(lab, lambda: ["the order"], "the index did not list the order") == ["the order"]


def test_a_wait_of_the_checks_own_keeps_its_timeout_in_grading():
    # e.g. a rate limiter's 1 s window: not convergence, so not cut short by the grade's window
    lab = grading_lab(ends=monotonic() - 1)
    probe = Probe()
    with pytest.raises(pytest.fail.Exception, match=r"did not list the order within 0.05s$"):
        eventually(lab, probe, "the index did not list the order", timeout=0.05)
    assert probe.calls > 1


@pytest.mark.parametrize("grade, ends", [(True, 42.0 + 5), (False, None)])
def test_the_lab_fixture_opens_the_window_at_the_sessions_start_only_when_grading(grade, ends):
    environment = SimpleNamespace(clients=None, dataplane=DataPlane())
    config = SimpleNamespace(grade=grade, timeout=5.0, target="aws")
    assert lab_context(environment, config, started=42.0).convergence_ends == ends


def test_the_grading_default_window_is_5_seconds():
    assert settings.timeout_default("aws", grade=True) == 5.0
    assert "5 grading" in settings.OPTION["timeout"].help_text()


def test_no_suite_waits_on_lab_timeout_directly():
    # Every convergence wait goes through lab.convergence_wait(), so that grading shares one window.
    uses = [f"{path.name}:{node.lineno}" for path in sorted((REPO_ROOT / "suites").glob("*.py"))
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute) and node.attr == "timeout"
            and isinstance(node.value, ast.Name) and node.value.id == "lab"]
    assert not uses, f"lab.timeout used directly (use lab.convergence_wait() and lab.convergence_limit): {uses}"


def test_the_status_index_check_reads_once_after_the_grades_window(aws_clients, monkeypatch):
    ctx = ProvisionContext(clients=aws_clients, run_id="test-window", dataplane=DataPlane(),
                           master_password=generate_password(), timeout=10, log=lambda line: None)
    dynamodb.create_orders_table(ctx)  # the table and its index, without the app's orders
    queries = []
    real = lab4.OrderRepository.get_orders_by_status
    monkeypatch.setattr(lab4.OrderRepository, "get_orders_by_status",
                        lambda repo, status: queries.append(status) or real(repo, status))
    lab = LabContext(clients=aws_clients, dataplane=DataPlane(), timeout=5, target="aws",
                     convergence_ends=monotonic() - 1)
    with pytest.raises(pytest.fail.Exception, match=GRADE_WINDOW):
        lab4.test_pending_orders_are_found_through_status_index(lab)
    assert len(queries) == 1

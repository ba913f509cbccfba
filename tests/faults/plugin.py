"""A pytest plugin that runs the suites' checks many times in one session, against an
environment that is already provisioned, and records what each check did and read.

pytest collects the checks once; the driver (runner.py) then asks for passes over any
subset of them: a pass runs each item through pytest's own run protocol, so fixtures, the
step markers and the blocking of dependent steps behave exactly as in `pytest -m local`.
"""

from __future__ import annotations

import functools
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import pytest

from fixtures.lab import LabContext
from fixtures.state import LEDGER
from provisioning.outcomes import skip_reason

from .context import RecordingAwsClients
from .model import AWS, MYSQL, REDIS, app_classes, code_system

PASSED, FAILED, CRASHED, SKIPPED = "passed", "failed", "crashed", "skipped"
# What a check's body raises when it fails on purpose: its own assertion or pytest.fail.
ASSERTIONS = (AssertionError, pytest.fail.Exception)


@dataclass(frozen=True)
class Outcome:
    """passed; failed (the check's own assertion, in its body); crashed (any other exception in
    its body, or an error in its setup or teardown: the check did not see anything); skipped."""

    status: str
    message: str = ""

    @property
    def broken(self) -> bool:
        return self.status in (FAILED, CRASHED)


@dataclass
class Pass:
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # node id -> outcome
    reads: dict[str, set[str]] = field(default_factory=dict)  # node id -> systems it read
    seconds: float = 0.0


@dataclass
class RecordingLab(LabContext):
    """The `lab` the checks get: reports each system a check reads; can grade as if on AWS."""

    reads: Callable[[str], None] = lambda system: None
    as_aws: bool = False

    @property
    def emulated(self) -> bool:
        return False if self.as_aws else super().emulated

    def mysql_endpoint(self, *args, **kwargs):
        self.reads(MYSQL)
        return super().mysql_endpoint(*args, **kwargs)

    def redis_endpoint(self, *args, **kwargs):
        self.reads(REDIS)
        return super().redis_endpoint(*args, **kwargs)


def _message(report) -> str:
    """A skip's reason, or the first line of what the check raised (its own message)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip
        return skip_reason(report)
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    return text.strip().splitlines()[0] if text.strip() else ""


def _status(report) -> str:
    if report.skipped:
        return SKIPPED
    if report.passed:
        return PASSED
    # A failure counts as the check's verdict only from its body, by its own assertion.
    return FAILED if report.when == "call" and getattr(report, "dblab_assertion", False) else CRASHED


class _Fixtures:
    """Registered after the suite's plugins, so these definitions win (pytest uses the last)."""

    def __init__(self, session: "FaultSession"):
        self.owner = session

    @pytest.fixture(scope="session")
    def lab_environment(self):
        return self.owner.environment

    @pytest.fixture(scope="session")
    def lab(self):
        return self.owner.make_lab()


class FaultSession:
    def __init__(self, environment, driver: Callable[["FaultSession"], None], *, check_timeout: float,
                 answers=None):
        self.environment = environment
        self.driver = driver
        self.check_timeout = check_timeout  # lab.timeout: how long a poll waits for a fault to converge
        self.answers = answers  # aws_view.AwsAnswers, installed on the AWS view's clients
        self.items: list[pytest.Item] = []
        self.view = None
        self._clients: dict[str, RecordingAwsClients] = {}
        self._current: Pass | None = None
        self._item: str | None = None
        self.error: BaseException | None = None

    # -- pytest hooks ----------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session) -> None:
        session.config.pluginmanager.register(_Fixtures(self), "dblab-fault-fixtures")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session) -> bool:
        self.items = list(session.items)
        self._session = session
        try:
            self.driver(self)
        except BaseException as exc:  # reported by the runner; pytest would swallow the details
            self.error = exc
            raise
        return True

    def pytest_runtest_logstart(self, nodeid, location) -> None:
        self._item = nodeid

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        if call.excinfo is not None:
            report.dblab_assertion = call.excinfo.errisinstance(ASSERTIONS)

    def pytest_runtest_logreport(self, report) -> None:
        if self._current is None:
            return
        outcomes = self._current.outcomes
        status = _status(report)
        before = outcomes.get(report.nodeid)
        if status == PASSED and report.when != "call":
            return  # setup and teardown pass around every check: the call decides
        # The worst phase wins: a teardown error after a passed (or failed) call is a crash.
        rank = {PASSED: 0, SKIPPED: 0, FAILED: 1, CRASHED: 2}
        if before is None or rank[status] > rank[before.status]:
            outcomes[report.nodeid] = Outcome(status, _message(report))

    # -- what the driver calls ---------------------------------------------------------------
    def names(self) -> list[str]:
        """Every check's node id, in collection order."""
        return [item.nodeid for item in self.items]

    def steps(self) -> dict[str, str]:
        return {item.nodeid: str(item.get_closest_marker("step").args[0]) for item in self.items}

    def clients(self, view: str) -> RecordingAwsClients:
        if view not in self._clients:
            clients = RecordingAwsClients(self.environment.clients.target, self._read)
            if view == AWS:
                self.answers.install(clients.session())
            self._clients[view] = clients
        return self._clients[view]

    def make_lab(self) -> RecordingLab:
        return RecordingLab(clients=self.clients(self.view), dataplane=self.environment.dataplane,
                            timeout=self.check_timeout, target="local", reads=self._read,
                            as_aws=self.view == AWS)

    def run(self, names, view: str) -> Pass:
        """Run these checks (in collection order) as one pytest run would: fresh step ledger."""
        wanted = set(names)
        items = [item for item in self.items if item.nodeid in wanted]
        self.view = view
        self._current = result = Pass()
        stash = self._session.config.stash
        stash[LEDGER] = type(stash[LEDGER])()  # what a new pytest run starts with
        begin = time.monotonic()
        try:
            for index, item in enumerate(items):
                following = items[index + 1] if index + 1 < len(items) else None
                item.ihook.pytest_runtest_protocol(item=item, nextitem=following)
        finally:
            self._current = None
            self._item = None
        result.seconds = time.monotonic() - begin
        return result

    @contextmanager
    def recording_code(self):
        """While a pass runs: every method call on an app class is a read of that class."""
        originals = []
        for cls in app_classes():
            for name, function in list(vars(cls).items()):
                if callable(function) and not isinstance(function, type):
                    originals.append((cls, name, function))
                    setattr(cls, name, self._recorded(function, code_system(cls)))
        try:
            yield
        finally:
            for cls, name, function in originals:
                setattr(cls, name, function)

    def _recorded(self, function, system: str):
        @functools.wraps(function)
        def call(*args, **kwargs):
            self._read(system)
            return function(*args, **kwargs)
        return call

    def _read(self, system: str) -> None:
        if self._current is not None and self._item is not None:
            self._current.reads.setdefault(self._item, set()).add(system)

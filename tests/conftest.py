"""Fixtures for the suite's own tests (make test)."""

import functools

import pytest

pytest_plugins = ["pytester"]

from provisioning import naming
from provisioning.aws import AwsClients, AwsTarget
from provisioning.local.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto_server():
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def session_aws_clients(moto_server):
    # One set of clients for the whole run: building a boto3 client re-reads its service model.
    return AwsClients(AwsTarget(region=naming.REGION, endpoint_url=moto_server.endpoint_url))


@pytest.fixture
def aws_clients(moto_server, session_aws_clients):
    """Clients on a freshly reset emulator: every test starts from an empty account."""
    moto_server.reset()
    return session_aws_clients


REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def pytest_configure(config):
    config.addinivalue_line("markers", "corpus: a proof too slow for make test; make code-faults runs it")
    config.addinivalue_line("markers", "aws_proof: issue 10's acceptance runs, too slow for make test; make aws-proof runs them")
    config.addinivalue_line("markers", "class_proof: grading a class several ways over, too slow for make test; make class-proof runs it")
    config.addinivalue_line("markers", "fault_table: the whole seeded-fault table, too slow for make test; make fault-table runs it")


# Measurements a proof reports at the end of its run (make class-proof's seconds and ratio), as
# lines, so that whoever ran it reads them without opening the file they are also written to.
MEASURED = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, config):
    for line in config.stash.get(MEASURED, []):
        terminalreporter.write_line(line)


@pytest.fixture
def lab_pytester(pytester, monkeypatch):
    """pytester whose subprocess runs can import the suite's packages, from any directory."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    return pytester


ERRATA_PAGE = REPO_ROOT / "docs" / "errata.md"


@functools.lru_cache(maxsize=None)
def _errata_page_tests() -> frozenset[str]:
    """"tests/test_errata_x.py::test_name" for every test docs/errata.md shows students."""
    import re

    page = ERRATA_PAGE.read_text() if ERRATA_PAGE.exists() else ""
    return frozenset(f"{path}::{name}" for path, name in re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", page))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # The errata page promises students a test that shows each defect: one that skips shows
    # nothing, so it fails instead (the page's own self-test checks only that the names exist).
    report = yield
    if report.skipped and item.nodeid.split("[")[0] in _errata_page_tests():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} is named on docs/errata.md and must run, but it skipped: {reason}"
    return report


class CheckSkipped(Exception):
    """A check run directly by a self-test skipped: it fails the self-test, and is never
    counted as the check failing (a fault is not killed by a skip)."""


def with_reference_apps(check, **kwargs) -> dict:
    """`kwargs` plus the suite's reference apps when `check` takes `lab_apps` (fixtures/apps.py),
    as a run without --lab-student-code gives it."""
    import inspect

    from fixtures.apps import REFERENCE

    if "lab_apps" in inspect.signature(check).parameters:
        kwargs["lab_apps"] = REFERENCE
    return kwargs


def run_without_skipping(call, what: str):
    """Run a check directly; a skip fails instead of hiding it (a check that starts skipping on
    the reference lab is a check that no longer looks)."""
    try:
        return call()
    except pytest.skip.Exception as exc:
        raise CheckSkipped(f"{what} skipped ({exc}); on this lab it must pass or fail") from None


def default_sigint() -> None:
    """For a child the tests interrupt with SIGINT: a shell starts background jobs (`make test &`)
    with SIGINT ignored, the child would inherit that and never see the Ctrl-C the test sends."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)

"""Fixtures for the suite's own tests (make test)."""

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


@pytest.fixture
def lab_pytester(pytester, monkeypatch):
    """pytester whose subprocess runs can import the suite's packages, from any directory."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    return pytester

"""Fixtures for the suite's own tests (make test)."""

import pytest

from provisioning import naming
from provisioning.aws import AwsClients, AwsTarget
from provisioning.local.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto_server():
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_clients(moto_server):
    """Clients on a freshly reset emulator: every test starts from an empty account."""
    moto_server.reset()
    return AwsClients(AwsTarget(region=naming.REGION, endpoint_url=moto_server.endpoint_url))

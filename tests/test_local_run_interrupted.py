"""An interrupted local run leaves nothing behind: no server process, and no lab resource in
the emulator once `dblab sweep --delete` ran.

Each run is interrupted at one point: while its servers start, once they run, during
provisioning (the emulator has the VPC, not yet the orders table), during the checks. Ctrl-C
and SIGTERM tear down what was provisioned; SIGKILL gives pytest no chance, the servers die
with it (PR_SET_PDEATHSIG) and the sweeper removes what it left in the emulator. To look at
the emulator after the run has gone, the runs use a moto server process of their own
(AWS_ENDPOINT_URL), which the embedded one would not outlive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from lookups.inventory import lab_leftovers
from lookups.network import vpc
from lookups.rds import describe_db_instance
from provisioning import naming
from provisioning.aws import AwsClients, AwsTarget
from provisioning.local.processes import free_port
from provisioning.polling import wait_until
from suites.test_lab7_cleanup import EMULATOR_UNDELETABLE

from .conftest import REPO_ROOT, default_sigint

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
QUICK = {"max_interval": 0.05}  # poll fast: some windows below last a second or two


def servers_under(workdir) -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-f", str(workdir)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "mariadbd" in line or "redis-server" in line]


class LocalRun:
    """`pytest -m local` in a subprocess, its output read as it comes (to see the checks start)."""

    def __init__(self, workdir: Path, endpoint: str | None):
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        env.pop("LOCALSTACK_HOST", None)
        env.pop("AWS_ENDPOINT_URL", None)
        if endpoint:
            env["AWS_ENDPOINT_URL"] = endpoint
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-m", "local", "-p", "no:cacheprovider", "-q",
             "--junitxml", str(workdir.parent / "junit.xml"), "--lab-workdir", str(workdir)],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=default_sigint)
        self.output: list[str] = []
        self.checks_started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in iter(lambda: self.process.stdout.read(1), ""):
            self.output.append(line)
            if line in ".sF":  # -q prints one character per finished check
                self.checks_started.set()

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, signum: int) -> str:
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=60)
        finally:
            if self.running():
                self.process.kill()
                self.process.wait()
            self._reader.join(timeout=10)
        return "".join(self.output)


@pytest.fixture(scope="module")
def moto_endpoint():
    port = free_port()
    process = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1), timeout=30,
                   what="the moto server to answer")
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def emulator(moto_endpoint) -> AwsClients:
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=5).close()
    return AwsClients(AwsTarget(region=naming.REGION, endpoint_url=moto_endpoint))


def deletable_leftovers(clients) -> list:
    # moto keeps a deleted replication group 'deleting' forever and cannot delete cache subnet
    # groups (local-engines.md): those are the 7.5 check's emulator-limited part, not a leak.
    return [item for item in lab_leftovers(clients) if item.kind not in EMULATOR_UNDELETABLE]


def sweep(endpoint: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dblab", "sweep", "--endpoint-url", endpoint, "--timeout", "30", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def provisioning_halfway(clients):
    """The VPC is there and the RDS primary (step 1.4, after 1.2 and 1.3) not yet. (Not the orders
    table: the parallel plan creates it alongside the VPC.)"""
    return bool(vpc(clients("ec2"))) and describe_db_instance(clients("rds"), naming.DB_INSTANCE) is None


POINTS = {
    "servers starting": lambda run, workdir, clients: servers_under(workdir),
    "servers running": lambda run, workdir, clients: len(servers_under(workdir)) >= 4,
    "provisioning": lambda run, workdir, clients: provisioning_halfway(clients),
    "checks": lambda run, workdir, clients: run.checks_started.is_set(),
}


@pytest.mark.parametrize("point, signum", [
    ("servers starting", signal.SIGINT),
    ("servers running", signal.SIGTERM),
    ("servers running", signal.SIGKILL),
    ("provisioning", signal.SIGINT),
    ("provisioning", signal.SIGKILL),
    ("checks", signal.SIGTERM),
], ids=lambda value: getattr(value, "name", value))
def test_interrupted_run_leaves_no_server_and_no_lab_resource(tmp_path, emulator, point, signum):
    workdir = tmp_path / "lab"
    run = LocalRun(workdir, emulator.target.endpoint_url)
    try:
        wait_until(lambda: POINTS[point](run, workdir, emulator) or not run.running(), timeout=90,
                   what=f"the run to reach '{point}'", **QUICK)
        assert run.running(), "".join(run.output)
        if point == "provisioning":
            assert provisioning_halfway(emulator)  # still halfway when the signal goes
    finally:
        output = run.stop(signum)

    # SIGKILL gives pytest no chance to clean up: the servers die with it (PR_SET_PDEATHSIG).
    gone = wait_until(lambda: not servers_under(workdir), timeout=10, what="the servers to exit")
    if signum != signal.SIGKILL:
        assert run.process.returncode == pytest.ExitCode.INTERRUPTED, output
        assert "Traceback" not in output, output
        assert deletable_leftovers(emulator) == [], "the interrupted run did not tear down what it provisioned"
    elif point == "provisioning":
        assert deletable_leftovers(emulator), "a killed run leaves its resources for the sweeper"
        found = sweep(emulator.target.endpoint_url)
        assert found.returncode == 1 and "VPC vpc-" in found.stdout, found.stdout + found.stderr
    deleted = sweep(emulator.target.endpoint_url, "--delete")
    assert deletable_leftovers(emulator) == [], deleted.stdout + deleted.stderr
    print(f"{point}, {signal.Signals(signum).name}: servers gone {gone.seconds:.2f}s after pytest exited")

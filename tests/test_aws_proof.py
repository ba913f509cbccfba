"""Issue 10's acceptance, as a course author runs it: `pytest -m aws --lab-provision` against moto's
server through AWS_ENDPOINT_URL, made to behave like AWS by --lab-aws-realism at a scale where the
lab's sequential sum is about a minute. Too slow for `make test`: `make aws-proof` runs it.

- AWS_PROOF_RUNS runs in a row (10 by default): each passes (no check fails from eventual
  consistency or throttling), provisioning's wall time is at most 1.15x its critical path and
  clearly under its sequential sum (the numbers from the run's own timeline), and nothing is left.
- SIGINT, SIGTERM and SIGKILL mid-create, mid-wait and mid-teardown: after the run's own cleanup,
  or at worst `dblab sweep --delete`, no lab resource remains.
- --lab-keep, then `pytest -m aws` on the kept lab (read-only), then `dblab sweep --run-id --delete`.

Each run's numbers are appended to reports/aws-proof/runs.jsonl (the README quotes them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lookups.inventory import lab_leftovers
from provisioning import naming
from provisioning.aws import AwsClients, AwsTarget
from provisioning.local.moto_server import MotoServer
from provisioning.polling import wait_until

from .conftest import REPO_ROOT, default_sigint

pytestmark = pytest.mark.aws_proof

SCALE = float(os.environ.get("AWS_PROOF_SCALE", "0.025"))  # the lab's provisioning waits sum to about a minute
RUNS = int(os.environ.get("AWS_PROOF_RUNS", "10"))
ACCOUNT = "123456789012"  # moto's default account
MOTO_GAPS = {"ElastiCache replication group", "cache subnet group"}  # moto never finishes deleting these
RECORD = REPO_ROOT / "reports" / "aws-proof" / "runs.jsonl"


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as server:
        yield server


def _environment(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAB_", "PYTEST_XDIST"))}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, PYTHONUNBUFFERED="1")
    return env


def _pytest_aws(endpoint: str, reports: Path, run_id: str, *extra: str, provision: bool = True) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-m", "aws", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               f"--lab-aws-realism={SCALE}", f"--lab-reports-dir={reports}", f"--lab-run-id={run_id}",
               f"--junitxml={reports / (run_id + '-junit.xml')}", *extra]
    if provision:
        command += ["--lab-provision", f"--lab-account={ACCOUNT}"]
    return command


class Run:
    """A pytest run in a subprocess whose output is read line by line as it comes."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.lines: list[str] = []
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def wait(self, timeout: float = 600) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def tail(self, count: int = 30) -> str:
        return "\n".join(self.lines[-count:])


def _left(endpoint: str) -> list[str]:
    clients = AwsClients(AwsTarget(region=naming.REGION, endpoint_url=endpoint))
    return [str(item) for item in lab_leftovers(clients) if item.kind not in MOTO_GAPS]


def _timeline(reports: Path, run_id: str) -> dict:
    data = json.loads((reports / "runs" / run_id / "timeline.json").read_text())
    return {phase["phase"]: phase for phase in data["phases"]}


def _record(entry: dict) -> None:
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    with RECORD.open("a") as handle:
        handle.write(json.dumps(entry) + "\n")


def _sweep(endpoint: str, reports: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dblab", "sweep", "--endpoint-url", endpoint, "--reports", str(reports),
                           "--timeout", "120", *extra], cwd=REPO_ROOT, env=_environment(endpoint),
                          capture_output=True, text=True, timeout=600)


# --- runs in a row ----------------------------------------------------------------------------

@pytest.mark.parametrize("number", range(1, RUNS + 1))
def test_a_realistic_run_passes_in_about_its_critical_path_and_leaves_nothing(moto, tmp_path, number):
    moto.reset()
    run_id = f"proof-{number}"
    run = Run(_pytest_aws(moto.endpoint_url, tmp_path, run_id), _environment(moto.endpoint_url))
    code = run.wait()
    assert code == 0, run.tail()
    phases = _timeline(tmp_path, run_id)
    provisioning = phases["provisioning"]
    ratio = provisioning["wall"] / provisioning["critical_path"]
    _record({"test": "run", "run": number, "scale": SCALE, "wall": provisioning["wall"],
             "critical_path": provisioning["critical_path"], "sequential_sum": provisioning["sequential_sum"],
             "critical_steps": provisioning["critical_steps"], "ratio": round(ratio, 3),
             "teardown_wall": phases["teardown"]["wall"]})
    assert ratio <= 1.15, provisioning
    assert provisioning["wall"] <= 0.85 * provisioning["sequential_sum"], provisioning
    assert 40 <= provisioning["sequential_sum"] <= 120, f"scale {SCALE} is not 'about a minute': {provisioning}"
    assert _left(moto.endpoint_url) == []


# --- interrupted runs -------------------------------------------------------------------------

MOMENTS = {
    # The first create AWS is still working on, right after it answered.
    "mid-create": f"dblab: RDS instance {naming.DB_INSTANCE}: creation started",
    # Waiting out the Multi-AZ conversion (step 2.1), the longest wait.
    "mid-wait": f"dblab: waiting: RDS instance {naming.DB_INSTANCE}: modifying",
    # Deleting: the replica's deletion has been accepted.
    "mid-teardown": f"dblab: RDS instance {naming.DB_REPLICA}: deletion started",
}
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("name", SIGNALS)
def test_an_interrupted_run_leaves_nothing_after_its_cleanup_or_the_sweeper(moto, tmp_path, name, moment):
    moto.reset()
    run_id = f"signal-{name.lower()}-{moment}"
    run = Run(_pytest_aws(moto.endpoint_url, tmp_path, run_id), _environment(moto.endpoint_url))
    try:
        wait_until(lambda: run.saw(MOMENTS[moment]) or run.process.poll() is not None, timeout=300,
                   what=f"the run reaching {moment}")
        assert run.process.poll() is None, f"the run ended before {moment}:\n{run.tail()}"
        begin = time.monotonic()
        run.process.send_signal(SIGNALS[name])
        code = run.wait(timeout=600)
        stopped = time.monotonic() - begin
    finally:
        if run.process.poll() is None:
            run.process.kill()
    left_by_run = _left(moto.endpoint_url)
    swept = None
    if left_by_run:
        swept = _sweep(moto.endpoint_url, tmp_path, "--delete")
    _record({"test": "signal", "signal": name, "moment": moment, "exit": code, "seconds_to_stop": round(stopped, 2),
             "left_by_run": left_by_run, "swept": swept.returncode if swept else None})
    if name != "SIGKILL":
        assert code == pytest.ExitCode.INTERRUPTED, run.tail()
        assert left_by_run == [], f"the run's own cleanup left {left_by_run}:\n{run.tail()}"
    assert _left(moto.endpoint_url) == [], (swept.stdout + swept.stderr) if swept else ""


def test_the_sweeper_finds_a_killed_runs_resources_by_its_journal(moto, tmp_path):
    moto.reset()
    run = Run(_pytest_aws(moto.endpoint_url, tmp_path, "killed"), _environment(moto.endpoint_url))
    try:
        wait_until(lambda: run.saw(MOMENTS["mid-wait"]) or run.process.poll() is not None, timeout=300,
                   what="the run reaching its Multi-AZ wait")
    finally:
        run.process.kill()
        run.wait(timeout=60)
    listing = _sweep(moto.endpoint_url, tmp_path, "--run-id", "killed")
    assert listing.returncode == 1 and "run killed" in listing.stdout and "per hour" in listing.stdout, listing.stdout
    assert f"RDS instance {naming.DB_INSTANCE}" in listing.stdout
    deleted = _sweep(moto.endpoint_url, tmp_path, "--run-id", "killed", "--delete")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert _left(moto.endpoint_url) == []


# --- stages: keep, check, delete --------------------------------------------------------------

def test_a_kept_lab_is_checked_read_only_then_deleted_by_its_run_id(moto, tmp_path):
    moto.reset()
    kept = Run(_pytest_aws(moto.endpoint_url, tmp_path, "kept", "--lab-keep"), _environment(moto.endpoint_url))
    assert kept.wait() == 0, kept.tail()
    assert kept.saw("kept: the lab of run kept is still up") and kept.saw("dblab sweep --run-id kept --delete")
    assert _left(moto.endpoint_url) != []
    checked = Run(_pytest_aws(moto.endpoint_url, tmp_path, "check-kept", provision=False),
                  _environment(moto.endpoint_url))
    assert checked.wait() == 0, checked.tail()
    assert not checked.saw("creation started")  # nothing provisioned: read only
    swept = _sweep(moto.endpoint_url, tmp_path, "--run-id", "kept", "--delete")
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert _left(moto.endpoint_url) == []
    _record({"test": "keep", "kept_exit": 0, "check_exit": 0, "sweep_exit": swept.returncode})

"""A local run that is interrupted leaves no server process behind."""

import os
import signal
import subprocess
import sys

import pytest

from provisioning.polling import wait_until

from .conftest import REPO_ROOT


def servers_under(workdir) -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-f", str(workdir)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "mariadbd" in line or "redis-server" in line]


def start_local_run(workdir):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("LOCALSTACK_HOST", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-m", "local", "-p", "no:cacheprovider", "-q",
         "--junitxml", str(workdir.parent / "junit.xml"), "--lab-workdir", str(workdir)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupt_once_servers_run_leaves_nothing_running(tmp_path, signum):
    workdir = tmp_path / "lab"
    run = start_local_run(workdir)
    try:
        wait_until(lambda: len(servers_under(workdir)) >= 4 or run.poll() is not None, timeout=60,
                   what="the local servers to start")
        assert run.poll() is None, run.stdout.read()
        run.send_signal(signum)
        output, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    # SIGKILL gives pytest no chance to clean up: the servers die with it (PR_SET_PDEATHSIG).
    converged = wait_until(lambda: not servers_under(workdir), timeout=10, what="the servers to exit")
    assert not servers_under(workdir)
    if signum != signal.SIGKILL:
        assert run.returncode == pytest.ExitCode.INTERRUPTED, output
        assert "Traceback" not in output, output
    print(f"{signal.Signals(signum).name}: servers gone {converged.seconds:.2f}s after pytest exited")

"""Bad input to a local run: one line naming the fix, exit code 4, nothing left running."""

import os
import socket
import subprocess
import sys

import pytest

from .conftest import REPO_ROOT
from .test_local_run_interrupted import servers_under


def local_run(tmp_path, *args, **env):
    environ = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **env}
    for name in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST"):
        if name not in env:
            environ.pop(name, None)
    workdir = tmp_path / "lab"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "local", "-q", "-p", "no:cacheprovider",
         "--junitxml", str(tmp_path / "junit.xml"), "--lab-workdir", str(workdir), *args],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=120,
    )
    return result, workdir


def exit_line(result) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "dblab:" in line]
    assert len(lines) == 1, result.stdout + result.stderr
    return lines[0]


def assert_clean_failure(result, workdir):
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not servers_under(workdir)


def test_unreachable_aws_endpoint(tmp_path):
    result, workdir = local_run(tmp_path, AWS_ENDPOINT_URL="http://127.0.0.1:9")
    assert_clean_failure(result, workdir)
    assert "http://127.0.0.1:9 does not answer" in exit_line(result)


def test_missing_server_binaries(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result, workdir = local_run(tmp_path, LAB_SERVER_BIN_DIR=str(empty))
    assert_clean_failure(result, workdir)
    assert "apt-get install" in exit_line(result)


def test_busy_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result, workdir = local_run(tmp_path, "--lab-ports", f"mysql_primary={port}")
    assert_clean_failure(result, workdir)
    assert f"port {port}" in exit_line(result) and "in use" in exit_line(result)

"""ServerProcess: logs, early failure, stop escalation, dying with its parent."""

import signal
import subprocess
import sys
import threading

import pytest

from provisioning.local.processes import (
    Cancelled, PortBusy, ProcessGroup, ServerProcess, StartFailed, StartTimeout, free_port,
)
from provisioning.polling import wait_until

from .conftest import REPO_ROOT

IDLE = [sys.executable, "-c", "import time; time.sleep(60)"]
# Ignores SIGTERM, as a wedged server would.
STUBBORN = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)"]


def gone(pid: int) -> bool:
    """Exited (a zombie waiting for a reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_server_that_exits_while_starting_fails_early_with_its_log_line(tmp_path):
    argv = ["sh", "-c", "echo starting; echo 'fatal: no such table' >&2; exit 3"]
    proc = ServerProcess("fake server", argv, tmp_path).start()
    with pytest.raises(StartFailed) as failed:
        proc.wait_ready(lambda: False, timeout=20)
    message = str(failed.value)
    assert "code 3" in message and "fatal: no such table" in message, message
    assert "\n" not in message
    assert proc.log_path.parent == tmp_path and "starting" in proc.log_path.read_text()


def test_address_in_use_in_the_log_becomes_port_busy_naming_the_port(tmp_path):
    argv = ["sh", "-c", "echo 'bind: Address already in use' >&2; exit 1"]
    proc = ServerProcess("fake server", argv, tmp_path, port=4242).start()
    with pytest.raises(PortBusy, match="port 4242 .*already in use") as busy:
        proc.wait_ready(lambda: False, timeout=20)
    assert busy.value.port == 4242


def test_server_never_ready_times_out(tmp_path):
    proc = ServerProcess("idle", IDLE, tmp_path).start()
    try:
        with pytest.raises(StartTimeout, match="idle not ready within 0.3s"):
            proc.wait_ready(lambda: False, timeout=0.3)
    finally:
        proc.stop()


def test_stop_kills_a_server_that_ignores_sigterm_and_is_idempotent(tmp_path):
    proc = ServerProcess("stubborn", STUBBORN, tmp_path).start()
    proc.wait_ready(lambda: "ready" in proc.log_path.read_text(), timeout=20)
    proc.stop(timeout=0.3)
    assert not proc.alive and proc.returncode == -signal.SIGKILL
    proc.stop()  # again: nothing to do, no error


def test_process_started_from_a_thread_outlives_that_thread(tmp_path):
    # PDEATHSIG fires when the forking *thread* ends: forks go through one long-lived thread.
    started = []
    worker = threading.Thread(target=lambda: started.append(ServerProcess("idle", IDLE, tmp_path).start()))
    worker.start()
    worker.join()
    proc = started[0]
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc._popen.wait(timeout=0.3)
    finally:
        proc.stop()


def test_server_dies_when_its_python_parent_is_killed(tmp_path):
    script = (f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); import time; "
              "from provisioning.local.processes import ServerProcess; "
              f"p = ServerProcess('idle', {IDLE!r}, {str(tmp_path)!r}).start(); "
              "print(p.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert not gone(child)
    finally:
        parent.kill()
        parent.wait()
    wait_until(lambda: gone(child), timeout=10, what=f"server {child} to die with its parent")


def test_cancelled_group_stops_its_servers_and_refuses_new_ones(tmp_path):
    group = ProcessGroup()
    child_group = ProcessGroup(parent=group)
    proc = ServerProcess("idle", IDLE, tmp_path).start(child_group)
    group.cancel()
    assert not proc.alive
    with pytest.raises(Cancelled):
        ServerProcess("late", IDLE, tmp_path).start(child_group)


def test_free_port_is_bindable():
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 0 < port < 65536

"""Server processes that live exactly as long as this Python process wants them to.

Every server is a child with its output in a log file next to its data, killed by the
kernel if this process dies (so a crashed or killed pytest leaves no MariaDB behind), and
stopped in order (SIGTERM, a deadline, then SIGKILL) when the suite is done.
"""

from __future__ import annotations

import ctypes
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..polling import DeadlineExceeded, wait_until


class EngineError(RuntimeError):
    """A local server could not be found, started or used. The message is one line."""


class MissingBinary(EngineError):
    pass


class PortBusy(EngineError):
    def __init__(self, message: str, port: int):
        super().__init__(message)
        self.port = port


class StartTimeout(EngineError, TimeoutError):
    pass


class StartFailed(EngineError):
    """The server exited while starting, for a reason other than a busy port."""


class Cancelled(EngineError):
    """Startup was abandoned (another engine failed, or Ctrl-C)."""


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- dying with this process -------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None  # elsewhere a killed parent leaves its servers running; stop() still works
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. PDEATHSIG fires when the *thread* that
    # forked exits, hence the dedicated spawner thread below.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class _Spawner:
    """One daemon thread that performs every fork, and lives as long as the process.

    Startup runs in worker threads (so MariaDB and Redis start in parallel), but a child
    forked by a pool thread would be SIGKILLed as soon as that thread ends. Forking from
    this thread instead makes the children die with the process, not with a thread.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def call(self, fn: Callable[[], object]):
        with self._lock:
            if self._thread is None or self._pid != os.getpid():  # none yet, or we were forked
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._serve, args=(self._queue,),
                                                name="dblab-spawner", daemon=True)
                self._thread.start()
                self._pid = os.getpid()
            if threading.current_thread() is self._thread:
                return fn()
            future: Future = Future()
            self._queue.put((fn, future))
        return future.result()

    @staticmethod
    def _serve(requests: queue.SimpleQueue) -> None:
        while True:
            fn, future = requests.get()
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, whatever it is
                future.set_exception(exc)


_spawner = _Spawner()


def popen_dying_with_this_process(argv: list[str], *, setup: Callable[[], None] | None = None,
                                  **popen_kwargs) -> subprocess.Popen:
    """subprocess.Popen, forked by the spawner thread so that the child is killed with this
    process (even by SIGKILL), in a session of its own; `setup` runs in the child before exec
    (resource limits, say)."""
    def preexec() -> None:
        _die_with_parent()
        if setup is not None:
            setup()

    return _spawner.call(lambda: subprocess.Popen(argv, preexec_fn=preexec, start_new_session=True, **popen_kwargs))


# -- a group that can be cancelled as a whole --------------------------------------------

class ProcessGroup:
    """Every process started for one purpose, so they can all be stopped at once.

    After cancel(), a process that a worker thread is still starting is stopped as soon
    as it registers, and the registering call raises Cancelled. A child group (one engine
    of several) is cancelled with its parent, and can be cancelled alone.
    """

    def __init__(self, parent: "ProcessGroup | None" = None):
        self._lock = threading.Lock()
        self._processes: list[ServerProcess] = []
        self._children: list[ProcessGroup] = []
        self.cancelled = False
        if parent is not None:
            parent._adopt(self)

    def _adopt(self, child: "ProcessGroup") -> None:
        with self._lock:
            self._children.append(child)
            child.cancelled = child.cancelled or self.cancelled

    def add(self, proc: "ServerProcess") -> None:
        with self._lock:
            if not self.cancelled:
                self._processes.append(proc)
                return
        proc.stop(timeout=5)
        raise Cancelled(f"{proc.name}: startup cancelled")

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled("startup cancelled")

    def cancel(self, timeout: float = 10.0) -> None:
        with self._lock:
            self.cancelled = True
            processes, children = list(self._processes), list(self._children)
        for child in children:
            child.cancel(timeout=timeout)
        stop_all(processes, timeout=timeout)


# -- one server --------------------------------------------------------------------------

_ERROR_LINE = re.compile(r"\[ERROR\]|error|fatal|failed|can't|could not|cannot|denied", re.IGNORECASE)


class ServerProcess:
    """A child process with its output in `<directory>/<name>.log`."""

    def __init__(self, name: str, argv: Sequence[str], directory: Path, *, port: int | None = None):
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.port = port
        self.log_path = Path(directory) / f"{name.replace(' ', '-')}.log"
        self._popen: subprocess.Popen | None = None
        self._log_offset = 0  # where this run's output starts (a retry appends to the same log)

    def start(self, group: ProcessGroup | None = None) -> "ServerProcess":
        def spawn():
            if group is not None:
                group.check()
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "ab") as log:
                self._log_offset = log.tell()
                try:
                    self._popen = subprocess.Popen(
                        self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        cwd=self.log_path.parent, preexec_fn=_die_with_parent,
                        # Its own session: a Ctrl-C in the terminal reaches pytest, which then
                        # stops the servers in order, instead of reaching the servers directly.
                        start_new_session=True,
                    )
                except OSError as exc:
                    raise EngineError(f"{self.name}: cannot run {self.argv[0]}: {exc.strerror or exc}") from None
            if group is not None:
                group.add(self)
            return self

        return _spawner.call(spawn)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def wait_ready(self, probe: Callable[[], object], *, timeout: float) -> float:
        """Poll probe until it is truthy; seconds taken. Fails early if the server exits."""
        try:
            converged = wait_until(lambda: (not self.alive) or probe(), timeout=timeout,
                                   what=f"{self.name} ready")
        except DeadlineExceeded:
            raise StartTimeout(f"{self.name} not ready within {timeout:g}s; "
                               f"last log line: {self.log_excerpt()} (log: {self.log_path})") from None
        if not self.alive:
            raise self.exit_error()
        return converged.seconds

    def wait_exit(self, *, timeout: float) -> int:
        """For a tool (not a server): wait for it to finish, stop it at the deadline."""
        try:
            return self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(timeout=5)
            raise StartTimeout(f"{self.name} did not finish within {timeout:g}s; "
                               f"last log line: {self.log_excerpt()} (log: {self.log_path})") from None

    def exit_error(self) -> EngineError:
        log = self.log_text()
        if self.port and ("Address already in use" in log or "errno: 98" in log.lower()):
            return PortBusy(f"{self.name}: port {self.port} on 127.0.0.1 is already in use "
                            f"(log: {self.log_path})", self.port)
        return StartFailed(f"{self.name} exited with code {self.returncode} while starting: "
                           f"{self.log_excerpt()} (log: {self.log_path})")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to timeout, then SIGKILL. Safe to call again."""
        stop_all([self], timeout=timeout)

    def log_text(self) -> str:
        """This run's output (the end of it)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(self._log_offset, log.seek(0, os.SEEK_END) - 20000))
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_excerpt(self) -> str:
        """The line of the log most likely to explain a failure."""
        lines = [line.strip() for line in self.log_text().splitlines() if line.strip()]
        if not lines:
            return "(empty log)"
        for line in reversed(lines[-30:]):
            if _ERROR_LINE.search(line):
                return line
        return lines[-1]

    def __repr__(self) -> str:
        return f"ServerProcess({self.name!r}, pid={self.pid}, port={self.port})"


def stop_all(processes: Iterable[ServerProcess], *, timeout: float = 10.0) -> None:
    """Stop several servers together: signal them all first, then wait with one deadline."""
    running = [proc for proc in processes if proc.alive]
    for proc in running:
        _signal(proc, signal.SIGTERM)
    if not running:
        return
    try:
        wait_until(lambda: not any(proc.alive for proc in running), timeout=timeout,
                   what="servers stopped")
    except DeadlineExceeded:
        for proc in running:
            if proc.alive:
                _signal(proc, signal.SIGKILL)
        for proc in running:
            try:
                proc._popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass  # unkillable (D state): nothing more a user process can do
    _kill_stragglers([proc.pid for proc in running])


def _kill_stragglers(groups: list[int]) -> None:
    # A shell script (mariadb-install-db) leaves subshells and a bootstrap server behind
    # when it is stopped; they share its process group. Servers leave nothing: no-op.
    left = [pgid for pgid in groups if _live_members(pgid)]
    for pgid in left:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        try:
            wait_until(lambda: not any(_live_members(pgid) for pgid in left), timeout=5,
                       what="leftover processes killed")
        except DeadlineExceeded:
            pass


def _live_members(pgid: int) -> list[int]:
    """Processes of group pgid that have not exited (zombies do not count: an orphan is
    reaped by init, which in some containers never happens). Linux only; else []."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            members.append(int(entry))
    return members


def _signal(proc: ServerProcess, signum: int) -> None:
    # The whole process group (each child leads its own session): mariadb-install-db is a
    # shell script whose subshells and bootstrap server would outlive a signal to the shell.
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:  # not our group after all (pid reused): the process alone
        try:
            proc._popen.send_signal(signum)
        except ProcessLookupError:
            pass

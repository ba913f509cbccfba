"""A warm grading worker for `dblab grade`: one interpreter start for many students.

`python -m dblab.grade_worker WARM-UP-ARGS...` imports, once, everything a grading run imports:
pytest and its plugins, the repository's conftest, fixtures, grading and suites (through a
`pytest --collect-only` of the grading options, so that pytest rewrites their asserts as it
would), and botocore's service models for the services the checks call. Then it grades students
in turn, each in a child forked from that warm state, as isolated as a fresh process: the child
takes exactly the environment dblab grade built for that student (the instructor's, scrubbed,
plus the student's credentials), writes to that student's log, runs `pytest.main(args)` and
exits with its status (os._exit: pytest has torn the run down by then, and the exit handlers
are the worker's). Nothing of one child reaches the next: each starts from the worker's state,
never from another child's. The worker starts no thread, so that forking it is safe, and
freezes its objects for the garbage collector, so that no child walks (and copies) them.

Protocol, one JSON object a line. dblab grade writes a job on the worker's stdin:
  {"student", "args" (pytest's), "env", "log", "cwd", "timeout" (seconds)}
and the worker answers on its stdout, when the child has ended:
  {"student", "status"} the child's exit status, or {"student", "signal"} the signal that ended it,
  with "timed_out": true when the worker killed it after the job's timeout (SIGKILL), or
  {"student", "error"} when no child could be started.
The end of stdin or SIGTERM stops the worker, and its child first (SIGTERM, then SIGKILL).
dblab grade starts each worker in a process group of its own, so that killing the group
leaves no child behind even when the worker cannot answer (WorkerProcess, below).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

# The services the checks, the preflight and the lookups call: their models load once, here.
SERVICES = ("ec2", "rds", "elasticache", "dynamodb", "dynamodbstreams", "sts", "ssm")
# Modules a grading run imports lazily, after collection (none of them is rewritten by pytest:
# only conftest, test modules and the plugins pytest loads are).
LATE_IMPORTS = ("encodings.idna", "grading.class_page", "grading.evidence", "grading.preflight",
                "grading.reports", "grading.scorecard", "provisioning.dataplane_errors", "provisioning.journal",
                "provisioning.readonly")
STOP_GRACE = 3.0  # seconds a stopped child has to end before SIGKILL


class Stopped(Exception):
    """SIGTERM, or the end of stdin: dblab grade is done with this worker."""


# --- the worker side ---------------------------------------------------------------------------

def warm(args: list[str]) -> None:
    """Import what a grading run imports, then preload botocore's models."""
    import pytest

    try:
        pytest.main(args)  # --collect-only: nothing runs, no account is called
    except Exception:  # noqa: BLE001 - each grading run meets it again and says so in its log
        pass
    share_botocore_models()
    import importlib

    for name in LATE_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def share_botocore_models() -> None:
    """Every botocore session of this worker and of its children reads one loader, loaded here.

    A boto3.Session parses each service's JSON model again (ec2's is megabytes): about 0.3 s of a
    grading run. The loader holds botocore's model files only, never credentials, and each child
    has its own copy of it (fork); sessions, credentials and clients stay the child's own.
    """
    import boto3
    import botocore.loaders
    import botocore.session

    loaders: dict = {}
    create_loader = botocore.loaders.create_loader

    def shared_loader(search_path_string=None):
        if search_path_string not in loaders:
            loaders[search_path_string] = create_loader(search_path_string)
        return loaders[search_path_string]

    botocore.session.create_loader = shared_loader  # what botocore.session.Session calls
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="warm-up", aws_secret_access_key="warm-up")
    for service in SERVICES:
        session.client(service, endpoint_url="http://127.0.0.1:9")  # made, never called
    session.resource("dynamodb", endpoint_url="http://127.0.0.1:9")


class Lines:
    """JSON lines from a file descriptor, read without blocking the wait for a child."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = b""
        self.closed = False

    def pop(self) -> dict | None:
        line, newline, rest = self.buffer.partition(b"\n")
        if not newline:
            return None
        self.buffer = rest
        return json.loads(line)

    def fill(self) -> None:
        data = os.read(self.fd, 65536)
        self.closed = not data
        self.buffer += data


def _raise_stopped(signum, frame):
    raise Stopped()


def serve(warm_up_args: list[str]) -> int:
    jobs = Lines(os.dup(0))
    replies = os.dup(1)
    # Whatever the worker or pytest prints goes nowhere; each child prints to its student's log.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # dblab grade stops its workers itself
    warm(warm_up_args)
    signal.signal(signal.SIGTERM, _raise_stopped)  # after the warm-up: pytest's plugin sets its own
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # see the docstring
    try:
        while True:
            job = jobs.pop()
            if job is None:
                select.select([jobs.fd], [], [])
                jobs.fill()
                if jobs.closed:
                    return 0
                continue
            reply = grade(job, jobs, close_in_child=(jobs.fd, replies))
            os.write(replies, (json.dumps(reply) + "\n").encode())
    except (Stopped, BrokenPipeError):
        return 0


def grade(job: dict, jobs: Lines, close_in_child: tuple[int, ...]) -> dict:
    # SIGTERM waits until the child has its own handler, and the worker knows the child's pid.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        pid = os.fork()
    except OSError as exc:  # out of processes or memory: this student only
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        return {"student": job["student"], "error": f"fork: {exc.strerror or exc}"}
    if pid == 0:
        _child(job, close_in_child)  # never returns
    pidfd = _pidfd(pid)
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        status, timed_out = _wait(pid, pidfd, jobs, job.get("timeout"))
    except BaseException:
        _stop_child(pid, pidfd)
        raise
    finally:
        if pidfd is not None:
            os.close(pidfd)
    reply = {"student": job["student"]}
    if os.WIFSIGNALED(status):
        reply["signal"] = os.WTERMSIG(status)
    else:
        reply["status"] = os.waitstatus_to_exitcode(status)
    if timed_out:
        reply["timed_out"] = True
    return reply


def _child(job: dict, close_in_child: tuple[int, ...]) -> None:
    code = 70  # EX_SOFTWARE: the child failed before pytest could say why
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # pytest's plugin sets its own, as in any run
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        for fd in close_in_child:
            os.close(fd)
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.environ.clear()  # in place: modules hold os.environ itself (default arguments)
        os.environ.update(job["env"])
        os.chdir(job["cwd"])
        import pytest

        sys.argv = [os.path.join(os.path.dirname(pytest.__file__), "__main__.py"), *job["args"]]
        code = int(pytest.main(job["args"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - said in the log, as an interpreter would
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def _wait(pid: int, pidfd: int | None, jobs: Lines, timeout: float | None) -> tuple[int, bool]:
    """The child's wait status, and whether the timeout killed it. Stopped when stdin closes."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if pidfd is None:  # not Linux 5.3+: poll
            remaining = 0.05 if remaining is None else min(0.05, remaining)
        ready, _, _ = select.select([jobs.fd] + ([pidfd] if pidfd is not None else []), [], [], remaining)
        if jobs.fd in ready:
            jobs.fill()
            if jobs.closed:  # dblab grade is gone
                raise Stopped()
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, False
        if deadline is not None and time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            return os.waitpid(pid, 0)[1], True


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _stop_child(pid: int, pidfd: int | None) -> None:
    """SIGTERM (pytest tears down, as on Ctrl-C), SIGKILL after STOP_GRACE; reaped."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping already: a second SIGTERM must not cut it short
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            remaining = max(0.0, deadline - time.monotonic())
            select.select([pidfd] if pidfd is not None else [], [], [], remaining if pidfd is not None else 0.05)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):  # reaped already
        pass


# --- dblab grade's side -------------------------------------------------------------------------

REPLY_GRACE = 30.0  # seconds beyond a job's timeout (the worker kills the child at the timeout itself)
KILL_GRACE = 5.0  # seconds a stopped worker has to end (its child first) before its group is killed


class WorkerLost(Exception):
    """The worker ended, or stopped answering, before it answered a job; the message says how."""

    def __init__(self, reason: str, accepted: bool):
        super().__init__(reason)
        self.accepted = accepted  # False: the job never reached the worker (another may take it)


class WorkerProcess:
    """One warm worker, in a process group of its own: killing the group kills its child too."""

    def __init__(self, warm_up_args: list[str], env: dict, cwd):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dblab.grade_worker", *warm_up_args], cwd=cwd, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        self.replies = Lines(self.process.stdout.fileno())

    def alive(self) -> bool:
        return self.process.poll() is None

    def grade(self, job: dict) -> dict:
        """The worker's answer to `job` (see the protocol above); WorkerLost if none comes."""
        try:
            self.process.stdin.write((json.dumps(job) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise WorkerLost(self._ended(), accepted=False) from None
        deadline = time.monotonic() + job["timeout"] + REPLY_GRACE
        while (reply := self.replies.pop()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerLost(f"the grading worker did not answer in {job['timeout'] + REPLY_GRACE:g}s",
                                 accepted=True)
            if select.select([self.replies.fd], [], [], remaining)[0]:
                self.replies.fill()
                if self.replies.closed:
                    raise WorkerLost(self._ended(), accepted=True)
        return reply

    def _ended(self) -> str:
        self.kill()  # its child too, if the worker died before it
        code = self.process.returncode
        if code is not None and code < 0:
            return f"the grading worker stopped ({signal_name(-code)})"
        return f"the grading worker exited with status {code}"

    def terminate(self) -> None:
        """SIGTERM to the worker and its child: pytest tears down as on Ctrl-C, the worker exits."""
        self._signal_group(signal.SIGTERM)

    def end(self, grace: float = KILL_GRACE) -> None:
        """Wait `grace` seconds for the worker to exit, then kill what is left of its group. Its pipes
        stay open: another thread may be reading them (close() closes them)."""
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def close(self, grace: float = KILL_GRACE) -> None:
        """Ask the worker to exit (the end of its stdin), end() it, close its pipes."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        self.end(grace)
        self.process.stdout.close()

    def kill(self) -> None:
        """SIGKILL to whatever is left of the worker's group; the worker reaped."""
        self._signal_group(signal.SIGKILL)
        self.process.wait()

    def _signal_group(self, signum: int) -> None:
        # The group outlives a worker that died before its child; Linux keeps its id unused until then.
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


class PoolStopped(Exception):
    """stop() was called: no worker is started, no job handed over."""


class WorkerPool:
    """One warm worker for each thread that grades (a job of dblab grade or dblab regrade), started
    on its first job and replaced when it dies; stop() ends every worker and its child."""

    def __init__(self, warm_up_args: list[str], env: dict, cwd):
        self.warm_up_args, self.env, self.cwd = warm_up_args, env, cwd
        self.workers: set[WorkerProcess] = set()
        self.local = threading.local()  # this thread's worker
        self.lock = threading.Lock()
        self.stopping = False

    def grade(self, job: dict) -> dict:
        """The worker's answer; a worker that died while idle is replaced and asked again, once."""
        for attempt in (1, 2):
            worker = self._worker()
            try:
                return worker.grade(job)
            except WorkerLost as exc:
                self._retire(worker)
                if exc.accepted or attempt == 2 or self.stopping:
                    raise
        raise AssertionError("unreachable")

    def _worker(self) -> WorkerProcess:
        worker = getattr(self.local, "worker", None)
        if worker is not None and worker.alive():
            return worker
        if worker is not None:
            self._retire(worker)
        with self.lock:  # stop() sees every worker started
            if self.stopping:
                raise PoolStopped()
            worker = WorkerProcess(self.warm_up_args, self.env, self.cwd)
            self.workers.add(worker)
        self.local.worker = worker
        return worker

    def _retire(self, worker: WorkerProcess) -> None:
        with self.lock:
            self.workers.discard(worker)
        self.local.worker = None
        worker.close(grace=0)

    def stop(self) -> None:
        """Ctrl-C: every worker and its child get SIGTERM (pytest tears down, as on Ctrl-C), SIGKILL
        after KILL_GRACE; returns when none is left."""
        with self.lock:
            self.stopping = True
            workers = list(self.workers)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.end()  # their threads, reading, see the end and close them

    def close(self) -> None:
        """The work is done: the workers exit (their stdin ends)."""
        with self.lock:
            workers, self.workers = list(self.workers), set()
        for worker in workers:
            worker.close()


def signal_name(number: int) -> str:
    try:
        return f"signal {number}, {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))

"""A student's file, run in a process of its own (submissions/child.py), and its classes as
objects the checks call like the suite's reference classes.

What the student's code gets: a copy of the submitted files in a working directory of its own,
an environment with no credentials (PATH, HOME and TMPDIR in that directory, the lab's RDS_HOST
and REDIS_HOST), limits on memory, CPU time, file size and open files, and connections to the
stand-ins' loopback ports only. Every call has a time limit; a call that overruns it kills the
process (the next call starts a fresh one).

What the grader gets back: the value, or SubmissionDefect, an AssertionError, so the check that
made the call fails with the reason, as it fails on any other wrong answer: an exception in the
student's code, a missing class or method, a syntax or import error, a hang, an exit, code that
runs when imported (an unguarded main()), and anything the child's guard refused (a connection
outside loopback, a process, a read of a credential variable). The grader's own troubles (the
process cannot start at all) are SandboxError.
"""

from __future__ import annotations

import itertools
import os
import reprlib
import resource
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from provisioning.local.processes import popen_dying_with_this_process

from . import wire
from .errata import erratum_hint

CHILD = Path(__file__).with_name("child.py")
LOAD_TIME_LIMIT = 20.0  # importing boto3 and the student's module
CALL_TIME_LIMIT = 5.0  # one method call; the checks' calls take milliseconds
MEMORY_LIMIT = 4 << 30  # address space: 50 threads' stacks and boto3 fit
CPU_LIMIT = 300  # seconds of CPU for the process's whole life: a spinning loop ends here at the latest
FILE_SIZE_LIMIT = 64 << 20
OPEN_FILES_LIMIT = 512


# How a call is shown in a failure: its arguments shortened (an order's items can be long).
SHORT = reprlib.Repr()
SHORT.maxlevel, SHORT.maxlist, SHORT.maxdict, SHORT.maxstring, SHORT.maxother = 2, 3, 3, 40, 40


class SubmissionDefect(AssertionError):
    """The student's code misbehaved: the check that called it fails with this reason."""


class SandboxError(RuntimeError):
    """The grader could not run the submission at all (its own problem, not the student's)."""


@dataclass(frozen=True)
class Bindings:
    """Where the student's drivers are sent: the stand-ins, on loopback."""

    mysql: dict | None = None  # host, port, user, password, database
    redis: dict | None = None  # host, port, db, password
    dynamodb: dict | None = None  # endpoint_url, region, tables {lab name: own name}

    def ports(self) -> list[int]:
        ports = [b["port"] for b in (self.mysql, self.redis) if b]
        if self.dynamodb:
            from urllib.parse import urlsplit

            ports.append(urlsplit(self.dynamodb["endpoint_url"]).port or 80)
        return ports

    def as_dict(self) -> dict:
        return {"mysql": self.mysql, "redis": self.redis, "dynamodb": self.dynamodb}

    DRIVERS = {"mysql": "pymysql", "redis": "redis", "dynamodb": "boto3"}

    def used_by(self, source: str) -> dict:
        """The bindings of the drivers the submission's code names: importing boto3 to bind it
        costs half a second, for a file that never uses it."""
        return {name: binding for name, binding in self.as_dict().items() if self.DRIVERS[name] in source}


def _limits() -> None:  # in the child, before it runs Python
    for limit, value in ((resource.RLIMIT_AS, MEMORY_LIMIT), (resource.RLIMIT_CPU, CPU_LIMIT),
                         (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT), (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT),
                         (resource.RLIMIT_CORE, 0)):
        soft, hard = resource.getrlimit(limit)
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (cap, cap))


def child_environment(workdir: Path) -> dict[str, str]:
    """Nothing of the grader's: no AWS_*, no profile, no password. The lab's apps read RDS_HOST and
    REDIS_HOST; the drivers are bound to the stand-ins whatever they say."""
    # (-I ignores PYTHON* variables: unbuffered output and no bytecode are the -u and -B flags.)
    return {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir), "LANG": "C.UTF-8",
            "RDS_HOST": "127.0.0.1", "REDIS_HOST": "127.0.0.1"}


@dataclass
class Sandbox:
    """One submitted file in its own process, started on first use."""

    source: Path  # the student's file, e.g. DIR/cache_app.py
    bindings: Bindings
    workdir: Path  # the process's own directory (emptied and filled with a copy of the submission)
    call_time_limit: float = CALL_TIME_LIMIT
    load_time_limit: float = LOAD_TIME_LIMIT
    _process: subprocess.Popen | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _pending: dict = field(default_factory=dict, init=False, repr=False)
    _ids: itertools.count = field(default_factory=itertools.count, init=False, repr=False)
    _requests: object = field(default=None, init=False, repr=False)
    _handles: dict = field(default_factory=dict, init=False, repr=False)
    _dead: str | None = field(default=None, init=False, repr=False)
    _load_defect: SubmissionDefect | None = field(default=None, init=False, repr=False)
    _stopped_for: str | None = field(default=None, init=False, repr=False)  # the call that overran its limit

    @property
    def file(self) -> str:
        return self.source.name

    # -- the process --------------------------------------------------------------------------
    def _start(self) -> None:
        __tracebackhide__ = True
        if not self.source.is_file():
            raise SubmissionDefect(f"{self.file} is not in the submission ({self.source.parent})")
        code = self.workdir / "code"
        shutil.rmtree(self.workdir, ignore_errors=True)
        code.mkdir(parents=True)
        for path in self.source.parent.glob("*.py"):  # the student's other modules, for their imports
            shutil.copy2(path, code / path.name)
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        try:
            # Killed with the grader, even by SIGKILL, whatever the student's code is doing (a pipe
            # closing ends it only while it listens); in a session of its own.
            with open(self.workdir / "output.txt", "wb") as output:
                self._process = popen_dying_with_this_process(
                    [sys.executable, "-I", "-u", "-B", str(CHILD), str(request_read), str(response_write)],
                    setup=_limits, cwd=self.workdir, env=child_environment(self.workdir),
                    pass_fds=(request_read, response_write), stdin=subprocess.DEVNULL, stdout=output,
                    stderr=subprocess.STDOUT)
        except OSError as exc:
            raise SandboxError(f"cannot start a process for {self.file}: {exc}") from None
        finally:
            os.close(request_read)
            os.close(response_write)
        self._requests = os.fdopen(request_write, "wb")
        self._dead = self._stopped_for = None
        threading.Thread(target=self._read, args=(os.fdopen(response_read, "rb"), self._process), daemon=True).start()
        source = "\n".join(path.read_text(errors="replace") for path in code.glob("*.py"))
        answer = self._ask({"op": "load", "file": str(code / self.source.name), "module": self.source.stem,
                            "bindings": self.bindings.used_by(source), "allowed_ports": self.bindings.ports()},
                           self.load_time_limit, f"importing {self.file}")
        if answer.get("activity_on_import"):
            self._kill()
            raise SubmissionDefect(f"{self.file} talks to the databases when it is imported "
                                   f"({answer['activity_on_import']} requests): guard main() with "
                                   "if __name__ == '__main__':")

    def _read(self, responses, process) -> None:
        for line in responses:
            message = wire.loads(line)
            future = self._pending.pop(message.get("id"), None)
            if future is not None:
                future.set_result(message)
        code = process.wait()
        why = f"the submission's process ended (exit code {code}, {self._signal(code)})".replace(", )", ")")
        if self._stopped_for:
            why = f"the submission's process was stopped: {self._stopped_for}"
        self._dead = why
        for future in list(self._pending.values()):
            if not future.done():
                future.set_result({"died": why})
        self._pending.clear()

    @staticmethod
    def _signal(code: int) -> str:
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            return {"SIGXCPU": "its CPU time limit", "SIGKILL": "killed"}.get(name, name)
        return ""

    def _kill(self) -> None:
        process, self._process = self._process, None
        self._handles.clear()
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()

    def close(self) -> None:
        with self._lock:
            if self._requests is not None:
                try:
                    self._requests.close()
                except OSError:
                    pass
            self._kill()

    # -- requests ------------------------------------------------------------------------------
    def _ask(self, request: dict, limit: float, what: str) -> dict:
        __tracebackhide__ = True
        request_id = next(self._ids)
        future: Future = Future()
        self._pending[request_id] = future
        try:
            with self._lock:
                self._requests.write(wire.dumps({**request, "id": request_id}))
                self._requests.flush()
        except (OSError, ValueError):
            self._pending.pop(request_id, None)
            raise SubmissionDefect(f"{self.file}: {what}: {self._dead or 'the submission process is gone'}") from None
        try:
            answer = future.result(timeout=limit)
        except FutureTimeout:
            self._pending.pop(request_id, None)
            self._stopped_for = f"{what} did not return within {limit:g} s"
            self._kill()
            raise SubmissionDefect(f"{self.file}: {what} did not return within {limit:g} s (the process was stopped)") from None
        if "died" in answer:
            self._kill()
            output = self._output_tail()
            raise SubmissionDefect(f"{self.file}: {what}: {answer['died']}{output}")
        violations = answer.get("violations") or []
        if violations:
            raise SubmissionDefect(f"{self.file}: {what}: the code " + "; ".join(violations))
        error = answer.get("error")
        if error:
            if error.get("internal"):
                raise SandboxError(f"{self.file}: {what}: {error['message']}")
            where = f" at {error['where']}" if error.get("where") else ""
            raise SubmissionDefect(f"{self.file}: {what} raised {error['type']}{where}: {error['message']}"
                                   + erratum_hint(error["message"]))
        return answer

    def _output_tail(self) -> str:
        try:
            text = (self.workdir / "output.txt").read_text(errors="replace").strip()
        except OSError:
            return ""
        return f"; its last output: {text[-300:]}" if text else ""

    def _ensure_started(self) -> None:
        __tracebackhide__ = True
        if self._load_defect is not None:  # the file cannot be imported: it will not be importable next time either
            raise self._load_defect
        if self._process is None or self._process.poll() is not None:
            self._kill()
            try:
                self._start()
            except SubmissionDefect as defect:  # missing, not importable, or busy when imported
                self._kill()
                self._load_defect = defect
                raise

    def new(self, class_name: str, attrs: dict | None = None,
            on_connects: Callable[[int], None] | None = None) -> "Remote":
        __tracebackhide__ = True
        self._ensure_started()
        answer = self._ask({"op": "new", "class": class_name, "attrs": wire.encode(attrs or {})},
                           self.call_time_limit, f"{class_name}()")
        return Remote(self, class_name, answer["handle"], self._process, on_connects)

    def call(self, remote: "Remote", method: str, args: tuple, kwargs: dict):
        if remote.process is not self._process or self._process is None:
            raise SubmissionDefect(f"{self.file}: {remote.class_name}.{method}: the submission's process was "
                                   "stopped by an earlier call that did not return")
        __tracebackhide__ = True  # the check's failure shows the student's error, not the pipe's frames
        shown = ", ".join([SHORT.repr(a) for a in args] + [f"{k}={SHORT.repr(v)}" for k, v in kwargs.items()])
        answer = self._ask({"op": "call", "handle": remote.handle, "method": method,
                            "args": wire.encode(list(args)), "kwargs": wire.encode(kwargs)},
                           self.call_time_limit, f"{remote.class_name}.{method}({shown})")
        if remote.on_connects and answer.get("connects"):
            remote.on_connects(answer["connects"])
        return wire.decode(answer["result"])


class Remote:
    """A student's class (or instance) in the sandbox: attribute access gives its methods."""

    def __init__(self, sandbox: Sandbox, class_name: str, handle: int, process, on_connects):
        self.sandbox, self.class_name, self.handle, self.process = sandbox, class_name, handle, process
        self.on_connects = on_connects

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)
        def call(*args, **kwargs):
            __tracebackhide__ = True
            return self.sandbox.call(self, method, args, kwargs)
        return call

    def __repr__(self) -> str:
        return f"<{self.sandbox.file}: {self.class_name}>"

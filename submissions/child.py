"""The submission's own process: imports the student's file and runs its classes' methods on
the grader's request, bound to the suite's local stand-ins whatever the file's configuration says.

Started by submissions/sandbox.py as `python -I child.py REQUEST_FD RESPONSE_FD` in a working
directory of its own, with an environment that holds no credentials. Before the student's code
is imported it
- binds the drivers to the stand-ins: every pymysql connection, redis connection pool and boto3
  client goes to the loopback ports the grader names (the lab's files say 'your-rds-endpoint',
  'LabPassword123!', ...), and counts the database connections (cache-aside is judged by them);
- refuses, through an audit hook, every connection outside those loopback ports and every
  process the code would start, and records it as a violation;
- watches os.environ: the student's code reading a credential variable (AWS_*, *SECRET*,
  *TOKEN*, *PASSWORD*) is a violation, although there is nothing there to read;
- refuses what would change the servers for the submissions graded after it: DDL and account
  statements, Redis server commands, DynamoDB operations other than item reads and writes.
A violation fails the check that caused it. This is containment for honest mistakes and curious
code (rlimits and the empty environment are set by the parent), not a security boundary against
code written to escape it (ctypes, /proc): grade untrusted code on a machine that holds nothing else.

Requests and answers are JSON lines (submissions/wire.py) on two pipes of their own, so the
student's prints never mix with them; calls run on threads of their own, so concurrent requests
from the grader run concurrently here (a racy rate limiter races as it would in production).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import sys
import queue
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the suite's root: submissions.wire

from submissions import wire  # noqa: E402

CREDENTIAL_NAMES = re.compile(r"^AWS_|SECRET|TOKEN|PASSWORD|CREDENTIAL|ACCESS_KEY", re.IGNORECASE)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
COMMAND_PAUSE = 0.001  # seconds before each Redis command (see bind_drivers)

# What the student's code may not do to the servers it shares with the grader and the other
# submissions (graded one after another in one lab): a DROP TABLE or a FLUSHALL would fail the
# next student's checks. Rows, keys and items are the code's; the schema and the servers are not.
SQL_HEAD = re.compile(r"^\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*|#[^\n]*\n\s*)*(\w+(?:\s+\w+)?)", re.DOTALL)
SQL_REFUSED_WORDS = {"DROP", "TRUNCATE", "ALTER", "RENAME", "GRANT", "REVOKE", "KILL", "SHUTDOWN", "FLUSH", "RESET",
                     "PURGE", "INSTALL", "UNINSTALL", "LOAD"}
SQL_REFUSED_HEADS = {"CREATE USER", "CREATE DATABASE", "CREATE SCHEMA", "CREATE ROLE", "SET GLOBAL", "CHANGE MASTER",
                     "STOP SLAVE", "START SLAVE", "STOP REPLICA", "START REPLICA", "SET PASSWORD", "DROP USER"}
REDIS_REFUSED = {"FLUSHALL", "FLUSHDB", "CONFIG", "SHUTDOWN", "DEBUG", "SLAVEOF", "REPLICAOF", "ACL", "SWAPDB",
                 "MIGRATE", "MODULE", "FAILOVER", "SCRIPT FLUSH", "SCRIPT KILL", "FUNCTION FLUSH", "FUNCTION DELETE",
                 "FUNCTION RESTORE", "BGSAVE", "BGREWRITEAOF", "SAVE", "CLIENT KILL", "CLIENT PAUSE"}
DYNAMODB_ALLOWED = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchWriteItem",
                    "BatchGetItem", "TransactWriteItems", "TransactGetItems", "DescribeTable", "ListTables",
                    "DescribeTimeToLive"}
CALL_THREADS = 64  # concurrent calls: the checks send up to 50 at once


class Guard:
    """What the student's code did that it must not: recorded, and refused where it can be."""

    def __init__(self, code_dir: str, allowed_ports: set[int]):
        self.code_dir = code_dir
        self.allowed_ports = allowed_ports
        self.violations: list[str] = []
        self.activity = 0  # commands sent to the stand-ins (a main() run on import shows here)
        self.connects = 0  # database connections opened
        self.lock = threading.Lock()

    def violation(self, what: str) -> None:
        with self.lock:
            if what not in self.violations:
                self.violations.append(what)

    def take(self) -> tuple[list[str], int]:
        with self.lock:
            violations, connects = list(self.violations), self.connects
            self.violations.clear()
            self.connects = 0
            return violations, connects

    def from_student(self) -> str | None:
        """`file:line` of the student's frame nearest the caller, if the student's code is on the stack."""
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename.startswith(self.code_dir):
                return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
            frame = frame.f_back
        return None

    def direct_caller(self) -> str | None:
        """`file:line` when the student's own code made the read (os.getenv or os.environ directly),
        not a library it called (botocore reads AWS_* variables of its own accord)."""
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename in (os.__file__, __file__):
            frame = frame.f_back
        if frame is not None and frame.f_code.co_filename.startswith(self.code_dir):
            return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
        return None

    def audit(self, event: str, args) -> None:
        if event == "socket.connect":
            sock, address = args
            family = getattr(sock, "family", None)
            if family is not None and family.name == "AF_UNIX":
                where = self.from_student()
                self.violation(f"opened a unix socket {address!r}" + (f" ({where})" if where else ""))
                raise PermissionError(f"dblab: the submission may not open unix sockets ({address!r})")
            if isinstance(address, tuple) and len(address) >= 2:
                host, port = address[0], address[1]
                if host not in LOOPBACK or port not in self.allowed_ports:
                    where = self.from_student()
                    self.violation(f"opened a connection to {host}:{port}" + (f" ({where})" if where else "")
                                   + ": only the lab's servers on loopback are reachable")
                    raise PermissionError(f"dblab: connection to {host}:{port} refused: the submission may reach "
                                          "only the lab's servers")
        elif event in ("socket.sendto", "socket.sendmsg"):
            address = args[-1] if args else None
            if isinstance(address, tuple) and address and address[0] not in LOOPBACK:
                self.violation(f"sent a datagram to {address[0]}")
                raise PermissionError("dblab: the submission may not send datagrams outside loopback")
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                       "os.forkpty", "pty.spawn"):
            where = self.from_student()
            self.violation(f"started a process ({event})" + (f" at {where}" if where else ""))
            raise PermissionError(f"dblab: the submission may not start processes ({event})")


class WatchedEnviron(dict):
    """os.environ for the student's code: a read of a credential variable from the student's
    own file is recorded (the value is absent anyway: the parent passes none)."""

    def __init__(self, values, guard: Guard):
        super().__init__(values)
        self.guard = guard

    def _watch(self, key) -> None:
        if isinstance(key, str) and CREDENTIAL_NAMES.search(key):
            where = self.guard.direct_caller()
            if where:
                self.guard.violation(f"read the credential variable {key} from the environment ({where})")

    def __getitem__(self, key):
        self._watch(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._watch(key)
        return super().get(key, default)

    def __contains__(self, key):
        self._watch(key)
        return super().__contains__(key)

    def copy(self):
        return dict(self)


def bind_drivers(bindings: dict, guard: Guard) -> None:
    """Every connection the student's code opens goes to the stand-ins (see the module docstring)."""
    mysql, redis_binding, dynamodb = bindings.get("mysql"), bindings.get("redis"), bindings.get("dynamodb")
    if mysql:
        import pymysql.connections

        original_init = pymysql.connections.Connection.__init__

        def connection_init(self, *args, **kwargs):
            kwargs.update(host=mysql["host"], port=mysql["port"], user=mysql["user"], password=mysql["password"],
                          database=mysql["database"])
            kwargs.pop("unix_socket", None)
            kwargs.pop("ssl", None)
            with guard.lock:
                guard.connects += 1
                guard.activity += 1
            original_init(self, **kwargs)

        pymysql.connections.Connection.__init__ = connection_init
        original_query = pymysql.connections.Connection.query

        def query(self, sql, unbuffered=False):
            statement = sql.decode(errors="replace") if isinstance(sql, (bytes, bytearray)) else str(sql)
            head = SQL_HEAD.match(statement)
            words = head.group(1).upper().split() if head else []
            if words and (words[0] in SQL_REFUSED_WORDS or " ".join(words) in SQL_REFUSED_HEADS):
                what = " ".join(words)
                guard.violation(f"ran {what} ...: a submission may read and write rows, not change the lab's "
                                "schema, accounts or server")
                raise PermissionError(f"dblab: {what} is refused: the submission shares the lab's database")
            return original_query(self, sql, unbuffered)

        pymysql.connections.Connection.query = query
    if redis_binding:
        import redis

        original_pool_init = redis.ConnectionPool.__init__

        def pool_init(self, connection_class=redis.Connection, max_connections=None, **kwargs):
            for key in [k for k in kwargs if k.startswith("ssl") or k == "path"]:
                kwargs.pop(key)
            kwargs.update(host=redis_binding["host"], port=redis_binding["port"], db=redis_binding.get("db", 0),
                          password=redis_binding.get("password"), username=None)
            original_pool_init(self, connection_class=redis.Connection, max_connections=max_connections, **kwargs)

        redis.ConnectionPool.__init__ = pool_init
        original_execute = redis.Redis.execute_command

        def refuse_server_commands(commands) -> None:
            for command in commands:
                words = [w.decode() if isinstance(w, bytes) else str(w) for w in command[:2]]
                name = words[0].upper() if words else ""
                full = " ".join(w.upper() for w in words)
                if name in REDIS_REFUSED or full in REDIS_REFUSED:
                    shown = full if full in REDIS_REFUSED else name
                    guard.violation(f"sent {shown}: a submission may use its keys, not flush or reconfigure "
                                    "the lab's Redis")
                    raise PermissionError(f"dblab: {shown} is refused: the submission shares the lab's Redis")

        def execute_command(self, *args, **options):
            refuse_server_commands([args])
            with guard.lock:
                guard.activity += 1
            # Schedule noise: a real server under load leaves time between two commands of one
            # request; here the loopback round trip is too short for concurrent requests to
            # interleave. A pause before each command lets a read-then-write race (the lab's
            # rate limiter) show as it would in production; atomic code (INCR, MULTI, Lua) is
            # not affected.
            time.sleep(COMMAND_PAUSE)
            return original_execute(self, *args, **options)

        redis.Redis.execute_command = execute_command
        original_pipeline_execute = redis.client.Pipeline.execute

        def pipeline_execute(self, raise_on_error=True):
            refuse_server_commands([args for args, _ in self.command_stack])
            return original_pipeline_execute(self, raise_on_error)

        redis.client.Pipeline.execute = pipeline_execute
    if dynamodb:
        import boto3.session

        def bound(method):
            def make(self, service_name, *args, **kwargs):
                kwargs.update(endpoint_url=dynamodb["endpoint_url"], region_name=dynamodb["region"],
                              aws_access_key_id="dblab-submission", aws_secret_access_key="dblab-submission",
                              aws_session_token=None)
                made = method(self, service_name, *args, **kwargs)
                client = getattr(getattr(made, "meta", None), "client", made)
                client.meta.events.register("before-call", _count_call)
                tables = dynamodb.get("tables") or {}
                if tables:
                    client.meta.events.register("before-parameter-build.dynamodb", _rename_tables(tables))
                return made
            return make

        def _count_call(model=None, **_):
            name = getattr(model, "name", "")
            if name not in DYNAMODB_ALLOWED:
                guard.violation(f"called DynamoDB {name}: a submission may read and write items, not create, "
                                "change or delete tables")
                raise PermissionError(f"dblab: DynamoDB {name} is refused: the submission shares the lab's table")
            with guard.lock:
                guard.activity += 1

        boto3.session.Session.resource = bound(boto3.session.Session.resource)
        boto3.session.Session.client = bound(boto3.session.Session.client)
        boto3.DEFAULT_SESSION = None


def _rename_tables(tables: dict):
    """The lab's table name -> this submission's own table (each submission gets its own)."""
    def rename(params, **_):
        if params.get("TableName") in tables:
            params["TableName"] = tables[params["TableName"]]
        if isinstance(params.get("RequestItems"), dict):
            params["RequestItems"] = {tables.get(k, k): v for k, v in params["RequestItems"].items()}
    return rename


class Worker:
    def __init__(self, requests, responses):
        self.requests, self.responses = requests, responses
        self.write_lock = threading.Lock()
        self.module = None
        self.guard: Guard | None = None
        self.objects: dict[int, object] = {}
        self.file = ""

    def send(self, message: dict) -> None:
        data = wire.dumps(message)
        with self.write_lock:
            self.responses.write(data)
            self.responses.flush()

    def error(self, exc: BaseException) -> dict:
        """The student's error as the check will show it: type, message, and where in their file."""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(self.guard.code_dir)]
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
        message = str(exc) if not isinstance(exc, SystemExit) else f"exit code {exc.code}"
        return {"type": type(exc).__name__, "message": message[:2000], "where": where}

    def load(self, request: dict) -> dict:
        code_dir = str(Path(request["file"]).resolve().parent) + os.sep
        self.guard = Guard(code_dir, set(request["allowed_ports"]))
        self.file = Path(request["file"]).name
        bind_drivers(request["bindings"], self.guard)
        sys.addaudithook(self.guard.audit)
        os.environ = WatchedEnviron(os.environ, self.guard)
        sys.path.insert(0, code_dir)
        spec = importlib.util.spec_from_file_location(request["module"], request["file"])
        module = importlib.util.module_from_spec(spec)
        sys.modules[request["module"]] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:  # SyntaxError, ImportError, SystemExit...: the student's file
            return {"error": self.error(exc), **self._report()}
        self.module = module
        activity = self.guard.activity
        self.guard.activity = 0
        return {"ok": True, "activity_on_import": activity, **self._report()}

    def _report(self) -> dict:
        violations, connects = self.guard.take()
        return {"violations": violations, "connects": connects}

    def new(self, request: dict) -> dict:
        cls = getattr(self.module, request["class"], None)
        if not inspect.isclass(cls):
            return {"error": {"type": "MissingClass", "where": "",
                              "message": f"{self.file} has no class {request['class']}"}}
        for name, value in (request.get("attrs") or {}).items():
            setattr(cls, name, wire.decode(value))
        try:
            required = [p for p in inspect.signature(cls).parameters.values()
                        if p.default is inspect.Parameter.empty
                        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
        except (TypeError, ValueError):
            required = []
        try:
            # The lab's classes take nothing (their state is the module's clients) or are used
            # through static methods; one that needs arguments is used as the class itself.
            target = cls() if not required else cls
        except BaseException as exc:
            return {"error": self.error(exc), **self._report()}
        handle = id(target)
        self.objects[handle] = target
        return {"handle": handle, **self._report()}

    def call(self, request: dict) -> dict:
        target = self.objects[request["handle"]]
        method = getattr(target, request["method"], None)
        if not callable(method):
            return {"error": {"type": "MissingMethod", "where": "",
                              "message": f"{self.file}: {type(target).__name__ if not inspect.isclass(target) else target.__name__} "
                                         f"has no method {request['method']}"}}
        args = wire.decode(request.get("args") or [])
        kwargs = wire.decode(request.get("kwargs") or {})
        try:
            result = method(*args, **kwargs)
        except BaseException as exc:
            return {"error": self.error(exc), **self._report()}
        return {"result": wire.encode(result), **self._report()}

    def answer(self, request: dict) -> None:
        op = request["op"]
        try:
            answer = {"load": self.load, "new": self.new, "call": self.call}[op](request)
        except BaseException as exc:  # the worker's own fault: report it rather than die silently
            answer = {"error": {"type": type(exc).__name__, "message": f"dblab worker: {exc}", "where": "",
                                "internal": True}}
        answer["id"] = request.get("id")
        self.send(answer)

    def serve(self) -> None:
        # Threads started up front: concurrent requests start within microseconds of each other,
        # as they would on a server, instead of one thread start apart.
        calls: queue.Queue = queue.Queue()

        def answer_calls() -> None:
            while True:
                self.answer(calls.get())

        for _ in range(CALL_THREADS):
            threading.Thread(target=answer_calls, daemon=True).start()
        for line in self.requests:
            request = wire.loads(line)
            if request["op"] == "load":
                self.answer(request)  # before any call: the module must exist
            else:
                calls.put(request)


def main() -> None:
    requests = os.fdopen(int(sys.argv[1]), "rb")
    responses = os.fdopen(int(sys.argv[2]), "wb")
    Worker(requests, responses).serve()
    # The grader closed the pipe: end now, whatever threads the student's code left running.
    os._exit(0)


if __name__ == "__main__":
    main()

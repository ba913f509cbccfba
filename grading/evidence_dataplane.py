"""The data plane's answers as evidence: recorded while a grade reads the student's MySQL and
Redis (through a tunnel or given URLs), and served back in a regrade.

Recording wraps what `lab.mysql_endpoint()` and `lab.redis_endpoint()` hand to the checks:
- MySQL: each connection (or its refusal), and every query a cursor runs, with its arguments,
  answered by its rows, description, row count and last row id, or its error;
- Redis: the connection's commands (`execute_command`: INFO, CONFIG GET, SCAN, TTL, GET,
  ZREVRANGE...), answered by the parsed reply, or the error.
A regrade binds, for each server the grade reached, an endpoint of the same description whose
connections answer from the evidence; a server the grade had no binding for stays unbound
(not reachable, as it was).
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.dataplane import DataPlane

MYSQL, REDIS = "mysql", "redis"


def _error_answer(error: BaseException) -> dict:
    return {"error": {"module": type(error).__module__, "type": type(error).__name__,
                      "args": [arg if isinstance(arg, (str, int, float)) else repr(arg) for arg in error.args]}}


def _raise_recorded(answer: dict) -> None:
    """Raise the error recorded in `answer` as its own class (pymysql's, redis's), if it was one."""
    error = answer.get("error")
    if error is None:
        return
    import importlib

    try:
        kind = getattr(importlib.import_module(error["module"]), error["type"])
    except (ImportError, AttributeError):
        kind = RuntimeError
    if not (isinstance(kind, type) and issubclass(kind, BaseException)):
        kind = RuntimeError
    raise kind(*error["args"])


# --- recording -------------------------------------------------------------------------------

class _RecordingEndpoint:
    """An endpoint as the checks know it (host, port, describe()), whose connections record."""

    def __init__(self, endpoint, recorder, kind: str, name: str):
        self._endpoint, self._recorder, self._kind, self._name = endpoint, recorder, kind, name

    def __getattr__(self, attribute):
        return getattr(self._endpoint, attribute)

    def connect(self, **kwargs):
        try:
            connection = self._endpoint.connect(**kwargs)
            if self._kind == MYSQL:  # pymysql connects here; redis-py at its first command
                self._recorder.add(MYSQL, self._name, {"connect": True}, {"ok": True})
        except Exception as error:
            self._recorder.add(self._kind, self._name, {"connect": True}, _error_answer(error))
            raise
        if self._kind == MYSQL:
            return _RecordingConnection(connection, self._recorder, self._name)
        return _recording_redis(connection, self._recorder, self._name)


class _RecordingConnection:
    def __init__(self, connection, recorder, name: str):
        self._connection, self._recorder, self._name = connection, recorder, name

    def __getattr__(self, attribute):
        return getattr(self._connection, attribute)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._connection.close()

    def cursor(self, cursor=None):
        real = self._connection.cursor(cursor) if cursor is not None else self._connection.cursor()
        return _RecordingCursor(real, self._recorder, self._name, dict_rows=cursor is not None
                                and "Dict" in getattr(cursor, "__name__", ""))


class _RecordingCursor:
    def __init__(self, cursor, recorder, name: str, dict_rows: bool):
        self._cursor, self._recorder, self._name, self._dict = cursor, recorder, name, dict_rows

    def __getattr__(self, attribute):
        return getattr(self._cursor, attribute)

    def __iter__(self):
        return iter(self._cursor)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._cursor.close()

    def execute(self, query, args=None):
        request = {"query": query, "args": args, "dict_rows": self._dict}
        try:
            result = self._cursor.execute(query, args)
        except Exception as error:
            self._recorder.add(MYSQL, self._name, request, _error_answer(error))
            raise
        rows = list(self._cursor._rows or ())  # buffered: the whole answer is already here
        self._recorder.add(MYSQL, self._name, request, {
            "result": result, "rows": rows, "rowcount": self._cursor.rowcount, "lastrowid": self._cursor.lastrowid,
            "description": [list(column) for column in self._cursor.description or ()]})
        return result


def _recording_redis(client, recorder, name: str):
    base = type(client)

    class RecordingRedis(base):
        def execute_command(self, *args, **options):
            request = {"command": [str(arg) if isinstance(arg, bytes) else arg for arg in args]}
            try:
                reply = super().execute_command(*args, **options)
            except Exception as error:
                recorder.add(REDIS, name, request, _error_answer(error))
                raise
            recorder.add(REDIS, name, request, {"reply": reply})
            return reply

    client.__class__ = RecordingRedis  # the same client, its commands seen on their way back
    return client


def recording_dataplane(dataplane: DataPlane, recorder) -> DataPlane:
    """`dataplane` with every binding recording its answers into `recorder`."""
    return DataPlane(
        mysql={name: _RecordingEndpoint(endpoint, recorder, MYSQL, name) for name, endpoint in dataplane.mysql.items()},
        redis={role: _RecordingEndpoint(endpoint, recorder, REDIS, role) for role, endpoint in dataplane.redis.items()},
        engine_note=dataplane.engine_note)


def bindings(dataplane: DataPlane) -> dict:
    """What the manifest keeps of the data plane: each bound server's description."""
    return {MYSQL: {name: endpoint.describe() for name, endpoint in dataplane.mysql.items()},
            REDIS: {role: endpoint.describe() for role, endpoint in dataplane.redis.items()},
            "engine_note": dataplane.engine_note}


# --- serving ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _ReplayEndpoint:
    replay: object  # grading/evidence_replay.EvidenceReplay
    kind: str
    name: str
    description: str
    host: str = "evidence.invalid"  # never dialled
    port: int = 0

    def describe(self) -> str:
        return self.description

    def connect(self, **kwargs):
        if self.kind == MYSQL:
            _raise_recorded(self.replay.data_answer(MYSQL, self.name, {"connect": True}))
            return _ReplayConnection(self.replay, self.name)
        return _replay_redis(self.replay, self.name)


class _ReplayConnection:
    open = True

    def __init__(self, replay, name: str):
        self._replay, self._name = replay, name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.open = False

    def ping(self, reconnect=False):
        return None

    def commit(self):
        return None

    def rollback(self):
        return None

    def cursor(self, cursor=None):
        return _ReplayCursor(self._replay, self._name,
                             dict_rows=cursor is not None and "Dict" in getattr(cursor, "__name__", ""))


class _ReplayCursor:
    def __init__(self, replay, name: str, dict_rows: bool):
        self._replay, self._name, self._dict = replay, name, dict_rows
        self._rows, self._next = [], 0
        self.description, self.rowcount, self.lastrowid = None, -1, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        pass

    def execute(self, query, args=None):
        answer = self._replay.data_answer(MYSQL, self._name, {"query": query, "args": args, "dict_rows": self._dict})
        _raise_recorded(answer)
        self._rows = [row if isinstance(row, dict) else tuple(row) for row in answer["rows"]]
        self._next = 0
        self.description = tuple(tuple(column) for column in answer["description"]) or None
        self.rowcount, self.lastrowid = answer["rowcount"], answer["lastrowid"]
        return answer["result"]

    def fetchone(self):
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchmany(self, size=1):
        rows = self._rows[self._next:self._next + size]
        self._next += len(rows)
        return rows

    def fetchall(self):
        rows = self._rows[self._next:]
        self._next = len(self._rows)
        return rows

    def __iter__(self):
        return iter(self.fetchall())


def _replay_redis(replay, name: str):
    import redis

    class ReplayRedis(redis.Redis):
        def execute_command(self, *args, **options):
            request = {"command": [str(arg) if isinstance(arg, bytes) else arg for arg in args]}
            answer = replay.data_answer(REDIS, name, request)
            _raise_recorded(answer)
            return answer["reply"]

    return ReplayRedis(host="evidence.invalid", decode_responses=True)


def replay_dataplane(replay, manifest: dict) -> DataPlane:
    """The servers the grade reached, answering from the evidence; no others."""
    recorded = manifest.get("dataplane") or {}
    return DataPlane(
        mysql={name: _ReplayEndpoint(replay, MYSQL, name, text) for name, text in recorded.get(MYSQL, {}).items()},
        redis={role: _ReplayEndpoint(replay, REDIS, role, text) for role, text in recorded.get(REDIS, {}).items()},
        engine_note=recorded.get("engine_note", ""))


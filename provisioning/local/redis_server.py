"""A Redis primary and replica standing in for the lab's ElastiCache replication group."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import naming
from ..dataplane import RedisEndpoint
from .processes import PortBusy, ProcessGroup, ServerProcess, free_port, stop_all
from . import binaries

log = logging.getLogger("dblab.engines")

HOST = "127.0.0.1"
PRIMARY, REPLICA = "primary", "replica"
PORT_ATTEMPTS = 3  # a port picked by free_port() can be taken before the server binds it

# No persistence (throwaway data), and a disk-based first sync: with diskless sync the
# primary waits ~5 s for more replicas before the first full sync.
# Keep the full command line visible (redis otherwise retitles itself "redis-server
# 127.0.0.1:PORT"), so `pgrep -f <workdir>` finds a run's servers.
_COMMON = ["--bind", HOST, "--save", "", "--appendonly", "no", "--repl-diskless-sync", "no",
           "--daemonize", "no", "--logfile", "", "--set-proc-title", "no",
           # a database of its own for each submission graded as code (naming.submission_redis_db)
           "--databases", str(naming.SUBMISSION_REDIS_DATABASES)]


@dataclass
class RedisPair:
    primary: RedisEndpoint
    replica: RedisEndpoint
    version: str  # e.g. "7.0.15"
    _processes: dict = field(repr=False)

    def pids(self) -> list[int]:
        return [proc.pid for proc in self._processes.values() if proc.alive]

    def log_paths(self) -> dict[str, Path]:
        return {role: proc.log_path for role, proc in self._processes.items()}

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both servers. Safe to call again."""
        stop_all([self._processes[REPLICA], self._processes[PRIMARY]], timeout=timeout)


def start_redis_pair(workdir: Path, *, primary_port: int = 0, replica_port: int = 0, timeout: float = 15.0,
                     group: ProcessGroup | None = None) -> RedisPair:
    """A primary and a replica of it; returns once the replica's link to the primary is up.

    Ports 0 pick free ones. On failure everything started is stopped before raising.
    """
    server = binaries.find_binary(binaries.REDIS_SERVER)
    workdir = Path(workdir).resolve()
    own = ProcessGroup(parent=group)
    deadline = time.monotonic() + timeout
    processes: dict[str, ServerProcess] = {}
    try:
        # Sequential on purpose: each is ready in milliseconds, and the replica's
        # --replicaof needs the port the primary really got.
        processes[PRIMARY] = _launch(server, workdir / PRIMARY, PRIMARY, primary_port, [], own, deadline)
        processes[REPLICA] = _launch(server, workdir / REPLICA, REPLICA, replica_port,
                                     ["--replicaof", HOST, str(processes[PRIMARY].port)], own, deadline)
        replica = RedisEndpoint(HOST, processes[REPLICA].port)
        processes[REPLICA].wait_ready(lambda: _link_up(replica), timeout=max(deadline - time.monotonic(), 1.0))
        with replica.connect() as client:
            version = client.info("server")["redis_version"]
        return RedisPair(primary=RedisEndpoint(HOST, processes[PRIMARY].port), replica=replica,
                         version=str(version), _processes=processes)
    except BaseException:
        own.cancel()
        raise


def _launch(server: Path, directory: Path, role: str, port: int, extra: list[str], group: ProcessGroup,
            deadline: float) -> ServerProcess:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        chosen = port or free_port()
        argv = [server, "--port", str(chosen), "--dir", directory, *_COMMON, *extra]
        proc = ServerProcess(f"redis {role}", argv, directory, port=chosen).start(group)
        endpoint = RedisEndpoint(HOST, chosen)
        try:
            proc.wait_ready(lambda: _answers_as(endpoint, proc.pid), timeout=max(deadline - time.monotonic(), 1.0))
            return proc
        except PortBusy:
            if port or attempt == PORT_ATTEMPTS:
                raise
            log.info("redis %s: port %d was taken before the server bound it; trying another", role, chosen)
    raise AssertionError("unreachable")


def _probe_client(endpoint: RedisEndpoint):
    # redis-py 8 retries a timed-out call 10 times with backoff (~15 s against a port that
    # accepts but never answers); a readiness probe must fail fast and let wait_until retry.
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return endpoint.connect(socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


def _answers_as(endpoint: RedisEndpoint, pid: int) -> bool:
    # The pid tells our server from another one that grabbed the port first.
    with _probe_client(endpoint) as client:
        return client.info("server").get("process_id") == pid


def _link_up(replica: RedisEndpoint) -> bool:
    with _probe_client(replica) as client:
        return client.info("replication").get("master_link_status") == "up"

"""The data plane of a student's lab, and the ways a grader fails to reach it.

The lab's RDS instances and Redis group are bound to local servers (a MariaDB primary and
replica, a Redis pair), reached by the grader through --lab-mysql-url/--lab-redis-url (given in
the environment: a password on a command line shows in `ps`). What goes wrong on the grader's
side: the wrong password, a port where nothing listens (refused), a server that hangs up.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import quote

from provisioning.dataplane import MysqlEndpoint, RedisEndpoint
from provisioning.passwords import Secret


def mysql_url(endpoint: MysqlEndpoint, password: Secret | str | None = None) -> str:
    secret = str(endpoint.password if password is None else password)
    return f"mysql://{endpoint.user}:{quote(secret, safe='')}@{endpoint.host}:{endpoint.port}/{endpoint.database}"


def redis_url(endpoint: RedisEndpoint) -> str:
    return f"redis://{endpoint.host}:{endpoint.port}"


def grader_urls(mysql: tuple[str, str] | None, redis: tuple[str, str] | None) -> dict[str, str]:
    """The environment that binds the grader to (primary, replica) URLs of each server."""
    env = {}
    if mysql:
        env.update(LAB_MYSQL_URL=mysql[0], LAB_MYSQL_REPLICA_URL=mysql[1])
    if redis:
        env.update(LAB_REDIS_URL=redis[0], LAB_REDIS_REPLICA_URL=redis[1])
    return env


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HangingUp:
    """A server that accepts every connection and closes it at once, before a word: a firewall
    or a proxy dropping the grader."""

    def __init__(self):
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hanging-up", daemon=True)

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:  # closed by stop()
                return
            connection.close()

    def __enter__(self) -> "HangingUp":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        self._socket.close()
        self._thread.join(timeout=5)

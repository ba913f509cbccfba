"""Everything a local run needs, started together: moto, a MariaDB pair, a Redis pair.

The engines start in parallel (the total is the slowest one, ~1-2 s, not the sum), and a
failure or a Ctrl-C anywhere stops whatever had already started before the error
propagates: a local run never leaves a server behind.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from .. import naming
from ..dataplane import REDIS_PRIMARY, REDIS_REPLICA, DataPlane
from ..passwords import Secret
from . import binaries
from . import ports as port_keys  # the module: `ports` is start_local_engines' argument
from .mariadb import MysqlPair, start_mysql_pair
from .moto_server import MotoServer
from .processes import ProcessGroup
from .redis_server import RedisPair, start_redis_pair

log = logging.getLogger("dblab.engines")

RDS_ENGINE = "RDS MySQL 8.0"  # what the lab creates (--engine-version 8.0)


@dataclass
class LocalEngines:
    moto: MotoServer | None = None
    mysql: MysqlPair | None = None
    redis: RedisPair | None = None
    startup_seconds: float = 0.0

    def dataplane(self) -> DataPlane:
        """The lab's RDS instances and replication group bound to these servers."""
        mysql, redis, notes = {}, {}, []
        if self.mysql is not None:
            mysql = {naming.DB_INSTANCE: self.mysql.primary, naming.DB_REPLICA: self.mysql.replica}
            notes.append(f"MariaDB {self.mysql.version.removesuffix('-MariaDB')} stands in for {RDS_ENGINE}")
        if self.redis is not None:
            redis = {REDIS_PRIMARY: self.redis.primary, REDIS_REPLICA: self.redis.replica}
            notes.append(f"Redis {self.redis.version}")
        return DataPlane(mysql=mysql, redis=redis, engine_note="; ".join(notes))

    def pids(self) -> list[int]:
        return [pid for pair in (self.mysql, self.redis) if pair is not None for pid in pair.pids()]

    def stop(self) -> None:
        """Stop everything. Safe to call again; never raises (failures are logged)."""
        for name, engine in (("redis", self.redis), ("mysql", self.mysql), ("moto", self.moto)):
            if engine is None:
                continue
            try:
                engine.stop()
            except Exception as exc:  # keep stopping the others
                log.warning("stopping %s failed: %s: %s", name, type(exc).__name__, exc)

    def __enter__(self) -> "LocalEngines":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_local_engines(workdir: Path, admin_password: Secret, *, moto: bool = True, mysql: bool = True,
                        redis: bool = True, ports: dict | None = None, timeout: float = 30.0) -> LocalEngines:
    """Start the requested engines in parallel under workdir (mysql/ and redis/ inside it).

    ports may fix any of PORT_KEYS; missing ones are picked free. Raises an EngineError
    (one line) if anything fails, after stopping everything already started.
    """
    ports = dict(ports or {})
    unknown = set(ports) - set(port_keys.PORT_KEYS)
    if unknown:
        raise ValueError(f"unknown port keys {sorted(unknown)}; expected some of {list(port_keys.PORT_KEYS)}")
    # Every binary first: a missing one fails before anything starts.
    binaries.require(*([binaries.MARIADBD, binaries.MARIADB_INSTALL_DB] if mysql else []),
                     *([binaries.REDIS_SERVER] if redis else []))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    begin = time.monotonic()
    engines = LocalEngines()
    group = ProcessGroup()
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dblab-engines")
    futures = {}
    try:
        if mysql:
            futures["mysql"] = pool.submit(
                start_mysql_pair, workdir / "mysql", admin_password, primary_port=ports.get(port_keys.MYSQL_PRIMARY, 0),
                replica_port=ports.get(port_keys.MYSQL_REPLICA, 0), timeout=timeout, group=group)
        if redis:
            futures["redis"] = pool.submit(
                start_redis_pair, workdir / "redis", primary_port=ports.get(port_keys.REDIS_PRIMARY, 0),
                replica_port=ports.get(port_keys.REDIS_REPLICA, 0), timeout=timeout, group=group)
        if moto:  # in-process and quick: meanwhile the threads start the servers
            engines.moto = MotoServer(port=ports.get(port_keys.MOTO, 0)).start()
        done, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
        for future in done:
            future.result()  # the first failure raises here, without waiting for the others
        for name, future in futures.items():
            setattr(engines, name, future.result())
    except BaseException:  # a start failure, or KeyboardInterrupt while waiting
        group.cancel()  # workers still starting a server stop it and give up at once
        pool.shutdown(wait=True, cancel_futures=True)
        for name, future in futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                setattr(engines, name, future.result())  # started after all: stop it below
        engines.stop()
        raise
    pool.shutdown(wait=True)
    engines.startup_seconds = time.monotonic() - begin
    log.info("local engines started in %.2fs: %s", engines.startup_seconds, engines.dataplane().engine_note)
    return engines

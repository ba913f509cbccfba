"""A MariaDB primary and GTID replica standing in for the lab's RDS instance and read replica.

MySQL 8.0 has no package here, MariaDB 10.11 does; the lab's SQL and the checks' SQL run on
both. The pair is configured like RDS where it matters to the lab: the master user `admin`
can do everything in `labdb` and read replication status, but holds no SUPER-like privilege,
so the replica's read_only refuses its writes exactly as an RDS read replica does.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from .. import naming
from ..dataplane import MysqlEndpoint
from ..polling import DeadlineExceeded, wait_until
from ..passwords import Secret, generate_password
from . import binaries
from .processes import EngineError, PortBusy, ProcessGroup, ServerProcess, StartFailed, free_port, stop_all

log = logging.getLogger("dblab.engines")

HOST = "127.0.0.1"
PRIMARY, REPLICA = "primary", "replica"
REPL_USER = "lab_repl"  # the replication channel's account; never the lab's admin
PORT_ATTEMPTS = 3  # a port picked by free_port() can be taken before the server binds it

# Small footprint: a throwaway pair should start in a fraction of a second and use ~30 MB.
_FOOTPRINT = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M",
              "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0"]
# RDS MySQL 8.0's defaults where MariaDB's differ and the lab could notice.
_RDS_LIKE = ["--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
             "--default-time-zone=+00:00",
             "--sql-mode=ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
             "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"]
_ROLE_ARGS = {
    PRIMARY: ["--server-id=1", "--log-bin=mysql-bin", "--binlog-format=ROW"],
    REPLICA: ["--server-id=2", "--read-only=1", "--relay-log=relay-bin"],
}
# What an RDS master user has and the lab needs: everything in its database, and the
# monitoring privileges to read processlist, binlog position and replica status/lag.
# No SUPER, no READ_ONLY ADMIN, no ALL ON *.*: read_only must apply to it.
_ADMIN_GRANTS = [
    f"GRANT ALL PRIVILEGES ON `{naming.DB_NAME}`.* TO %s@'%%'",
    # The databases of submissions graded as code (naming.submission_database): labdb_code_0, ...
    f"GRANT ALL PRIVILEGES ON `{naming.DB_NAME}\\_code\\_%%`.* TO %s@'%%'",
    "GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO %s@'%%'",  # BINLOG MONITOR = REPLICATION CLIENT
]
_SOCKET_MAX = 107  # sun_path is 108 bytes including the terminating NUL


class ReplicaLagging(EngineError, TimeoutError):
    pass


@dataclass
class _Instance:
    role: str
    directory: Path
    socket: Path
    port: int = 0
    process: ServerProcess | None = None

    @property
    def datadir(self) -> Path:
        return self.directory / "data"

    @property
    def tmpdir(self) -> Path:  # one per instance: parallel installs sharing /tmp collide
        return self.directory / "tmp"


@dataclass
class MysqlPair:
    """A running primary and replica. `.primary`/`.replica` connect as the lab's admin."""

    primary: MysqlEndpoint
    replica: MysqlEndpoint
    version: str  # e.g. "10.11.19-MariaDB"
    _instances: dict = field(repr=False)
    _socket_dir: Path | None = field(default=None, repr=False)  # a short temp dir we must remove

    def root_connect(self, role: str = PRIMARY, **kwargs):
        """pymysql as root over the unix socket (root has no TCP account)."""
        import pymysql

        params = dict(unix_socket=str(self._instances[role].socket), user="root", password="",
                      charset="utf8mb4", autocommit=True, connect_timeout=5)
        params.update(kwargs)
        return pymysql.connect(**params)

    def pids(self) -> list[int]:
        return [inst.process.pid for inst in self._instances.values()
                if inst.process is not None and inst.process.alive]

    def log_paths(self) -> dict[str, Path]:
        return {role: inst.process.log_path for role, inst in self._instances.items() if inst.process}

    def wait_replica_caught_up(self, timeout: float = 10.0) -> float:
        """Block until the replica has applied everything the primary has logged; seconds taken."""
        begin = time.monotonic()
        with closing(self.root_connect(PRIMARY)) as primary, primary.cursor() as cursor:
            cursor.execute("SELECT @@GLOBAL.gtid_binlog_pos")
            (position,) = cursor.fetchone()
        with closing(self.root_connect(REPLICA, read_timeout=timeout + 5)) as replica, replica.cursor() as cursor:
            cursor.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (position, timeout))
            (result,) = cursor.fetchone()
            if result != 0:
                raise ReplicaLagging(f"replica has not applied primary GTID {position or '(none)'} "
                                     f"within {timeout:g}s ({_replication_state(cursor)})")
        return time.monotonic() - begin

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both servers (replica first). Safe to call again."""
        stop_all([inst.process for inst in (self._instances[REPLICA], self._instances[PRIMARY])
                  if inst.process is not None], timeout=timeout)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None


def start_mysql_pair(workdir: Path, admin_password: Secret, *, primary_port: int = 0, replica_port: int = 0,
                     timeout: float = 30.0, group: ProcessGroup | None = None) -> MysqlPair:
    """Fresh datadirs under workdir, a primary with binlog+GTID, a replica following it,
    then `labdb` and the lab's master user created on the primary (so they replicate).

    Ports 0 pick free ones. On failure everything started is stopped before raising.
    `group` lets a caller cancel a start running in another thread.
    """
    paths = binaries.require(binaries.MARIADBD, binaries.MARIADB_INSTALL_DB)
    workdir = Path(workdir).resolve()
    socket_dir = _socket_dir(workdir)
    instances = {
        role: _Instance(role, workdir / role, (socket_dir or workdir / role) / f"{role}.sock", port)
        for role, port in ((PRIMARY, primary_port), (REPLICA, replica_port))
    }
    deadline = time.monotonic() + timeout
    own = ProcessGroup(parent=group)  # cancelled on our failure; the caller's group can cancel it
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dblab-mariadb")
    try:
        # The two slow phases, both instances at once: install-db, then start and wait.
        for phase in (_install, _launch):
            for future in [pool.submit(phase, paths, inst, own, deadline) for inst in instances.values()]:
                future.result()
        for inst in instances.values():
            _lock_down_root(inst)
        version = _start_replication(instances, deadline)
        pair = MysqlPair(
            primary=MysqlEndpoint(HOST, instances[PRIMARY].port, naming.DB_MASTER_USER, admin_password),
            replica=MysqlEndpoint(HOST, instances[REPLICA].port, naming.DB_MASTER_USER, admin_password),
            version=version, _instances=instances, _socket_dir=socket_dir,
        )
        _create_lab_account(pair, admin_password)
        pair.wait_replica_caught_up(timeout=max(deadline - time.monotonic(), 1.0))
        return pair
    except BaseException:
        # Stop first: a worker still waiting for its server then ends at once instead of
        # at the deadline, and one still starting one is refused.
        own.cancel()
        if socket_dir is not None:
            shutil.rmtree(socket_dir, ignore_errors=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- steps -------------------------------------------------------------------------------

def _socket_dir(workdir: Path) -> Path | None:
    """None if the sockets fit under workdir; else a short temp dir (removed by stop())."""
    longest = workdir / REPLICA / f"{REPLICA}.sock"
    if len(os.fsencode(str(longest))) <= _SOCKET_MAX:
        return None
    short = Path(tempfile.mkdtemp(prefix="dblab-sock-"))
    log.info("MariaDB sockets in %s: %s is too long for a unix socket path (max %d bytes)",
             short, workdir, _SOCKET_MAX)
    return short


def _root_user_args() -> list[str]:
    # Running as root, mariadbd refuses to start without --user=root; as anyone else the
    # option only produces a warning, so leave it out.
    return ["--user=root"] if os.geteuid() == 0 else []


def _install(paths: dict, inst: _Instance, group: ProcessGroup, deadline: float) -> None:
    if inst.datadir.exists():  # never reuse: an old datadir has old users, data and GTIDs
        shutil.rmtree(inst.datadir)
    inst.tmpdir.mkdir(parents=True, exist_ok=True)
    argv = [paths[binaries.MARIADB_INSTALL_DB], "--no-defaults", *_root_user_args(),
            f"--datadir={inst.datadir}", f"--tmpdir={inst.tmpdir}", *_basedir_args(paths),
            "--auth-root-authentication-method=normal", "--skip-test-db", *_FOOTPRINT]
    tool = ServerProcess(f"mariadb-install-db {inst.role}", argv, inst.directory).start(group)
    code = tool.wait_exit(timeout=max(deadline - time.monotonic(), 1.0))
    if code != 0:
        raise StartFailed(f"mariadb-install-db for the {inst.role} failed with code {code}: "
                          f"{tool.log_excerpt()} (log: {tool.log_path})")


def _basedir_args(paths: dict) -> list[str]:
    # A server from LAB_SERVER_BIN_DIR (an unpacked tarball) finds its share/ files only
    # through --basedir; the system's install-db knows its own paths.
    if os.environ.get(binaries.BIN_DIR_ENV):
        return [f"--basedir={Path(paths[binaries.MARIADBD]).parent.parent}"]
    return []


def _launch(paths: dict, inst: _Instance, group: ProcessGroup, deadline: float) -> None:
    chosen = inst.port
    for attempt in range(1, PORT_ATTEMPTS + 1):
        inst.port = chosen or free_port()
        argv = [paths[binaries.MARIADBD], "--no-defaults", *_root_user_args(), f"--bind-address={HOST}",
                "--skip-name-resolve", f"--port={inst.port}", f"--socket={inst.socket}",
                f"--datadir={inst.datadir}", f"--tmpdir={inst.tmpdir}", *_FOOTPRINT, *_RDS_LIKE,
                *_ROLE_ARGS[inst.role]]
        inst.process = ServerProcess(f"mariadb {inst.role}", argv, inst.directory, port=inst.port).start(group)
        try:
            inst.process.wait_ready(lambda: _ping(inst), timeout=max(deadline - time.monotonic(), 1.0))
            return
        except PortBusy:
            if chosen or attempt == PORT_ATTEMPTS:
                raise
            log.info("mariadb %s: port %d was taken before the server bound it; trying another",
                     inst.role, inst.port)


def _connect_root(inst: _Instance, **kwargs):
    import pymysql

    return pymysql.connect(unix_socket=str(inst.socket), user="root", password="", autocommit=True,
                           connect_timeout=2, **kwargs)


def _ping(inst: _Instance) -> bool:
    with closing(_connect_root(inst)) as conn:
        conn.ping(reconnect=False)
    return True


def _lock_down_root(inst: _Instance) -> None:
    # install-db also creates root@127.0.0.1, root@::1 and root@<hostname>, all without a
    # password: drop them so root exists only over the socket (inside our workdir).
    with closing(_connect_root(inst)) as conn, conn.cursor() as cursor:
        cursor.execute("SET SESSION sql_log_bin = 0")
        cursor.execute("SELECT host FROM mysql.user WHERE user = 'root' AND host <> 'localhost'")
        for (host,) in cursor.fetchall():
            cursor.execute("DROP USER 'root'@%s", (host,))


def _start_replication(instances: dict, deadline: float) -> str:
    primary, replica = instances[PRIMARY], instances[REPLICA]
    repl_password = generate_password()
    with closing(_connect_root(primary)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        (full_version,) = cursor.fetchone()
        cursor.execute("SET SESSION sql_log_bin = 0")  # the replica needs no copy of this account
        cursor.execute(f"CREATE USER '{REPL_USER}'@%s IDENTIFIED BY %s", (HOST, str(repl_password)))
        cursor.execute(f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@%s", (HOST,))
    with closing(_connect_root(replica)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, MASTER_PASSWORD=%s, "
            "MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos",
            (HOST, primary.port, REPL_USER, str(repl_password)))
        cursor.execute("START SLAVE")
        _wait_replication_running(cursor, replica, deadline)
    match = re.match(r"[\d.]+-MariaDB", full_version)
    return match.group(0) if match else full_version


def _wait_replication_running(cursor, replica: _Instance, deadline: float) -> None:
    def settled():
        # Running, or failed for good (the primary is up, so an IO error is not transient).
        cursor.execute("SHOW SLAVE STATUS")
        row = _status_row(cursor)
        if row and (row["Last_IO_Errno"] or row["Last_SQL_Errno"]
                    or (row["Slave_IO_Running"] == "Yes" and row["Slave_SQL_Running"] == "Yes")):
            return row
        return None

    try:
        row = wait_until(settled, timeout=max(deadline - time.monotonic(), 1.0),
                         what="MariaDB replication running").value
    except DeadlineExceeded:
        raise StartFailed(f"mariadb replica: replication did not start ({_replication_state(cursor)}; "
                          f"log: {replica.process.log_path})") from None
    if row["Last_IO_Errno"] or row["Last_SQL_Errno"]:
        raise StartFailed(f"mariadb replica: replication failed: {_replication_state(cursor, row)} "
                          f"(log: {replica.process.log_path})")


def _status_row(cursor) -> dict | None:
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([column[0] for column in cursor.description], row))


def _replication_state(cursor, row: dict | None = None) -> str:
    if row is None:
        cursor.execute("SHOW SLAVE STATUS")
        row = _status_row(cursor)
    if not row:
        return "replication is not configured"
    parts = [f"IO {row['Slave_IO_Running']}", f"SQL {row['Slave_SQL_Running']}"]
    if row.get("Last_IO_Error"):
        parts.append(f"IO error: {row['Last_IO_Error']}")
    if row.get("Last_SQL_Error"):
        parts.append(f"SQL error: {row['Last_SQL_Error']}")
    return ", ".join(parts)


def _create_lab_account(pair: MysqlPair, admin_password: Secret) -> None:
    user = naming.DB_MASTER_USER
    with closing(pair.root_connect(PRIMARY)) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{naming.DB_NAME}`")
        cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, str(admin_password)))
        for grant in _ADMIN_GRANTS:
            cursor.execute(grant, (user,))

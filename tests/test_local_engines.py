"""The local stand-ins for RDS and ElastiCache behave like the lab's pair where it matters."""

import socket
import subprocess
import uuid
from contextlib import closing

import pymysql
import pytest
import redis

from provisioning import naming
from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA
from provisioning.local import engines as engines_module
from provisioning.local import mariadb, redis_server
from provisioning.local.binaries import BIN_DIR_ENV, find_binary
from provisioning.local.engines import start_local_engines
from provisioning.local.processes import MissingBinary, PortBusy
from provisioning.polling import wait_until
from provisioning.passwords import generate_password

ER_OPTION_PREVENTS_STATEMENT = 1290  # "running with the --read-only option"
ACCESS_DENIED = {1044, 1045, 1227}


def servers_under(path) -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-f", str(path)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "mariadbd" in line or "redis-server" in line
            or "install-db" in line]


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    # The one shared start: moto, MariaDB pair and Redis pair, in parallel.
    started = start_local_engines(tmp_path_factory.mktemp("engines"), generate_password())
    yield started
    started.stop()


@pytest.fixture
def table(engines):
    name = f"t_{uuid.uuid4().hex[:8]}"
    with closing(engines.mysql.primary.connect()) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, note VARCHAR(40))")
    yield name
    with closing(engines.mysql.primary.connect()) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def test_all_engines_start_in_parallel_and_bind_the_lab_names(engines, capsys):
    plane = engines.dataplane()
    assert set(plane.mysql) == {naming.DB_INSTANCE, naming.DB_REPLICA}
    assert set(plane.redis) == {REDIS_PRIMARY, REDIS_REPLICA}
    assert plane.engine_note.startswith("MariaDB 10.") and "Redis 7." in plane.engine_note, plane.engine_note
    assert engines.moto is not None and len(engines.pids()) == 4
    with capsys.disabled():
        print(f"\nlocal engines (moto, MariaDB pair, Redis pair) started in {engines.startup_seconds:.2f}s")


def test_row_written_on_primary_is_on_replica_after_catch_up(engines, table):
    with closing(engines.mysql.primary.connect()) as conn, conn.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} VALUES (1, 'replicated')")
    engines.mysql.wait_replica_caught_up(timeout=10)
    with closing(engines.mysql.replica.connect()) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT note FROM {table} WHERE id = 1")
        assert cursor.fetchone() == ("replicated",)


def test_replica_refuses_the_admin_users_writes(engines, table):
    engines.mysql.wait_replica_caught_up(timeout=10)
    with closing(engines.mysql.replica.connect()) as conn, conn.cursor() as cursor:
        with pytest.raises(pymysql.err.MySQLError) as refused:
            cursor.execute(f"INSERT INTO {table} VALUES (2, 'on the replica')")
    assert refused.value.args[0] == ER_OPTION_PREVENTS_STATEMENT, refused.value


def test_root_can_write_on_the_replica(engines):
    # The contrast that makes the test above meaningful: root bypasses read_only.
    scratch = f"scratch_{uuid.uuid4().hex[:8]}"
    with closing(engines.mysql.root_connect("replica")) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {scratch}")
        cursor.execute(f"DROP DATABASE {scratch}")


def test_admin_cannot_grant_itself_super(engines):
    with closing(engines.mysql.primary.connect()) as conn, conn.cursor() as cursor:
        with pytest.raises(pymysql.err.MySQLError) as denied:
            cursor.execute(f"GRANT SUPER ON *.* TO {naming.DB_MASTER_USER}@'%'")
    assert denied.value.args[0] in ACCESS_DENIED, denied.value


def test_admin_can_read_replica_status(engines):
    with closing(engines.mysql.replica.connect()) as conn, conn.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute("SHOW SLAVE STATUS")
        status = cursor.fetchone()
    assert status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes", status


def test_root_has_no_tcp_login(engines):
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(host="127.0.0.1", port=engines.mysql.primary.port, user="root", password="",
                        connect_timeout=5).close()


def test_redis_replica_follows_the_primary(engines):
    key = f"test:{uuid.uuid4().hex}"
    primary, replica = engines.redis.primary.connect(), engines.redis.replica.connect()
    try:
        primary.set(key, "v", ex=60)
        wait_until(lambda: replica.get(key) == "v", timeout=5, what=f"replica to see {key}")
    finally:
        primary.delete(key)
        primary.close()
        replica.close()


def test_redis_replica_refuses_writes(engines):
    with engines.redis.replica.connect() as replica:
        with pytest.raises(redis.exceptions.ReadOnlyError):
            replica.set(f"test:{uuid.uuid4().hex}", "v")


def test_stop_leaves_no_server_process(tmp_path):
    started = start_local_engines(tmp_path, generate_password(), moto=False, timeout=30)
    pids = started.pids()
    assert len(pids) == 4 and servers_under(tmp_path)
    started.stop()
    started.stop()  # idempotent
    assert started.pids() == []
    assert not servers_under(tmp_path)


@pytest.mark.parametrize("engine, port_key", [("redis", "redis_primary"), ("mysql", "mysql_replica"),
                                              ("moto", "moto")])
def test_busy_port_gives_port_busy_naming_the_port(tmp_path, engine, port_key):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        only = {name: name == engine for name in ("moto", "mysql", "redis")}
        with pytest.raises(PortBusy, match=rf"port {port}\b") as busy:
            start_local_engines(tmp_path, generate_password(), ports={port_key: port}, **only)
    assert "\n" not in str(busy.value)
    assert not servers_under(tmp_path)  # for MariaDB, the primary had started


def test_automatic_port_taken_in_between_is_retried(tmp_path, monkeypatch):
    real_free_port = redis_server.free_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        picks = iter([busy_port])  # the first automatic pick is already taken
        monkeypatch.setattr(redis_server, "free_port", lambda: next(picks, None) or real_free_port())
        pair = redis_server.start_redis_pair(tmp_path)
    try:
        assert pair.primary.port != busy_port
        assert len(pair.pids()) == 2
    finally:
        pair.stop()


def test_missing_binary_names_the_apt_package(tmp_path, monkeypatch):
    monkeypatch.setenv(BIN_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingBinary, match=r"mariadbd not found.*apt-get install mariadb-server"):
        find_binary("mariadbd")
    with pytest.raises(MissingBinary, match=r"redis-server not found.*apt-get install redis-server"):
        start_local_engines(tmp_path / "work", generate_password(), mysql=False)


def test_interrupt_during_startup_stops_what_started(tmp_path, monkeypatch):
    seen = []

    class InterruptedMoto:
        def __init__(self, port=0):
            pass

        def start(self):
            # Ctrl-C on the calling thread once Redis runs, while MariaDB is still starting.
            wait_until(lambda: any("redis-server" in line for line in servers_under(tmp_path)),
                       timeout=20, what="redis to start")
            seen.extend(servers_under(tmp_path))
            raise KeyboardInterrupt

    monkeypatch.setattr(engines_module, "MotoServer", InterruptedMoto)
    with pytest.raises(KeyboardInterrupt):
        start_local_engines(tmp_path, generate_password())
    assert seen, "nothing had started when the interrupt came: the test proves nothing"
    assert not servers_under(tmp_path)


def test_long_workdir_puts_sockets_in_a_short_dir(tmp_path):
    short = mariadb._socket_dir(tmp_path / ("x" * 120))
    try:
        assert short is not None and len(str(short / "replica.sock")) < 108
    finally:
        short.rmdir()

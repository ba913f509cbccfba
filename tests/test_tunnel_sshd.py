"""The SSH tunnel (provisioning/tunnel.py) through a real OpenSSH server, not a stand-in.

A private sshd on a loopback port (tests/support_sshd.py) plays the bastion. It admits the run's
own key pair as provisioning makes it: moto's create_key_pair (the KeyMaterial AWS also returns: a
PEM "BEGIN RSA PRIVATE KEY"), written to the state directory by bastion.write_private_key. Behind
it, the local MariaDB and Redis servers play RDS and ElastiCache; only what ssh forwards reaches
them here, through sshd's PermitOpen list.

What ssh does (OpenSSH 9.2, Debian 12), pinned below:
- a key the server does not know: ssh exits 255 at once with "Permission denied (publickey)." as
  its last line (BatchMode: no prompt); Tunnel.open turns that into one TunnelError line.
- a forward to a target that refuses (nothing listens, or PermitOpen does not list it):
  ExitOnForwardFailure does NOT apply: it covers only binding the local port (and -R requests),
  not the connections made later through a forward. The local port accepts, ssh asks sshd for a
  channel per connection, sshd's connect fails and the channel is refused; ssh closes the local
  connection (the client reads EOF) and keeps running, printing
  "channel N: open failed: connect failed: Connection refused" (or "administratively prohibited")
  on its stderr. A MySQL client sees 2013 (lost connection during the handshake), which the
  checks already report as the grader's data plane being unreachable, not as the student's fault.
  Tunnel.open's readiness probe (a connect to each local port) is itself such a channel, so open()
  succeeds whatever the far end does: it proves the bastion let us in, not that RDS answers.
- those stderr lines go to the pipe Tunnel reads only after ssh has exited; ssh also writes
  "Warning: Permanently added '[host]:port' ... to the list of known hosts." there on every open
  (UserKnownHostsFile=/dev/null). Found while writing this file, not pinned here: after about
  1,100 refused connections the 64 KiB pipe is full and ssh blocks in write(2) (wchan
  anon_pipe_write), freezing every forward of the tunnel.
- closing the tunnel (SIGTERM to ssh) ends sshd's per-connection process too; stopping sshd's
  listener does not (sshd puts each connection in a session of its own and the tunnel keeps
  working), hence Sshd.stop() ends them itself.
"""

from __future__ import annotations

import socket
import uuid

import pymysql
import pytest

from provisioning import bastion, naming
from provisioning.context import ProvisionContext
from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA, DataPlane
from provisioning.dataplane_errors import DATA_PLANE_UNREACHABLE, dataplane_problem
from provisioning.local.engines import start_local_engines
from provisioning.passwords import generate_password
from provisioning.polling import wait_until
from provisioning.tunnel import Forward, Tunnel, TunnelError, check_key, find_ssh, free_port, said, ssh_command

from .support_sshd import SKIP_REASON, Sshd, alive, generate_key, have_sshd, public_key_of

pytestmark = pytest.mark.skipif(not have_sshd(), reason=SKIP_REASON)

LOOPBACK = "127.0.0.1"


# --- the run's key pair, the servers behind the bastion, the bastion ---------------------------------

@pytest.fixture(scope="module")
def run_key(tmp_path_factory, moto_server, session_aws_clients):
    """The private key of the run's key pair database-lab-key, created in the emulator and written
    by Lab 1.5's own code (bastion.ensure_key_pair -> write_private_key)."""
    moto_server.reset()  # the key pair must be created here (an existing one would be adopted, keyless)
    state_dir = tmp_path_factory.mktemp("state")
    state_dir.chmod(0o700)
    ctx = ProvisionContext(clients=session_aws_clients, run_id="sshd", dataplane=DataPlane(),
                           master_password=generate_password(), log=lambda message: None, state_dir=state_dir)
    bastion.ensure_key_pair(ctx)
    return state_dir / bastion.KEY_FILE


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    started = start_local_engines(tmp_path_factory.mktemp("engines"), generate_password(), moto=False, timeout=60)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def targets(engines) -> dict[str, int]:
    """What the tunnel forwards to, by forward name: the servers' ports on the 'bastion' side."""
    plane = engines.dataplane()
    return {naming.DB_INSTANCE: plane.mysql[naming.DB_INSTANCE].port,
            naming.DB_REPLICA: plane.mysql[naming.DB_REPLICA].port,
            REDIS_PRIMARY: plane.redis[REDIS_PRIMARY].port,
            REDIS_REPLICA: plane.redis[REDIS_REPLICA].port}


@pytest.fixture(scope="module")
def closed_port() -> int:
    return free_port()  # nothing listens there; sshd may forward to it (PermitOpen lists it)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory, run_key, targets, closed_port):
    permitted = [(LOOPBACK, port) for port in [*targets.values(), closed_port]]
    server = Sshd(tmp_path_factory.mktemp("sshd"), [public_key_of(run_key)], permit_open=permitted).start()
    yield server
    server.stop()


def _forwards(targets: dict[str, int]) -> list[Forward]:
    return [Forward(name, LOOPBACK, port, free_port()) for name, port in targets.items()]


def _tunnel(server: Sshd, key, forwards: list[Forward]) -> Tunnel:
    command = ssh_command(find_ssh(), check_key(key), server.host, forwards, user=server.user, port=server.port)
    return Tunnel(command, forwards)


def _stderr_so_far(tunnel: Tunnel) -> str:
    """What the running ssh has written to its stderr (a file, so that ssh never blocks on it)."""
    return said(tunnel.process)


# --- tests -------------------------------------------------------------------------------------

def test_the_runs_key_pair_is_aws_s_pem_rsa_key_written_for_its_owner_only(run_key):
    assert run_key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")  # what moto and AWS return
    assert run_key.stat().st_mode & 0o777 == 0o600
    assert public_key_of(run_key).startswith("ssh-rsa ")


def test_the_tunnel_through_a_real_sshd_reaches_mariadb_and_redis_with_the_runs_key(sshd, run_key, engines, targets):
    master = engines.dataplane().mysql[naming.DB_INSTANCE]
    with _tunnel(sshd, run_key, _forwards(targets)).open(timeout=10) as tunnel:
        plane = tunnel.dataplane(mysql_user=master.user, mysql_password=master.password)
        for name in (naming.DB_INSTANCE, naming.DB_REPLICA):
            endpoint = plane.mysql[name]
            assert (endpoint.host, endpoint.port) != (LOOPBACK, targets[name])  # the tunnel's port, not the server's
            connection = endpoint.connect()
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1, @@port")
                    assert cursor.fetchone() == (1, targets[name])  # the right server answered
            finally:
                connection.close()
        primary, replica = plane.redis[REDIS_PRIMARY].connect(), plane.redis[REDIS_REPLICA].connect()
        try:
            assert primary.ping() is True and replica.ping() is True
            key, value = f"dblab:sshd:{uuid.uuid4().hex}", uuid.uuid4().hex
            assert primary.set(key, value, ex=60) is True
            assert primary.get(key) == value
            wait_until(lambda: replica.get(key) == value, timeout=10, what="the key replicated to the Redis replica")
            primary.delete(key)
        finally:
            primary.close()
            replica.close()
    assert f"Accepted publickey for {sshd.user} from 127.0.0.1" in sshd.log_text()
    assert " RSA SHA256:" in sshd.log_text()  # the run's RSA key pair, not some other key of this machine


def test_a_key_the_bastion_does_not_know_is_one_line_with_ssh_s_reason_within_the_timeout(sshd, targets, tmp_path):
    stranger = generate_key(tmp_path / "not-the-run-key")
    tunnel = _tunnel(sshd, stranger, _forwards(targets))
    with pytest.raises(TunnelError) as error:
        tunnel.open(timeout=10)
    message = str(error.value)
    assert "\n" not in message
    # ssh's own reason, not "did not open within 10s": the refusal ends the wait, not the deadline.
    assert message == f"ssh to the bastion failed: {sshd.user}@127.0.0.1: Permission denied (publickey)."
    assert tunnel.process is None  # nothing left running


def test_a_forward_to_a_port_that_refuses_opens_then_each_connection_closes_and_says_why(
        sshd, run_key, targets, closed_port):
    forwards = [Forward(naming.DB_INSTANCE, LOOPBACK, closed_port, free_port()),
                Forward(REDIS_PRIMARY, LOOPBACK, targets[REDIS_PRIMARY], free_port())]
    with _tunnel(sshd, run_key, forwards).open(timeout=10) as tunnel:  # ExitOnForwardFailure: binding only
        # The local port accepts; ssh closes the connection when sshd cannot reach the target.
        with socket.create_connection((LOOPBACK, forwards[0].local_port), timeout=5) as raw:
            raw.settimeout(5)
            assert raw.recv(1) == b""
        endpoint = tunnel.dataplane(mysql_user=naming.DB_MASTER_USER, mysql_password=generate_password()) \
            .mysql[naming.DB_INSTANCE]
        with pytest.raises(pymysql.err.OperationalError) as lost:
            endpoint.connect()
        assert lost.value.args[0] == 2013  # lost connection during the handshake, not "can't connect" (2003)
        kind, reason = dataplane_problem(lost.value, grading=True)
        assert kind == DATA_PLANE_UNREACHABLE and "the grader could not reach MySQL (2013" in reason
        # ssh keeps running, and the other forward keeps working.
        assert tunnel.process.poll() is None
        redis = tunnel.dataplane().redis[REDIS_PRIMARY].connect()
        try:
            assert redis.ping() is True
        finally:
            redis.close()
        said = wait_until(lambda: _stderr_so_far(tunnel) or None, timeout=5, what="ssh's complaint").value
        assert "open failed: connect failed: Connection refused" in said
    assert f"connect_to 127.0.0.1 port {closed_port}: failed." in sshd.log_text()


def test_a_tunnel_survives_more_refused_connections_than_a_pipe_holds(sshd, run_key, targets):
    # ssh writes a line for each connection a forward cannot make; into a pipe nobody reads, ssh
    # blocked after about 1,085 of them and every forward froze. Tunnel now gives it a file.
    closed_port = free_port()
    forwards = [Forward(naming.DB_INSTANCE, LOOPBACK, closed_port, free_port()),
                Forward(REDIS_PRIMARY, LOOPBACK, targets[REDIS_PRIMARY], free_port())]
    with _tunnel(sshd, run_key, forwards).open(timeout=10) as tunnel:
        for _ in range(1400):
            with socket.create_connection((LOOPBACK, forwards[0].local_port), timeout=5) as raw:
                raw.settimeout(5)
                raw.recv(1)
        redis = tunnel.dataplane().redis[REDIS_PRIMARY].connect()
        try:
            assert redis.ping() is True
        finally:
            redis.close()
        assert _stderr_so_far(tunnel).count("open failed") >= 1000


def test_a_forward_the_bastion_does_not_permit_is_refused_per_connection_too(sshd, run_key):
    not_permitted = free_port()
    forwards = [Forward(naming.DB_INSTANCE, LOOPBACK, not_permitted, free_port())]
    with _tunnel(sshd, run_key, forwards).open(timeout=10) as tunnel:
        with socket.create_connection((LOOPBACK, forwards[0].local_port), timeout=5) as raw:
            raw.settimeout(5)
            assert raw.recv(1) == b""
        said = wait_until(lambda: _stderr_so_far(tunnel) or None, timeout=5, what="ssh's complaint").value
        assert "administratively prohibited" in said
        assert tunnel.process.poll() is None
    assert f"to connect to host 127.0.0.1 port {not_permitted}, but the request was denied." in sshd.log_text()


def test_closing_the_tunnel_leaves_no_ssh_or_sshd_process(sshd, run_key, targets):
    wait_until(lambda: not sshd.sessions(), timeout=10, what="earlier tests' sshd sessions ended")
    tunnel = _tunnel(sshd, run_key, _forwards(targets)).open(timeout=10)
    ssh_pid = tunnel.process.pid
    sessions = sshd.sessions()
    assert sessions, "the open tunnel has an sshd session process"
    tunnel.close()
    assert not alive(ssh_pid)
    wait_until(lambda: not any(alive(pid) for pid in sessions), timeout=5, what="sshd's session processes ended")
    assert sshd.sessions() == [] and alive(sshd.pid)  # the server itself stays for the other tests


def test_stopping_sshd_under_an_open_tunnel_leaves_nothing_and_ends_ssh(tmp_path, run_key, targets):
    server = Sshd(tmp_path / "sshd", [public_key_of(run_key)], permit_open=[(LOOPBACK, targets[REDIS_PRIMARY])]).start()
    forwards = [Forward(REDIS_PRIMARY, LOOPBACK, targets[REDIS_PRIMARY], free_port())]
    with _tunnel(server, run_key, forwards).open(timeout=10) as tunnel:
        listener, sessions = server.pid, server.sessions()
        assert sessions
        server.stop()
        assert not alive(listener)
        assert not any(alive(pid) for pid in sessions)  # sshd leaves these running; stop() ends them
        # ssh notices its connection is gone and exits: a dead tunnel, found when a check connects.
        wait_until(lambda: tunnel.process.poll() is not None, timeout=5, what="ssh exited")

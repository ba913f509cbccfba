"""Issue 10, the private data plane of a provisioned run: through the run's own bastion and key
pair, with SSH allowed from the runner's /32 only.

The environment provisions the lab in moto with the tunnel on (as on real AWS, where it is on by
default), and the bastion the tunnel logs in to is a real sshd on loopback (Debian's
openssh-server) that forwards to local MariaDB and Redis standing in for RDS and ElastiCache:
moto's bastion has no address to reach. The key the tunnel uses is the one step 1.5 created in
the account and wrote to the run's private state directory.
"""

from __future__ import annotations

import http.server
import threading

import pytest

from provisioning import naming
from provisioning import tunnel as tunnels
from provisioning.aws import AwsTarget
from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA, format_mysql_url, format_redis_url
from provisioning.environment import EnvironmentSpec, LabEnvironment
from provisioning.local.engines import start_local_engines
from provisioning.passwords import generate_password
from provisioning.run_tunnel import RunnerAddressError, runner_cidr

from .support_sshd import Sshd, public_key_of, require_sshd

LOOPBACK = "127.0.0.1"


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    started = start_local_engines(tmp_path_factory.mktemp("engines"), generate_password(), moto=False, timeout=60)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def bastion_sshd(tmp_path_factory, engines):
    require_sshd()
    plane = engines.dataplane()
    ports = [plane.mysql[naming.DB_INSTANCE].port, plane.mysql[naming.DB_REPLICA].port,
             plane.redis[REDIS_PRIMARY].port, plane.redis[REDIS_REPLICA].port]
    server = Sshd(tmp_path_factory.mktemp("bastion"), [], permit_open=[(LOOPBACK, port) for port in ports]).start()
    yield server
    server.stop()


@pytest.fixture
def provisioned(moto_server, engines, bastion_sshd, tmp_path, monkeypatch):
    """The whole lab provisioned in moto with the run's tunnel on; the tunnel's bastion is the sshd."""
    moto_server.reset()
    plane = engines.dataplane()
    planned = {}

    def plan_through_loopback_bastion(clients, key):
        # Found as on AWS (the bastion by its name, the endpoints by describe calls), then pointed at
        # the loopback stand-ins: moto's addresses lead nowhere.
        tunnels.running_bastion(clients("ec2"))
        found = {f.name for f in tunnels.discover_forwards(clients("rds"), clients("elasticache"))}
        planned["found"], planned["key"] = found, key
        (bastion_sshd.directory / "authorized_keys").write_text(public_key_of(key) + "\n")  # the key pair's public half
        ports = {naming.DB_INSTANCE: plane.mysql[naming.DB_INSTANCE].port,
                 naming.DB_REPLICA: plane.mysql[naming.DB_REPLICA].port,
                 REDIS_PRIMARY: plane.redis[REDIS_PRIMARY].port}
        forwards = [tunnels.Forward(name, LOOPBACK, port, tunnels.free_port()) for name, port in ports.items()]
        command = tunnels.ssh_command(tunnels.find_ssh(), tunnels.check_key(key), LOOPBACK, forwards,
                                      user=bastion_sshd.user, port=bastion_sshd.port)
        return tunnels.Tunnel(command, forwards)

    monkeypatch.setattr(tunnels, "plan_tunnel", plan_through_loopback_bastion)
    lines: list[str] = []
    environment = LabEnvironment(EnvironmentSpec(
        local=False, aws=AwsTarget(region=naming.REGION, endpoint_url=moto_server.endpoint_url), provision=True,
        run_id="tunnelled", ssh_cidr="203.0.113.9/32", timeout=30, reports_dir=tmp_path,
        mysql_url=format_mysql_url(plane.mysql[naming.DB_INSTANCE]),
        mysql_replica_url=format_mysql_url(plane.mysql[naming.DB_REPLICA]),
        redis_url=format_redis_url(plane.redis[REDIS_PRIMARY]),
        redis_replica_url=format_redis_url(plane.redis[REDIS_REPLICA]), tunnel=True), log=lines.append)
    try:
        environment.start()
        yield environment, planned, lines, plane
    finally:
        environment.close()


def test_the_data_steps_run_through_the_runs_own_bastion_and_key(provisioned, bastion_sshd):
    environment, planned, lines, plane = provisioned
    results = {r.step: r for r in environment.provision_results}
    assert all(r.ok for r in results.values()), {s: r.error for s, r in results.items() if not r.ok}
    # The key is the one step 1.5 created and kept in the run's private state directory.
    assert planned["key"].parent.stat().st_mode & 0o077 == 0
    assert planned["found"] >= {naming.DB_INSTANCE, naming.DB_REPLICA, REDIS_PRIMARY}
    assert " RSA SHA256:" in bastion_sshd.log_text()  # moto's key pair (RSA, as AWS's) logged in
    # The data steps waited for the tunnel, and reached the servers through it.
    assert results["2.3"].started >= results["tunnel"].ended and results["5.3"].started >= results["tunnel"].ended
    primary = environment.dataplane.mysql[naming.DB_INSTANCE]
    assert primary.port != plane.mysql[naming.DB_INSTANCE].port  # a forwarded port, not the server's own
    with plane.mysql[naming.DB_INSTANCE].connect() as direct, direct.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM products")
        assert cursor.fetchone()[0] > 0  # 2.3 and 3.2 wrote through the tunnel
    assert any(line.startswith("tunnel: open, ") for line in lines)


def test_the_bastion_admits_ssh_from_the_runners_address_only(provisioned):
    environment, *_ = provisioned
    ec2 = environment.clients("ec2")
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [naming.EC2_SG]}])["SecurityGroups"][0]
    ssh = [r for r in group["IpPermissions"] if r.get("FromPort") == naming.SSH_PORT]
    assert [ip["CidrIp"] for rule in ssh for ip in rule["IpRanges"]] == ["203.0.113.9/32"]


class _Answer(http.server.BaseHTTPRequestHandler):
    body = b"203.0.113.77\n"

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def checkip():
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}/"
    server.shutdown()


def test_the_runners_address_is_asked_of_aws_checkip_as_a_slash_32(checkip):
    assert runner_cidr(checkip) == "203.0.113.77/32"


def test_an_address_that_cannot_be_found_is_one_line_naming_the_option(checkip, monkeypatch):
    monkeypatch.setattr(_Answer, "body", b"<html>captive portal</html>")
    with pytest.raises(RunnerAddressError) as refused:
        runner_cidr(checkip)
    assert "--lab-ssh-cidr=ADDRESS/32" in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(RunnerAddressError):
        runner_cidr("http://127.0.0.1:9/")

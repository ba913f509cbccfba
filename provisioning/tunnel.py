"""The data plane of a real account, through the student's bastion.

RDS and ElastiCache live in the lab's private subnets; only the bastion (Lab 1.5) reaches
them. This forwards free loopback ports to the RDS primary and replica and to the replication
group's primary and reader endpoints, and returns bindings (MysqlEndpoint / RedisEndpoint) the
checks use like any other, each server that has an endpoint on its own. Two ways:

- SSH (`plan_tunnel`): one `ssh -N -L` process with the instructor's copy of the bastion's
  key; the bastion's SSH rule must admit the grader's address.
- SSM (`plan_ssm_tunnel`): one `aws ssm start-session` process per endpoint, with the
  document AWS-StartPortForwardingSessionToRemoteHost: no key, no change to any security group.
  The bastion must run the SSM agent (Amazon Linux 2 has it) with an instance profile holding
  AmazonSSMManagedInstanceCore; the grader needs the AWS CLI, the Session Manager plugin, and
  ssm:StartSession in the student's account.

Everything is found read-only by the lab's names: the bastion by its Name tag, the
endpoints by describe calls. Errors are one line (TunnelError) that say what to fix; a check
that meets one is not_gradable (provisioning/dataplane_errors.py), never the student's failure.
Neither way can be exercised against a real bastion here (no AWS access): the self-tests cover
the command lines, the discovery against the emulator and the error paths, with stand-ins for
ssh and the AWS CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lookups.bastion import bastion
from lookups.elasticache import describe_replication_group
from lookups.rds import instance as rds_instance

from . import naming
from .dataplane import REDIS_PRIMARY, REDIS_REPLICA, DataPlane, MysqlEndpoint, RedisEndpoint
from .dataplane_errors import TunnelError  # noqa: F401  (raised here; callers import it from this module too)
from .polling import DeadlineExceeded, wait_until
from .passwords import Secret

BASTION_USER = "ec2-user"  # Amazon Linux 2, as Lab 1.5 launches it
LOOPBACK = "127.0.0.1"
SSM_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"  # AWS's own: forwards one port to a host the target reaches
SSM_PLUGIN = "session-manager-plugin"  # the AWS CLI hands the session's data stream to it

# Forward names: the keys DataPlane uses (RDS instance ids, Redis roles).
MYSQL_TARGETS = (naming.DB_INSTANCE, naming.DB_REPLICA)
REDIS_TARGETS = (REDIS_PRIMARY, REDIS_REPLICA)


@dataclass(frozen=True)
class Forward:
    name: str  # naming.DB_INSTANCE, naming.DB_REPLICA, REDIS_PRIMARY or REDIS_REPLICA
    remote_host: str
    remote_port: int
    local_port: int = 0

    def spec(self) -> str:
        return f"{LOOPBACK}:{self.local_port}:{self.remote_host}:{self.remote_port}"


# --- what to forward, found read-only --------------------------------------------------------

def running_bastion(ec2) -> dict:
    instance = bastion(ec2)
    if not instance:
        raise TunnelError(f"no EC2 instance tagged Name={naming.BASTION} (Lab 1.5): nothing to tunnel through")
    if instance["State"]["Name"] != "running":
        raise TunnelError(f"bastion {naming.BASTION} ({instance['InstanceId']}) is {instance['State']['Name']}, not running")
    return instance.resource


def bastion_address(ec2) -> str:
    instance = running_bastion(ec2)
    address = instance.get("PublicIpAddress")
    if not address:
        raise TunnelError(f"bastion {naming.BASTION} ({instance['InstanceId']}) has no public IP address")
    return address


def discover_forwards(rds, elasticache) -> list[Forward]:
    """The lab's database endpoints that exist and have an address; missing ones are left out
    (their checks fail or report not-reachable on their own)."""
    forwards = []
    for identifier in MYSQL_TARGETS:
        endpoint = rds_instance(rds, identifier).get("Endpoint") or {}
        if endpoint.get("Address"):
            forwards.append(Forward(identifier, endpoint["Address"], int(endpoint.get("Port") or naming.MYSQL_PORT)))
    group = describe_replication_group(elasticache)
    node_group = ((group or {}).get("NodeGroups") or [{}])[0]
    for role, key in ((REDIS_PRIMARY, "PrimaryEndpoint"), (REDIS_REPLICA, "ReaderEndpoint")):
        endpoint = node_group.get(key) or {}
        if endpoint.get("Address"):
            forwards.append(Forward(role, endpoint["Address"], int(endpoint.get("Port") or naming.REDIS_PORT)))
    return forwards


# --- the ssh process -------------------------------------------------------------------------

def find_ssh(ssh: str | None = None) -> str:
    found = shutil.which(ssh or "ssh")
    if found is None:
        raise TunnelError(f"{ssh or 'ssh'} not found: install the OpenSSH client (apt-get install openssh-client)")
    return found


def check_key(key: str | os.PathLike) -> Path:
    path = Path(key).expanduser()
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise TunnelError(f"bastion key {path} is unreadable ({exc.strerror or exc})") from None
    if b"PRIVATE KEY" not in head:
        raise TunnelError(f"bastion key {path} is not a private key (expected the .pem of {naming.KEY_PAIR})")
    return path


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def ssh_command(ssh: str, key: Path, bastion: str, forwards: list[Forward], *, user: str = BASTION_USER,
                known_hosts: Path | None = None, connect_timeout: int = 10, port: int | None = None) -> list[str]:
    """`ssh -N -L ...`: forward only, never a shell; fail instead of prompting or half-working.
    `port`: the bastion's SSH port when it is not 22 (a test's private sshd)."""
    command = [
        ssh, "-N",
        "-i", str(key),
        "-o", "IdentitiesOnly=yes",  # only the instructor's copy of the bastion's key, not an agent's keys
        "-o", "BatchMode=yes",  # never prompt for a passphrase or a password
        "-o", "ExitOnForwardFailure=yes",  # a port that cannot be forwarded ends ssh, not just that port
        "-o", f"ConnectTimeout={connect_timeout}",
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=3",
        # A bastion is new to the grader: accept its host key once, remember it per tunnel only.
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", f"UserKnownHostsFile={known_hosts or os.devnull}",
    ]
    if port is not None:
        command += ["-p", str(port)]
    for forward in forwards:
        command += ["-L", forward.spec()]
    command.append(f"{user}@{bastion}")
    return command


def bindings(forwards: list[Forward], note: str, mysql_user: str = naming.DB_MASTER_USER,
             mysql_password: Secret | None = None) -> DataPlane:
    """Bindings to the forwarded ports, each on its own. MySQL only with the master password (the
    grader cannot read it from AWS); Redis as the lab runs it, without AUTH."""
    mysql, redis = {}, {}
    for forward in forwards:
        if forward.name in MYSQL_TARGETS and mysql_password is not None:
            mysql[forward.name] = MysqlEndpoint(LOOPBACK, forward.local_port, mysql_user, Secret(mysql_password))
        elif forward.name in REDIS_TARGETS:
            redis[forward.name] = RedisEndpoint(LOOPBACK, forward.local_port)
    return DataPlane(mysql=mysql, redis=redis, engine_note=note)


def _spawn(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """The forwarding process: killed with the grader (even by SIGKILL), its stderr in a file.

    Not a pipe: ssh writes a line there for every connection a forward cannot make, and a pipe
    nobody reads fills after about a thousand of them, when ssh blocks and every forward freezes.
    """
    from .local.processes import popen_dying_with_this_process

    errors = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
    process = popen_dying_with_this_process(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=errors, env=env)
    process.dblab_errors = errors
    return process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    errors = getattr(process, "dblab_errors", None)
    if errors is not None:
        errors.close()


def said(process: subprocess.Popen) -> str:
    """Everything the forwarding process has written to its stderr so far."""
    errors = getattr(process, "dblab_errors", None)
    if errors is None or errors.closed:
        return ""
    errors.seek(0)
    return errors.read()


def _last_line(process: subprocess.Popen) -> str:
    lines = said(process).strip().splitlines()
    return lines[-1] if lines else f"exit status {process.returncode}"


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Tunnel:
    command: list[str]
    forwards: list[Forward]
    process: subprocess.Popen | None = field(default=None, repr=False)

    def open(self, *, timeout: float = 30.0) -> "Tunnel":
        self.process = _spawn(self.command)

        def settled():  # every port answers, or ssh gave up (it exits on any failure)
            return self.process.poll() is not None or all(_accepts(f.local_port) for f in self.forwards)

        try:
            wait_until(settled, timeout=timeout, what="the SSH tunnel's forwarded ports")
        except DeadlineExceeded:
            self.close()
            raise TunnelError(f"the SSH tunnel did not open within {timeout:g}s") from None
        if self.process.poll() is not None:
            reason = self._exit_reason()
            self.close()
            raise TunnelError(reason)
        return self

    def _exit_reason(self) -> str:
        return f"ssh to the bastion failed: {_last_line(self.process)}"

    def close(self) -> None:
        if self.process is not None:
            _stop(self.process)
        self.process = None

    def dataplane(self, *, mysql_user: str = naming.DB_MASTER_USER, mysql_password: Secret | None = None) -> DataPlane:
        return bindings(self.forwards, "through an SSH tunnel over the bastion", mysql_user, mysql_password)

    def __enter__(self) -> "Tunnel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def plan_tunnel(clients, key: str | os.PathLike, *, ssh: str | None = None, user: str = BASTION_USER,
                known_hosts: Path | None = None) -> Tunnel:
    """Find the bastion and the endpoints, pick free local ports: a Tunnel ready to open.

    `clients` is an AwsClients (or any callable returning a boto3 client per service) with
    the student's credentials; only describe calls are made.
    """
    key_path = check_key(key)
    address = bastion_address(clients("ec2"))
    forwards = discover_forwards(clients("rds"), clients("elasticache"))
    if not forwards:
        raise TunnelError(f"none of {', '.join(MYSQL_TARGETS)} or {naming.REPLICATION_GROUP} has an endpoint yet")
    program = find_ssh(ssh)
    forwards = [Forward(f.name, f.remote_host, f.remote_port, free_port()) for f in forwards]
    return Tunnel(ssh_command(program, key_path, address, forwards, user=user, known_hosts=known_hosts), forwards)


def open_tunnel(clients, key: str | os.PathLike, *, timeout: float = 30.0, **kwargs) -> Tunnel:
    return plan_tunnel(clients, key, **kwargs).open(timeout=timeout)


# --- SSM port forwarding: no key, no security group rule ------------------------------------------

# What the AWS CLI answers when the bastion or the grader's role is not set up for SSM, and the fix.
SSM_HINTS = {
    "TargetNotConnected": "the bastion needs the SSM agent running and an instance profile with "
                          "AmazonSSMManagedInstanceCore, and outbound HTTPS",
    "AccessDenied": "the grader's role needs ssm:StartSession on the bastion and on the document " + SSM_DOCUMENT,
}


def find_ssm_client(aws: str | None = None, plugin: str | None = None, *, path: str | None = None) -> str:
    """The AWS CLI, after checking that the Session Manager plugin it hands the session to is
    there; both on `path` (the PATH the CLI will run with), else this process's PATH."""
    found = shutil.which(aws or "aws", path=path)
    if found is None:
        raise TunnelError(f"{aws or 'aws'} not found: install the AWS CLI (https://aws.amazon.com/cli/)")
    if shutil.which(plugin or SSM_PLUGIN, path=path) is None:
        raise TunnelError(f"{plugin or SSM_PLUGIN} not found: install the Session Manager plugin for the AWS CLI "
                          "(AWS Systems Manager user guide: session-manager-working-with-install-plugin)")
    return found


def ssm_command(aws: str, instance_id: str, forward: Forward, *, region: str) -> list[str]:
    """`aws ssm start-session` forwarding one loopback port to `forward`'s host through the bastion."""
    parameters = {"host": [forward.remote_host], "portNumber": [str(forward.remote_port)],
                  "localPortNumber": [str(forward.local_port)]}
    return [aws, "ssm", "start-session", "--target", instance_id, "--document-name", SSM_DOCUMENT,
            "--parameters", json.dumps(parameters, separators=(",", ":")), "--region", region]


@dataclass
class SsmTunnel:
    """One `aws ssm start-session` per forward (the document forwards one port); the student's
    credentials reach the AWS CLI through `env` only."""

    commands: list[list[str]]  # in the order of forwards
    forwards: list[Forward]
    env: dict[str, str] = field(default_factory=dict, repr=False)
    processes: list[subprocess.Popen] = field(default_factory=list, repr=False)

    def open(self, *, timeout: float = 30.0) -> "SsmTunnel":
        for command in self.commands:
            self.processes.append(_spawn(command, env=self.env))

        def settled():  # every port answers, or a session gave up
            return (any(p.poll() is not None for p in self.processes)
                    or all(_accepts(f.local_port) for f in self.forwards))

        try:
            wait_until(settled, timeout=timeout, what="the SSM sessions' forwarded ports")
        except DeadlineExceeded:
            self.close()
            raise TunnelError(f"the SSM port forwarding did not open within {timeout:g}s") from None
        ended = next((p for p in self.processes if p.poll() is not None), None)
        if ended is not None:
            detail = _last_line(ended)
            self.close()
            hint = next((fix for code, fix in SSM_HINTS.items() if code in detail), None)
            raise TunnelError(f"aws ssm start-session failed: {detail}" + (f" ({hint})" if hint else ""))
        return self

    def close(self) -> None:
        for process in self.processes:
            _stop(process)
        self.processes = []

    def dataplane(self, *, mysql_user: str = naming.DB_MASTER_USER, mysql_password: Secret | None = None) -> DataPlane:
        return bindings(self.forwards, "through SSM port forwarding over the bastion", mysql_user, mysql_password)

    def __enter__(self) -> "SsmTunnel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def plan_ssm_tunnel(clients, *, region: str, env: dict[str, str], aws: str | None = None,
                    plugin: str | None = None) -> SsmTunnel:
    """Find the running bastion and the endpoints, pick free local ports: an SsmTunnel ready to
    open. `env` is the whole environment of the AWS CLI: the student's credentials, never the
    grader's own."""
    instance_id = running_bastion(clients("ec2"))["InstanceId"]
    forwards = discover_forwards(clients("rds"), clients("elasticache"))
    if not forwards:
        raise TunnelError(f"none of {', '.join(MYSQL_TARGETS)} or {naming.REPLICATION_GROUP} has an endpoint yet")
    program = find_ssm_client(aws, plugin, path=env.get("PATH"))
    forwards = [Forward(f.name, f.remote_host, f.remote_port, free_port()) for f in forwards]
    return SsmTunnel([ssm_command(program, instance_id, forward, region=region) for forward in forwards], forwards, env)


def open_ssm_tunnel(clients, *, timeout: float = 30.0, **kwargs) -> SsmTunnel:
    return plan_ssm_tunnel(clients, **kwargs).open(timeout=timeout)

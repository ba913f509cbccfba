"""The data plane of a real account, through the student's bastion: one `ssh -N -L` process.

RDS and ElastiCache live in the lab's private subnets; only the bastion (Lab 1.5) reaches
them. With the instructor's copy of the bastion's key, this forwards free loopback ports to
the RDS primary and replica and to the replication group's primary and reader endpoints,
and returns bindings (MysqlEndpoint / RedisEndpoint) the checks use like any other.

Everything is found read-only by the lab's names: the bastion by its Name tag, the
endpoints by describe calls. Errors are one line (TunnelError) that say what to fix.
It cannot be exercised against a real bastion here (no AWS access): the self-tests cover
the command line, the discovery against the emulator and the error paths.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from lookups.bastion import bastion
from lookups.elasticache import describe_replication_group
from lookups.rds import instance as rds_instance

from . import naming
from .dataplane import REDIS_PRIMARY, REDIS_REPLICA, DataPlane, MysqlEndpoint, RedisEndpoint
from .polling import DeadlineExceeded, wait_until
from .passwords import Secret

BASTION_USER = "ec2-user"  # Amazon Linux 2, as Lab 1.5 launches it
LOOPBACK = "127.0.0.1"

# Forward names: the keys DataPlane uses (RDS instance ids, Redis roles).
MYSQL_TARGETS = (naming.DB_INSTANCE, naming.DB_REPLICA)
REDIS_TARGETS = (REDIS_PRIMARY, REDIS_REPLICA)


class TunnelError(RuntimeError):
    """Why the data plane cannot be reached through the bastion; one line naming the fix."""


@dataclass(frozen=True)
class Forward:
    name: str  # naming.DB_INSTANCE, naming.DB_REPLICA, REDIS_PRIMARY or REDIS_REPLICA
    remote_host: str
    remote_port: int
    local_port: int = 0

    def spec(self) -> str:
        return f"{LOOPBACK}:{self.local_port}:{self.remote_host}:{self.remote_port}"


# --- what to forward, found read-only --------------------------------------------------------

def bastion_address(ec2) -> str:
    instance = bastion(ec2)
    if not instance:
        raise TunnelError(f"no EC2 instance tagged Name={naming.BASTION} (Lab 1.5): nothing to tunnel through")
    if instance["State"]["Name"] != "running":
        raise TunnelError(f"bastion {naming.BASTION} ({instance['InstanceId']}) is {instance['State']['Name']}, not running")
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
                known_hosts: Path | None = None, connect_timeout: int = 10) -> list[str]:
    """`ssh -N -L ...`: forward only, never a shell; fail instead of prompting or half-working."""
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
    for forward in forwards:
        command += ["-L", forward.spec()]
    command.append(f"{user}@{bastion}")
    return command


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
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, start_new_session=True)

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
        error = (self.process.stderr.read() if self.process.stderr else "").strip().splitlines()
        detail = error[-1] if error else f"exit status {self.process.returncode}"
        return f"ssh to the bastion failed: {detail}"

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def dataplane(self, *, mysql_user: str = naming.DB_MASTER_USER, mysql_password: Secret | None = None) -> DataPlane:
        """Bindings to the forwarded ports. MySQL only with the master password (the grader cannot
        read it from AWS); Redis as the lab runs it, without AUTH."""
        mysql, redis = {}, {}
        for forward in self.forwards:
            if forward.name in MYSQL_TARGETS and mysql_password is not None:
                mysql[forward.name] = MysqlEndpoint(LOOPBACK, forward.local_port, mysql_user, Secret(mysql_password))
            elif forward.name in REDIS_TARGETS:
                redis[forward.name] = RedisEndpoint(LOOPBACK, forward.local_port)
        return DataPlane(mysql=mysql, redis=redis, engine_note="through an SSH tunnel over the bastion")

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

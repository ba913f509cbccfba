"""A private OpenSSH server on a free loopback port, for proving the SSH tunnel (provisioning/tunnel.py)
against a real sshd instead of a stand-in.

Everything it uses is in its own directory: a host key generated with ssh-keygen, an sshd_config
that accepts public keys only (from an authorized_keys file there) and lets TCP forwarding reach the
given targets only, the pid file and the log (`-e`: sshd's messages, LogLevel VERBOSE). The server is
forked by the suite's spawner (provisioning/local/processes.py), so the kernel kills it if the test
process dies; stop() also ends the per-connection processes, which sshd puts in sessions of their own.
Nothing touches the system's sshd, its config or its host keys.

Needs /usr/sbin/sshd (Debian's openssh-server): scripts/ensure-sshd installs it, `make test` runs it.
"""

from __future__ import annotations

import getpass
import os
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Iterable

import pytest

from provisioning.local.processes import popen_dying_with_this_process
from provisioning.polling import DeadlineExceeded, wait_until
from provisioning.tunnel import free_port

SSHD = Path("/usr/sbin/sshd")  # absolute: sshd re-executes itself for each connection
SSH_KEYGEN = "ssh-keygen"
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; it refuses to start without it
LOOPBACK = "127.0.0.1"
SKIP_REASON = "run scripts/ensure-sshd (make test does)"


def have_sshd() -> bool:
    return os.access(SSHD, os.X_OK)


def require_sshd() -> None:
    """Skip the calling test when sshd is not installed."""
    if not have_sshd():
        pytest.skip(SKIP_REASON)


def sshd_version() -> tuple[int, int]:
    """(major, minor) of /usr/sbin/sshd, from `sshd -V` ("OpenSSH_9.2p1 Debian-2, OpenSSL ...")."""
    result = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True, timeout=10)
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", result.stderr + result.stdout)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def generate_key(path: Path, *, kind: str = "ed25519", comment: str = "dblab-test") -> Path:
    """A new private key at path (no passphrase) and its .pub next to it."""
    subprocess.run([SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True, timeout=30)
    return path


def public_key_of(private_key: Path) -> str:
    """The OpenSSH public key line of a private key file (PEM RSA as AWS hands it out, or OpenSSH)."""
    result = subprocess.run([SSH_KEYGEN, "-y", "-f", str(private_key)], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ssh-keygen -y -f {private_key}: {result.stderr.strip()}")
    return result.stdout.strip()


# --- processes, from /proc (Linux) ----------------------------------------------------------

def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Running (a zombie does not count: an orphan may never be reaped in a container)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def descendants(pid: int) -> list[int]:
    """Live processes below pid (children, their children...)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[0] not in ("Z", "X"):
                parents.setdefault(stat[1], []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _signal_all(pids: Iterable[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


# --- the server -----------------------------------------------------------------------------

class SshdError(RuntimeError):
    pass


class Sshd:
    """sshd on 127.0.0.1:port, admitting `authorized_keys` (public key lines) as the current user.

    `permit_open`: the (host, port) targets -L forwards may reach (sshd's PermitOpen); None: any.
    """

    def __init__(self, directory: Path, authorized_keys: Iterable[str], *,
                 permit_open: Iterable[tuple[str, int]] | None = None):
        self.directory = Path(directory).resolve()  # sshd wants absolute paths in its config
        self.authorized_keys = [key.strip() for key in authorized_keys]
        self.permit_open = None if permit_open is None else list(permit_open)
        self.host = LOOPBACK
        self.user = getpass.getuser()
        self.port = 0
        self.config_path = self.directory / "sshd_config"
        self.log_path = self.directory / "sshd.log"
        self.process: subprocess.Popen | None = None

    # -- setup --

    def _prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        host_key = self.directory / "ssh_host_ed25519_key"
        if not host_key.exists():
            generate_key(host_key, comment="dblab-test-host")
        (self.directory / "authorized_keys").write_text("".join(f"{key}\n" for key in self.authorized_keys))
        try:
            PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)  # root-owned, not group/world-writable
        except OSError as exc:
            pytest.skip(f"sshd needs its privilege separation directory {PRIVSEP_DIR}: {exc.strerror or exc}")

    def _config(self) -> str:
        if self.permit_open is None:
            permit = "any"
        else:
            permit = " ".join(f"{host}:{port}" for host, port in self.permit_open) or "none"
        lines = [
            f"ListenAddress {self.host}",
            f"Port {self.port}",
            f"HostKey {self.directory / 'ssh_host_ed25519_key'}",
            f"PidFile {self.directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.directory / 'authorized_keys'}",
            "AuthorizedPrincipalsFile none",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "PermitRootLogin prohibit-password",  # the suite runs as root in CI: keys only
            f"AllowUsers {self.user}",
            "UsePAM no",
            "StrictModes no",  # the temp dir's owner and modes are the test's business
            "AllowTcpForwarding local",  # -L only: what the tunnel uses
            f"PermitOpen {permit}",
            "GatewayPorts no",
            "AllowAgentForwarding no",
            "AllowStreamLocalForwarding no",
            "X11Forwarding no",
            "PermitTunnel no",
            "PermitTTY no",
            "PermitUserRC no",
            "PrintMotd no",
            "UseDNS no",
            "LoginGraceTime 10",
            "MaxStartups 100",
            "LogLevel VERBOSE",
        ]
        if sshd_version() >= (9, 8):
            # 9.8+ penalises an address that fails to authenticate by refusing it for a while:
            # a test that is refused on purpose would make the next test's tunnel fail.
            lines.append("PerSourcePenalties no")
        return "\n".join(lines) + "\n"

    # -- running --

    def start(self, *, timeout: float = 10.0) -> "Sshd":
        require_sshd()
        self._prepare()
        last = ""
        for _ in range(3):  # the free port can be taken between choosing it and sshd binding it
            self.port = free_port()
            self.config_path.write_text(self._config())
            check = subprocess.run([str(SSHD), "-t", "-f", str(self.config_path)], capture_output=True, text=True,
                                   timeout=10)
            if check.returncode != 0:
                raise SshdError(f"sshd rejects {self.config_path}: {check.stderr.strip()}")
            with open(self.log_path, "ab") as log:
                self.process = popen_dying_with_this_process(
                    [str(SSHD), "-D", "-e", "-f", str(self.config_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)
            try:
                wait_until(lambda: self.process.poll() is not None or self._accepts(), timeout=timeout,
                           what=f"sshd listening on {self.host}:{self.port}")
            except DeadlineExceeded:
                self.stop()
                raise SshdError(f"sshd did not listen on {self.host}:{self.port} within {timeout:g}s "
                                f"(log: {self.log_path})") from None
            if self.process.poll() is None:
                return self
            last = self.log_tail()
            self.process = None
            if "Address already in use" not in last:
                break
        raise SshdError(f"sshd exited while starting: {last} (log: {self.log_path})")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def sessions(self) -> list[int]:
        """The per-connection processes sshd has forked (its descendants), live ones."""
        return descendants(self.pid) if self.pid is not None else []

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self) -> str:
        lines = [line.strip() for line in self.log_text().splitlines() if line.strip()]
        return lines[-1] if lines else "(empty log)"

    def stop(self, *, timeout: float = 5.0) -> None:
        """SIGTERM the server and every session it forked (sshd leaves those running when the
        listener ends), then SIGKILL what is left at the deadline. Safe to call again."""
        if self.process is None:
            return
        sessions = self.sessions()  # before the listener dies: then they are orphans, hard to find
        pids = [self.process.pid, *sessions]
        _signal_all(pids, signal.SIGTERM)
        try:
            wait_until(lambda: self.process.poll() is not None and not any(alive(p) for p in sessions),
                       timeout=timeout, what="sshd stopped")
        except DeadlineExceeded:
            _signal_all([p for p in pids if alive(p)], signal.SIGKILL)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.process = None

    def __enter__(self) -> "Sshd":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

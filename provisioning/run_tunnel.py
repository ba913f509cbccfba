"""The private data plane of a run that provisions on AWS: through its own bastion and key pair.

RDS and ElastiCache live in the lab's private subnets; only the bastion (1.5) reaches them. The
run created the bastion's key pair (its private key is in the run's private state directory) and
allowed SSH from the runner's own address only (/32, step 1.2). So the data steps (2.3's data on
the primary, 3.2's app, 5.3's cache app) and the data-plane checks reach the servers through an
SSH tunnel (provisioning/tunnel.py) that opens as soon as the bastion, the replica and the cache
group exist: a task of the parallel plan that the data steps wait for.

The runner's address is asked of checkip.amazonaws.com, AWS's own service and the lab's way of
finding "your IP"; --lab-ssh-cidr gives it instead (a runner behind a NAT knows its own).
"""

from __future__ import annotations

import ipaddress
import urllib.request
from pathlib import Path
from typing import Callable

from . import tunnel as tunnels
from .bastion import KEY_FILE
from .context import ProvisionContext, Step

STEP = "tunnel"
TITLE = "Open the run's SSH tunnel through its bastion"
# The tunnel needs the bastion and the servers; the data steps need the tunnel.
WAITS = {STEP: ("1.5", "2.2", "5.2"), "2.3": (STEP,), "3.2": (STEP,), "5.3": (STEP,)}
CHECKIP_URL = "https://checkip.amazonaws.com"


class RunnerAddressError(RuntimeError):
    """One line: the runner's address could not be found, and the fix."""


def runner_cidr(url: str = CHECKIP_URL, timeout: float = 10.0) -> str:
    """This machine's public IPv4 address as a /32, as AWS sees it."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            text = answer.read(64).decode("ascii", "replace").strip()
        address = ipaddress.IPv4Address(text)
    except (OSError, ValueError) as exc:
        raise RunnerAddressError(f"cannot find this machine's public address at {url} ({exc}); give it with "
                                 "--lab-ssh-cidr=ADDRESS/32 (SSH to the bastion is allowed from it alone)") from None
    return f"{address}/32"


class RunTunnel:
    """Opens the run's tunnel once (the plan's `tunnel` task) and closes it at the end."""

    def __init__(self, plan: Callable[..., tunnels.Tunnel] | None = None, timeout: float = 60.0):
        self._plan, self._timeout = plan, timeout  # plan: tunnel.plan_tunnel (found by the lab's names)
        self.tunnel: tunnels.Tunnel | None = None

    def step(self) -> Step:
        return Step(STEP, TITLE, self.open)

    def open(self, ctx: ProvisionContext) -> None:
        key = Path(ctx.state_dir) / KEY_FILE if ctx.state_dir is not None else None
        if key is None or not key.exists():
            # An adopted key pair: AWS shows a private key once, to the run that created it.
            ctx.log("tunnel: not opened, this run does not hold the bastion's private key; the data steps "
                    "and checks report the data plane not reachable")
            return
        self.tunnel = (self._plan or tunnels.plan_tunnel)(ctx.clients, key).open(timeout=self._timeout)
        ctx.dataplane = self.tunnel.dataplane(mysql_password=ctx.master_password)
        ctx.log("tunnel: open, " + ", ".join(f"{f.name} on 127.0.0.1:{f.local_port}" for f in self.tunnel.forwards))

    def close(self) -> None:
        if self.tunnel is not None:
            self.tunnel.close()
            self.tunnel = None

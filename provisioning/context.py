"""What every provisioning step receives, and how a step is declared."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .aws import AwsClients
from .dataplane import DataPlane
from .passwords import Secret


@dataclass
class ProvisionContext:
    clients: AwsClients
    run_id: str  # goes into the dblab:run-id tag of everything created
    dataplane: DataPlane  # where RDS/ElastiCache data really answer (local servers, tunnels)
    master_password: Secret = field(repr=False)  # RDS master password, generated per run
    ssh_cidr: str = "198.51.100.10/32"  # the one /32 allowed to SSH to the bastion
    timeout: float = 60.0  # deadline for each wait (RDS on real AWS needs --lab-timeout 1800)
    log: Callable[[str], None] = print
    state_dir: Path | None = None  # private (0700) files of this run, e.g. the bastion key

    @property
    def emulated(self) -> bool:
        return self.clients.target.emulated


@dataclass(frozen=True)
class Step:
    """One provisioning function of a lab step, as provisioning.lab runs it; `run` must be idempotent."""

    step: str  # the lab's step id, e.g. "1.4"
    title: str  # from the step catalogue (provisioning/catalogue.toml)
    run: Callable[[ProvisionContext], object]

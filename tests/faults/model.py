"""A seeded fault as data: what it breaks, how it is applied, which checks it must fail.

Systems name what a fault changes and what a check reads. A check is re-run under a fault
only when it read one of the systems the fault touched (measured, not declared: see
context.py and plugin.py); a check that reads none of them gets the same answers as on the
reference environment, so its verdict cannot change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

EC2 = "aws:ec2"
RDS = "aws:rds"
ELASTICACHE = "aws:elasticache"
DYNAMODB = "aws:dynamodb"
MYSQL = "mysql"
REDIS = "redis"

SERVICE_SYSTEMS = {"rds": RDS, "elasticache": ELASTICACHE, "dynamodb": DYNAMODB, "dynamodbstreams": DYNAMODB}
# RDS and ElastiCache describe the EC2 subnets and security groups they use (moto builds those
# answers from its EC2 records): a change to EC2 may show in their answers too.
SHOWS_IN = {EC2: {EC2, RDS, ELASTICACHE}}


def system_of_service(service: str) -> str:
    return SERVICE_SYSTEMS.get(service, EC2)  # ec2, and ssm/sts which only the EC2 steps use


def affected(touched: set[str]) -> set[str]:
    """Every system whose answers a change to `touched` can alter."""
    return set().union(*(SHOWS_IN.get(system, {system}) for system in touched)) if touched else set()


def code_system(cls: type) -> str:
    """An app class the checks exercise: a fault that replaces it touches only its users."""
    return f"code:{cls.__module__}.{cls.__qualname__}"


def app_classes() -> list[type]:
    from provisioning.apps import cache, orders, products

    return [orders.OrderRepository, products.ProductRepository, cache.CachedProductRepository, cache.SessionStore,
            cache.RateLimiter, cache.Leaderboard]


EMULATOR = "emulator"  # the checks see the emulator as it answers
AWS = "aws"  # the checks see AWS's answers where moto answers less (aws_view.py)


@dataclass(frozen=True)
class Fault:
    id: str  # "1.2-ssh-open-to-the-world"
    step: str  # the lab step the fault breaks
    title: str  # what is wrong, as an instructor would say it
    targets: tuple[str, ...]  # the checks (test names, with [parameter]) that must fail
    apply: Callable  # apply(fc: FaultContext); registers its own undo through fc.undo
    # What the fault breaks, as a failing check must name it: the resource or the setting (any
    # one of these in each target's message). A target that fails without naming it did not
    # see this fault: it failed for another reason, which is a crash, not a kill.
    breaks: tuple[str, ...] = ()
    view: str = EMULATOR

    def __post_init__(self):
        if not self.targets:
            raise ValueError(f"fault {self.id}: no target checks")
        if not self.breaks or not all(self.breaks):
            raise ValueError(f"fault {self.id}: name what it breaks (breaks=...)")
        if self.view not in (EMULATOR, AWS):
            raise ValueError(f"fault {self.id}: unknown view {self.view!r}")


def fault(step: str, id: str, title: str, *targets: str, breaks: str | tuple[str, ...], view: str = EMULATOR):
    """Decorator: the function below is the fault's apply(fc)."""
    named = (breaks,) if isinstance(breaks, str) else tuple(breaks)

    def declare(apply: Callable) -> Fault:
        return Fault(id=f"{step}-{id}", step=step, title=title, targets=tuple(targets), apply=apply,
                     breaks=named, view=view)
    return declare

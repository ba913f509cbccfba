"""An AWS-realism layer in front of moto (--lab-aws-realism=SCALE).

moto answers at once, is always consistent, never throttles and lets anything be deleted at any
time. `start_realism_proxy` starts an HTTP proxy in front of a moto server that makes boto3
clients pointed at it see AWS's behaviour instead, with AWS's typical durations
(durations.toml) multiplied by `scale`: states that take time (creating, backing-up, modifying,
deleting, pending...), refusals in those states, EC2's eventual consistency and throttling.
Resources the proxy did not see being created pass through unchanged.
"""

from __future__ import annotations

import time
from typing import Callable

from .base import Context
from .clock import Clock
from .durations import Durations, load_durations
from .dynamodb import DynamoDbRules
from .ec2 import Ec2Rules
from .elasticache import ElastiCacheRules
from .faults import Stats, Throttler
from .proxy import Dispatcher, ProxyServer, Upstream
from .rds import RdsRules

__all__ = ["RealismProxy", "start_realism_proxy", "load_durations", "Durations"]


class RealismProxy:
    """A running proxy: point boto3's endpoint_url at `endpoint_url`."""

    def __init__(self, server: ProxyServer, stats: Stats, scale: float, throttle_rate: float) -> None:
        self._server = server
        self._stats = stats
        self.endpoint_url = server.endpoint_url
        self.scale = scale
        self.throttle_rate = throttle_rate

    def stats(self) -> dict[str, int]:
        """Counts so far: requests, throttled, not_found, refused, rewritten."""
        return self._stats.snapshot()

    def stop(self) -> None:
        """Stop serving; safe to call more than once."""
        self._server.stop()

    def __enter__(self) -> "RealismProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_realism_proxy(upstream_url: str, scale: float, *, seed: int | None = None,
                        throttle_rate: float | None = None, now: Callable[[], float] = time.monotonic) -> RealismProxy:
    """Start a proxy in front of the moto server at upstream_url (e.g. "http://127.0.0.1:5000").

    scale multiplies AWS's typical durations and must be > 0 (scale 0 means: use moto directly).
    seed makes the throttling decisions reproducible; throttle_rate overrides durations.toml's.
    now is the clock the resources' states follow: a self-test moves one of its own, so that a
    phase lasts until the test moves past it, however slow the machine.
    """
    if not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(f"scale must be > 0 (0 means: use moto directly), got {scale!r}")
    durations = load_durations()
    rate = durations.throttle_rate if throttle_rate is None else float(throttle_rate)
    stats = Stats()
    ctx = Context(Clock(float(scale), now), durations, stats)
    rules = {
        "rds": RdsRules(ctx),
        "elasticache": ElastiCacheRules(ctx),
        "dynamodb": DynamoDbRules(ctx),
        "ec2": Ec2Rules(ctx),
    }
    dispatcher = Dispatcher(Upstream(upstream_url), rules, Throttler(rate, seed), stats)
    return RealismProxy(ProxyServer(dispatcher), stats, float(scale), rate)

"""What every per-service rule set offers the proxy, and what it is given to work with."""

from __future__ import annotations

from dataclasses import dataclass

from .clock import Clock
from .durations import Durations
from .faults import Stats
from .wire import Request, Response


@dataclass(frozen=True)
class Context:
    clock: Clock
    durations: Durations
    stats: Stats

    def phases(self, *steps: tuple[str, str]) -> list[tuple[str, float]]:
        """(state, durations key) pairs to (state, unscaled seconds) pairs."""
        return [(state, self.durations.seconds(key)) for state, key in steps]


class ServiceRules:
    """Defaults: nothing throttled, nothing refused, answers untouched."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def throttleable(self, req: Request) -> bool:
        return False

    def throttled(self, req: Request) -> Response:
        raise NotImplementedError

    def before(self, req: Request) -> Response | None:
        """An answer given instead of asking moto (a refusal, a cached state), or None."""
        return None

    def after(self, req: Request, resp: Response) -> Response:
        """moto's answer, possibly rewritten to the simulated state."""
        return resp

    def refuse(self, resp: Response) -> Response:
        self.ctx.stats.add("refused")
        return resp

    def not_found(self, resp: Response) -> Response:
        self.ctx.stats.add("not_found")
        return resp

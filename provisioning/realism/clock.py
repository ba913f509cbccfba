"""A resource's simulated state: which phase of a timed sequence it is in, time-scaled.

AWS's durations are minutes; the proxy replays them multiplied by `scale` so a lab run with
scale 0.01 sees the same sequence of states in a hundredth of the time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class Clock:
    scale: float
    now: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"scale must be > 0 (0 means: use moto directly), got {self.scale!r}")

    def timeline(self, phases: Sequence[tuple[str, float]]) -> "Timeline":
        """phases: (state, typical seconds on AWS) in order; starts now."""
        return Timeline(self, tuple((state, seconds * self.scale) for state, seconds in phases), self.now())


@dataclass(frozen=True)
class Timeline:
    clock: Clock
    phases: tuple[tuple[str, float], ...]  # (state, scaled seconds)
    started: float

    def state(self) -> str | None:
        """The phase the resource is in now, or None once every phase is over."""
        elapsed = self.clock.now() - self.started
        for state, seconds in self.phases:
            if elapsed < seconds:
                return state
            elapsed -= seconds
        return None

    @property
    def total(self) -> float:
        return sum(seconds for _, seconds in self.phases)

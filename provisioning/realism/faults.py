"""Fault decisions: seeded throttling, the eventual-consistency window, and the counters.

One lock per object: the proxy serves many threads at once, and random.Random is not safe to
share without one (and a shared seeded stream is what makes a run reproducible in aggregate).
"""

from __future__ import annotations

import random
import threading
from collections import Counter

from .clock import Clock


class Throttler:
    def __init__(self, rate: float, seed: int | None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"throttle rate must be within [0, 1], got {rate!r}")
        self.rate = rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def should_throttle(self) -> bool:
        if self.rate <= 0.0:
            return False
        with self._lock:
            return self._random.random() < self.rate


class ConsistencyWindow:
    """Ids that a Create* just returned and that the rest of the API does not know yet."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._window = seconds * clock.scale
        self._born: dict[str, float] = {}
        self._lock = threading.Lock()

    def created(self, resource_id: str) -> None:
        with self._lock:
            self._born[resource_id] = self._clock.now()

    def first_unpropagated(self, values: list[str]) -> str | None:
        now = self._clock.now()
        with self._lock:
            for resource_id in [v for v in self._born if now - self._born[v] >= self._window]:
                del self._born[resource_id]  # keep the map small over a long run
            for value in values:
                if value in self._born:
                    return value
        return None


class Stats:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            base = {"requests": 0, "throttled": 0, "not_found": 0, "refused": 0, "rewritten": 0}
            base.update(self._counts)
            return base

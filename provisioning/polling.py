"""Poll with a deadline instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    pass


@dataclass(frozen=True)
class Converged:
    value: object
    seconds: float
    attempts: int


def wait_until(
    probe: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
    max_interval: float = 2.0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> Converged:
    """Call probe until it returns something truthy; report how long convergence took.

    The interval grows geometrically so local servers are seen within milliseconds while
    a real AWS waiter does not hammer the API. Exceptions of `retry_on` count as "not yet"
    until the deadline, then the last one is chained to the timeout; any other exception
    propagates at once. Provisioning retries any exception (a server still starting, a resource
    AWS does not list yet); a check passes `retry_on=()`, so that an unexpected error is the
    check's crash, never folded into a "did not converge" failure.
    """
    start = time.monotonic()
    deadline = start + timeout
    attempts = 0
    last_error: BaseException | None = None
    while True:
        attempts += 1
        try:
            value = probe()
            if value:
                return Converged(value, time.monotonic() - start, attempts)
            last_error = None
        except retry_on as exc:  # the probe may fail while a server is still starting
            last_error = exc
        now = time.monotonic()
        if now >= deadline:
            detail = f": {last_error}" if last_error else ""
            raise DeadlineExceeded(f"{what} did not happen within {timeout:g}s{detail}") from last_error
        time.sleep(min(interval, max(deadline - now, 0)))
        interval = min(interval * 1.5, max_interval)

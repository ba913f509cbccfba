"""Poll with a deadline instead of sleeping for a guessed time."""

from __future__ import annotations

import contextvars
import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    pass


class Cancelled(BaseException):
    """The run was interrupted while this wait polled (a BaseException, like KeyboardInterrupt,
    so that no `except Exception` of a step folds it into a failure)."""


# The parallel plan (provisioning/plan.py) runs steps in worker threads, which no signal reaches;
# on Ctrl-C it sets this event, and every wait of those steps stops at its next poll.
CANCEL: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("dblab_cancel", default=None)


def _cancelled(what: str) -> None:
    event = CANCEL.get()
    if event is not None and event.is_set():
        raise Cancelled(f"{what}: interrupted")


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
        _cancelled(what)
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
        pause = min(interval, max(deadline - now, 0))
        event = CANCEL.get()
        if event is not None:
            event.wait(pause)  # returns at once on Ctrl-C
        else:
            time.sleep(pause)
        interval = min(interval * 1.5, max_interval)


class Progress:
    """A progress line per resource while a wait polls it: its state, and how long it has waited.

    A line on every change of state, and every `every` seconds while it stays (AWS's waits take
    minutes: an author watching a run must see that it is alive and where it is). Call it with
    each state a probe reads; it returns the state, so a probe can use it in an expression.
    """

    def __init__(self, log: Callable[[str], None] | None, resource: str, every: float = 30.0):
        self._log, self._resource, self._every = log, resource, every
        self._start = self._last_line = time.monotonic()
        self._state: object = None

    def __call__(self, state: T) -> T:
        now = time.monotonic()
        if self._log is not None and (state != self._state or now - self._last_line >= self._every):
            self._log(f"waiting: {self._resource}: {state} ({now - self._start:.0f}s)")
            self._state, self._last_line = state, now
        return state

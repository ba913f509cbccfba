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


# A regrade (grading/evidence_replay.py) answers every probe from the answers a grade recorded, so
# waiting changes nothing. There a poll probes again, without pausing, only while the graded run's
# poll did: while a probe is served an answer its check was recorded asking for again, which the
# replay counts. Its own deadline is ignored: a busy machine's shorter window must not change the
# grade. None in every other run.
REPLAYED_ASKED_AGAIN: Callable[[], int] | None = None


def replay_polls(asked_again: Callable[[], int] | None) -> None:
    """Polls of this process follow recorded answers (`asked_again` counts the served answers their
    check asked for again), or, with None, the clock again."""
    global REPLAYED_ASKED_AGAIN
    REPLAYED_ASKED_AGAIN = asked_again


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
    replayed = REPLAYED_ASKED_AGAIN
    while True:
        _cancelled(what)
        attempts += 1
        asked_again = replayed() if replayed is not None else 0
        try:
            value = probe()
            if value:
                return Converged(value, time.monotonic() - start, attempts)
            last_error = None
        except retry_on as exc:  # the probe may fail while a server is still starting
            last_error = exc
        if replayed is not None:
            if replayed() > asked_again:
                continue  # the graded run asked again: so does its regrade, at once
            now = deadline  # the graded run's poll ended here
        else:
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

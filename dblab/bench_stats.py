"""Numbers the Lab 6 benchmarks and their reports share: percentiles, budgeted rounds, and the
bare loop the harness overhead is measured against.

Plain Python (no pytest): the benchmarks in suites/ and `dblab bench` both use it.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Sequence

PERCENTILES = (50, 95, 99)
# Below this many samples the tail is a handful of points: p99 of 100 samples is the maximum
# (the lab's print_stats, erratum 5). Reports print "n/a" instead of pretending.
MIN_SAMPLES_FOR_P99 = 200


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks, as
    numpy's default and statistics.quantiles(method='inclusive') compute it."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentiles(samples: Sequence[float], qs: Sequence[float] = PERCENTILES) -> dict[str, float | None]:
    """{'p50': ..., 'p95': ..., 'p99': ...}; a tail percentile is None when too few samples
    back it (p99 needs MIN_SAMPLES_FOR_P99, p95 a fifth of that)."""
    result: dict[str, float | None] = {}
    for q in qs:
        needed = 1 if q <= 50 else math.ceil(MIN_SAMPLES_FOR_P99 * (1 - 0.99) / (1 - q / 100))
        result[f"p{q:g}"] = percentile(samples, q) if len(samples) >= needed else None
    return result


def budget_rounds(per_call_seconds: float, budget_seconds: float, min_rounds: int, max_rounds: int) -> int:
    """How many single-call rounds fit in the budget, at least min_rounds, at most max_rounds."""
    if per_call_seconds <= 0:
        return max_rounds
    return max(min_rounds, min(max_rounds, int(budget_seconds / per_call_seconds)))


def bare_loop(call: Callable[[], object], rounds: int) -> list[float]:
    """Per-call seconds of `call`, timed one call at a time with the monotonic perf_counter and
    nothing else in the loop: the baseline the benchmark harness is compared against."""
    clock = time.perf_counter
    samples = []
    append = samples.append
    for _ in range(rounds):
        start = clock()
        call()
        append(clock() - start)
    return samples


def overhead_ratio(harness_median: float, bare_median: float) -> float:
    """Harness per-call median over the bare loop's: 1.00 means the harness adds nothing."""
    if bare_median <= 0:
        raise ValueError("bare-loop median must be positive")
    return harness_median / bare_median


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)

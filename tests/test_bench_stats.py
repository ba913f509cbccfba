"""The numbers the benchmarks compute: percentiles (not the lab's max-as-p99), budgets, overhead."""

import statistics

import pytest

from fixtures.bench_stats import (MIN_SAMPLES_FOR_P99, bare_loop, budget_rounds, overhead_ratio, percentile,
                               percentiles)


def test_percentile_interpolates_like_statistics_quantiles_inclusive():
    samples = [float(n) for n in range(1, 101)]
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    assert percentile(samples, 95) == pytest.approx(cuts[94])
    assert percentile(samples, 99) == pytest.approx(cuts[98])
    assert percentile(samples, 50) == statistics.median(samples)


def test_percentile_ignores_the_order_of_the_samples():
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_p99_of_many_samples_is_not_the_maximum():
    # Lab 6.1 takes sorted(latencies)[int(n * 0.99)]: for 100 samples that is the slowest one (erratum 5).
    samples = [0.001] * 990 + [0.5] * 9 + [9.0]
    assert percentiles(samples)["p99"] < max(samples)


def test_tail_percentiles_are_withheld_below_enough_samples():
    few = percentiles([0.001] * (MIN_SAMPLES_FOR_P99 - 1))
    assert few["p50"] == 0.001 and few["p95"] is not None and few["p99"] is None
    assert percentiles([0.001] * MIN_SAMPLES_FOR_P99)["p99"] == 0.001
    assert percentiles([0.001] * 10)["p95"] is None


def test_percentile_refuses_no_samples_and_out_of_range_quantiles():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


@pytest.mark.parametrize("per_call, expected", [(0.001, 1000), (1e-7, 5000), (10.0, 5), (0.0, 5000)])
def test_budget_rounds_fit_the_budget_within_bounds(per_call, expected):
    assert budget_rounds(per_call, budget_seconds=1.0, min_rounds=5, max_rounds=5000) == expected


def test_bare_loop_times_every_call():
    calls = []
    samples = bare_loop(lambda: calls.append(1), 7)
    assert len(samples) == len(calls) == 7
    assert all(sample >= 0 for sample in samples)


def test_overhead_ratio_is_harness_over_bare():
    assert overhead_ratio(1.1e-4, 1.0e-4) == pytest.approx(1.1)
    with pytest.raises(ValueError):
        overhead_ratio(1.0, 0.0)

"""Erratum 5: Lab 6.1's numbers. Its p99 of 100 samples is their maximum, its "concurrent" test
times another query than its single test, and it times with the wall clock. Each shown the
lab's way, then the suite's (fixtures/bench_stats.py, suites/test_lab6_performance.py)."""

from __future__ import annotations

import time

import pytest

from fixtures.bench_stats import percentiles

LAB_SINGLE_QUERY = "SELECT * FROM products WHERE id = 1"  # Lab 6.1 single_query_test
LAB_CONCURRENT_QUERY = "SELECT * FROM products"  # Lab 6.1 concurrent_query_test's worker


def lab_p99(latencies: list[float]) -> float:
    """Lab 6.1's print_stats: sorted(latencies)[int(len(latencies)*0.99)]."""
    return sorted(latencies)[int(len(latencies) * 0.99)]


def test_lab_p99_of_100_samples_is_their_maximum():
    latencies = [1.0] * 99 + [250.0]  # one slow query, a garbage-collection pause
    assert lab_p99(latencies) == max(latencies)


def test_suite_p99_needs_enough_samples_and_is_not_the_maximum():
    samples = [1.0] * 990 + [5.0] * 9 + [250.0]
    assert percentiles(samples)["p99"] < max(samples)


def test_lab_concurrent_test_times_another_query_than_its_single_test():
    assert LAB_CONCURRENT_QUERY != LAB_SINGLE_QUERY  # every row, against one row by key: not comparable


def test_suite_concurrent_benchmark_times_the_single_tests_query():
    from suites import test_lab6_performance as lab6

    assert lab6.POINT_SELECT == "SELECT * FROM products WHERE id = %s" and lab6.PRODUCT_ID == 1


def test_lab_timer_can_go_backwards(monkeypatch):
    # time.time() follows the wall clock, which NTP or an administrator may step at any moment.
    assert time.get_clock_info("time").adjustable
    readings = iter([1_000.000, 999.997])  # a 3 ms step back between start and end

    monkeypatch.setattr(time, "time", lambda: next(readings))
    start = time.time()
    latency_ms = (time.time() - start) * 1000  # as Lab 6.1 computes it
    assert latency_ms < 0


@pytest.mark.parametrize("clock", ["perf_counter", "monotonic"])
def test_suite_timer_is_monotonic(clock):
    info = time.get_clock_info(clock)
    assert info.monotonic and not info.adjustable

"""One short real benchmark pass on the local lab (tiny budgets), then its report.

Asserts that every benchmark ran against the lab's servers, stored its context, and that the
harness overhead and the cache's speedup were computed and reported; never their values.
"""

import json
import os
import subprocess
import sys

import pytest

from dblab.cli import main

from .conftest import REPO_ROOT

BENCHMARKS = {
    "test_point_select_by_primary_key", "test_redis_get_of_a_cached_product", "test_cache_aside_read_of_a_product",
    "test_concurrent_point_selects_10_threads_x_50", "test_replica_read_after_write_delay",
    "test_dynamodb_get_item_by_key", "test_dynamodb_status_index_query",
}
CONTEXT = ("target", "region", "engine", "engine_version", "server")


@pytest.fixture(scope="module")
def short_pass(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    run = out / "short.json"
    command = [sys.executable, "-m", "pytest", "-m", "local and bench", "--lab-bench", "-p", "no:xdist",
               "-p", "no:cacheprovider", "-q", "--benchmark-json", str(run), "--junitxml", str(out / "junit.xml"),
               # A few rounds each: this proves the plumbing, not the numbers.
               "--benchmark-max-time", "0.01", "--benchmark-min-rounds", "3"]
    # Under `make test -n`, the xdist worker's variables would make pytest-benchmark in the
    # child believe it runs under xdist too, and write no JSON.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}
    result = subprocess.run(command, cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return run, json.loads(run.read_text())


def by_name(short_pass) -> dict:
    return {bench["name"]: bench for bench in short_pass[1]["benchmarks"]}


def test_every_lab6_benchmark_is_recorded(short_pass):
    assert set(by_name(short_pass)) == BENCHMARKS


def test_every_benchmark_stores_where_it_ran(short_pass):
    for name, bench in by_name(short_pass).items():
        extra = bench["extra_info"]
        missing = [key for key in CONTEXT if not extra.get(key)]
        assert not missing, f"{name}: extra_info lacks {missing}"
        assert extra["target"] == "local"
        assert extra.get("instance_class") or extra.get("node_class") or extra.get("capacity"), name


def test_point_select_and_redis_get_report_their_harness_overhead(short_pass):
    benchmarks = by_name(short_pass)
    for name in ("test_point_select_by_primary_key", "test_redis_get_of_a_cached_product"):
        extra = benchmarks[name]["extra_info"]
        assert extra["harness_overhead"] > 0 and extra["bare_loop_median_s"] > 0, name


def test_cache_speedup_is_computed_from_the_same_runs_point_select(short_pass):
    benchmarks = by_name(short_pass)
    extra = benchmarks["test_redis_get_of_a_cached_product"]["extra_info"]
    assert extra["database_median_s"] == benchmarks["test_point_select_by_primary_key"]["stats"]["median"]
    assert extra["speedup_over_database"] > 0


def test_concurrent_test_runs_the_single_tests_query_and_reports_qps(short_pass):
    benchmarks = by_name(short_pass)
    concurrent = benchmarks["test_concurrent_point_selects_10_threads_x_50"]["extra_info"]
    assert concurrent["query"] == benchmarks["test_point_select_by_primary_key"]["extra_info"]["query"]
    assert concurrent["qps"] > 0 and concurrent["latency_p50_s"] > 0
    rounds = benchmarks["test_concurrent_point_selects_10_threads_x_50"]["stats"]["rounds"]
    assert concurrent["latency_samples"] == rounds * 10 * 50


def test_cache_aside_misses_once_then_hits(short_pass):
    bench = by_name(short_pass)["test_cache_aside_read_of_a_product"]
    assert bench["extra_info"]["cache_misses"] == 1
    assert bench["extra_info"]["cache_hits"] == bench["stats"]["rounds"] - 1


def test_report_of_the_pass_prints_the_overhead_ratios(short_pass, capsys):
    run, _ = short_pass
    assert main(["bench", "report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "harness overhead test_point_select_by_primary_key:" in out
    assert "harness overhead test_redis_get_of_a_cached_product:" in out
    assert run.with_suffix(".html").is_file() and run.with_suffix(".md").is_file()

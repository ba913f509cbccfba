"""dblab bench report / compare on small synthetic runs in pytest-benchmark's JSON format."""

import json
import re
import xml.etree.ElementTree as ElementTree

import pytest

from dblab.bench_html import run_html
from dblab.bench_markdown import run_markdown
from dblab.bench_report import CACHE_RATIO_MEANING
from dblab.bench_runs import BenchInputError, compare, load_run, parse_threshold
from dblab.cli import main

POINT = "suites/test_lab6_performance.py::test_point_select_by_primary_key"
REDIS = "suites/test_lab6_performance.py::test_redis_get_of_a_cached_product"
CONCURRENT = "suites/test_lab6_performance.py::test_concurrent_point_selects_10_threads_x_50"


def bench(fullname, median, *, group="6.1 MySQL", extra=None, samples=400, spread=0.1):
    # Samples spread evenly around the median, so median and percentiles are predictable.
    data = [median * (1 - spread + 2 * spread * i / (samples - 1)) for i in range(samples)]
    return {
        "group": group, "name": fullname.split("::")[1], "fullname": fullname, "params": None, "param": None,
        "extra_info": {"target": "local", "emulated": True, "region": "us-east-1", **(extra or {})},
        "options": {"timer": "perf_counter"},
        "stats": {"min": min(data), "max": max(data), "mean": sum(data) / len(data), "stddev": 0.0,
                  "rounds": samples, "median": median, "iqr": 0.0, "q1": median, "q3": median, "iqr_outliers": 0,
                  "stddev_outliers": 0, "outliers": "0;0", "ld15iqr": min(data), "hd15iqr": max(data),
                  "ops": 1 / median, "total": sum(data), "data": data, "iterations": 1},
    }


def lab6_run(point=100e-6, redis=50e-6, target="local"):
    return [
        bench(POINT, point, extra={"target": target, "engine": "mariadb", "engine_version": "10.11",
                                   "instance_class": "db.t3.micro", "server": "mysql://admin@127.0.0.1:1/labdb",
                                   "bare_loop_median_s": point / 1.02, "harness_overhead": 1.02}),
        bench(REDIS, redis, group="6.2 cache vs database",
              extra={"target": target, "engine": "redis", "server": "redis://127.0.0.1:2",
                     "bare_loop_median_s": redis, "harness_overhead": 1.0,
                     "speedup_over_database": point / redis, "database_median_s": point}),
        bench(CONCURRENT, 0.1, samples=10, extra={"target": target, "qps": 5000.0, "threads": 10,
                                                   "latency_samples": 5000, "latency_p50_s": 0.001,
                                                   "latency_p95_s": 0.004, "latency_p99_s": 0.008}),
    ]


@pytest.fixture
def write_run(tmp_path):
    def write(name, benchmarks, directory=None):
        directory = directory or tmp_path
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.json"
        path.write_text(json.dumps({"machine_info": {"python_version": "3.11", "cpu": {"brand_raw": "test cpu"}},
                                    "commit_info": {"id": "abc1234", "dirty": False}, "benchmarks": benchmarks,
                                    "datetime": "2025-01-01T00:00:00", "version": "5.3.1"}))
        return path
    return write


@pytest.fixture
def run_of(write_run):
    """A loaded run holding these benchmarks."""
    counter = iter(range(1000))
    return lambda benchmarks: load_run(write_run(f"run{next(counter)}", benchmarks))


def svgs(page: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", page, re.S)


# --- one run -----------------------------------------------------------------------------------

def test_report_writes_markdown_and_html_next_to_the_run(write_run, capsys):
    path = write_run("baseline", lab6_run())
    assert main(["bench", "report", str(path)]) == 0
    out = capsys.readouterr().out
    assert (path.parent / "baseline.md").read_text() in out
    assert (path.parent / "baseline.html").is_file()


def test_report_gives_median_and_percentiles_per_benchmark(run_of):
    run_md = run_markdown(run_of(lab6_run()))
    row = next(line for line in run_md.splitlines() if "test_point_select_by_primary_key |" in line)
    assert "100.0 µs" in row  # median
    assert "109.0 µs" in row  # p95 of 400 even samples from 90 to 110 µs
    assert "109.8 µs" in row  # p99


def test_report_states_the_cache_speedup_from_the_same_run_and_what_it_means_locally(run_of):
    markdown = run_markdown(run_of(lab6_run(point=100e-6, redis=50e-6)))
    assert "**2.00x** faster than the point select" in markdown
    assert "10-100x" in markdown and CACHE_RATIO_MEANING["local"] in markdown


def test_report_on_aws_explains_the_ratio_with_network_round_trips(run_of):
    markdown = run_markdown(run_of(lab6_run(target="aws")))
    assert CACHE_RATIO_MEANING["aws"] in markdown and CACHE_RATIO_MEANING["local"] not in markdown


def test_report_prints_the_harness_overhead_ratio_per_measured_benchmark(write_run, capsys):
    main(["bench", "report", str(write_run("run", lab6_run()))])
    out = capsys.readouterr().out
    assert "harness overhead test_point_select_by_primary_key: 1.020x" in out
    assert "harness overhead test_redis_get_of_a_cached_product: 1.000x" in out


def test_report_gives_qps_and_latency_percentiles_of_the_concurrent_test(run_of):
    markdown = run_markdown(run_of(lab6_run()))
    assert "5,000 queries/s" in markdown and "p99 8.00 ms" in markdown


def test_report_withholds_p99_with_too_few_samples(run_of):
    markdown = run_markdown(run_of(lab6_run()))
    row = next(line for line in markdown.splitlines() if "test_concurrent_point_selects" in line)
    assert "n/a (<200 samples)" in row


def test_html_is_self_contained_with_well_formed_charts(run_of):
    page = run_html(run_of(lab6_run()))
    for forbidden in ("<script", "<link", "src=", "href=", "@import", "url(", "http:", "https:"):
        assert forbidden not in page, forbidden
    charts = svgs(page)
    assert len(charts) >= 4  # cache vs database, one histogram per benchmark
    for chart in charts:
        ElementTree.fromstring(chart)


def test_html_escapes_what_the_run_file_says(run_of):
    benchmarks = lab6_run()
    benchmarks[0]["name"] = "test_point_select[<b>x</b>]"
    benchmarks[0]["extra_info"]["server"] = "<script>alert(1)</script>"
    page = run_html(run_of(benchmarks))
    assert "<b>x</b>" not in page and "<script>" not in page and "&lt;script&gt;" in page


# --- input errors ------------------------------------------------------------------------------

def test_a_missing_run_is_a_one_line_error(tmp_path, capsys):
    assert main(["bench", "report", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert "no benchmark run" in err and "make bench" in err


def test_a_run_without_benchmarks_says_how_to_get_them(write_run, capsys):
    assert main(["bench", "report", str(write_run("empty", []))]) == 2
    assert "without xdist" in capsys.readouterr().err


def test_a_file_that_is_not_json_is_named(tmp_path, capsys):
    path = tmp_path / "junk.json"
    path.write_text("<xml/>")
    assert main(["bench", "report", str(path)]) == 2
    assert "not a pytest-benchmark JSON file" in capsys.readouterr().err


def test_runs_are_found_by_name_in_the_runs_directory(write_run, tmp_path, capsys):
    directory = tmp_path / "reports" / "benchmarks"
    write_run("monday", lab6_run(), directory)
    write_run("tuesday", lab6_run(), directory)
    assert main(["bench", "compare", "monday", "tuesday", "--dir", str(directory)]) == 0
    assert (directory / "compare-monday-vs-tuesday.md").is_file()
    assert (directory / "compare-monday-vs-tuesday.html").is_file()


# --- comparisons -------------------------------------------------------------------------------

def test_compare_shows_a_ratio_per_benchmark(write_run, capsys):
    base = write_run("base", lab6_run(point=100e-6, redis=50e-6))
    new = write_run("new", lab6_run(point=120e-6, redis=45e-6))
    assert main(["bench", "compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    point_row = next(line for line in out.splitlines() if "test_point_select_by_primary_key |" in line)
    redis_row = next(line for line in out.splitlines() if "test_redis_get_of_a_cached_product |" in line)
    assert "1.20x" in point_row and "0.90x" in redis_row
    assert "none (pass --fail-on median:10%" in out


def test_compare_fails_with_one_line_per_regression_beyond_the_threshold(write_run, capsys):
    base = write_run("base", lab6_run(point=100e-6, redis=50e-6))
    new = write_run("new", lab6_run(point=120e-6, redis=51e-6))
    assert main(["bench", "compare", str(base), str(new), "--fail-on", "median:10%"]) == 1
    err = capsys.readouterr().err.splitlines()
    regressions = [line for line in err if "REGRESSION" in line]
    assert len(regressions) == 1
    assert "test_point_select_by_primary_key in new" in regressions[0]
    assert "120.0 µs vs 100.0 µs in base" in regressions[0] and "+20.0%" in regressions[0]
    assert "limit median:10%" in regressions[0]
    assert err[-1] == "dblab bench compare: 1 regression(s) beyond median:10% against base"


def test_compare_passes_within_the_threshold_and_when_faster(write_run):
    base = write_run("base", lab6_run(point=100e-6, redis=50e-6))
    new = write_run("new", lab6_run(point=105e-6, redis=10e-6))
    assert main(["bench", "compare", str(base), str(new), "--fail-on", "median:10%"]) == 0


def test_compare_checks_percentiles_computed_from_the_samples(write_run, capsys):
    base = write_run("base", lab6_run())
    slow_tail = lab6_run()
    slow_tail[0]["stats"]["data"][-10:] = [1e-3] * 10  # same median, a tail 10x slower
    new = write_run("tail", slow_tail)
    assert main(["bench", "compare", str(base), str(new), "--fail-on", "median:10%"]) == 0
    assert main(["bench", "compare", str(base), str(new), "--fail-on", "p99:50%"]) == 1
    assert "p99" in capsys.readouterr().err


def test_compare_three_runs_against_the_first(write_run, capsys):
    runs = [write_run(name, lab6_run(point=point)) for name, point in
            (("a", 100e-6), ("b", 105e-6), ("c", 150e-6))]
    assert main(["bench", "compare", *map(str, runs), "--fail-on", "median:10%"]) == 1
    captured = capsys.readouterr()
    point_row = next(line for line in captured.out.splitlines() if "test_point_select_by_primary_key |" in line)
    assert "1.05x" in point_row and "1.50x" in point_row
    assert "in c:" in captured.err and "in b:" not in captured.err


def test_a_benchmark_missing_from_a_run_is_reported_not_failed(write_run, capsys):
    base = write_run("base", lab6_run())
    new = write_run("new", lab6_run()[:1])
    assert main(["bench", "compare", str(base), str(new), "--fail-on", "median:10%"]) == 0
    assert "missing in new" in capsys.readouterr().out


def test_compare_says_when_runs_are_on_different_targets(write_run, capsys):
    local = write_run("local", lab6_run(target="local"))
    aws = write_run("aws", lab6_run(point=900e-6, redis=400e-6, target="aws"))
    main(["bench", "compare", str(local), str(aws)])
    assert "different targets" in capsys.readouterr().out


def test_compare_html_is_self_contained_and_marks_the_regression(write_run):
    base = write_run("base", lab6_run(point=100e-6))
    new = write_run("new", lab6_run(point=130e-6))
    main(["bench", "compare", str(base), str(new), "--fail-on", "median:10%"])
    page = (base.parent / "compare-base-vs-new.html").read_text()
    assert "REGRESSED in new" in page and 'class="bar regressed"' in page
    for forbidden in ("<script", "<link", "src=", "href=", "http:", "https:"):
        assert forbidden not in page
    for chart in svgs(page):
        ElementTree.fromstring(chart)


def test_compare_needs_two_runs(write_run, capsys):
    assert main(["bench", "compare", str(write_run("only", lab6_run()))]) == 2
    assert "two or more runs" in capsys.readouterr().err


@pytest.mark.parametrize("threshold", ["median:10%", "mean:0.001", "p99:25%", "p95:2.5%", "min:5%"])
def test_thresholds_take_pytest_benchmarks_form_and_percentiles(threshold):
    assert parse_threshold(threshold).field == threshold.split(":")[0]


@pytest.mark.parametrize("threshold", ["median", "median:ten%", "p42:10%", "speed:10%"])
def test_a_bad_threshold_fails_before_reading_runs(threshold, capsys):
    with pytest.raises(BenchInputError):
        parse_threshold(threshold)
    assert main(["bench", "compare", "x", "y", "--fail-on", threshold]) == 2
    assert "median:10%" in capsys.readouterr().err


def test_compare_library_lists_every_benchmark_of_every_run(run_of):
    first = run_of(lab6_run()[:2])
    second = run_of(lab6_run()[1:])
    names = [name.split("::")[1] for name, _ in compare([first, second]).rows]
    assert names == ["test_point_select_by_primary_key", "test_redis_get_of_a_cached_product",
                     "test_concurrent_point_selects_10_threads_x_50"]

"""Benchmarks recorded while grading (--lab-bench) land in the student's grade and scorecard."""

import json
from types import SimpleNamespace

from grading import scorecard
from grading.reports import benchmark_summary

PLUGINS = ["-p", "fixtures.plugin", "-p", "fixtures.steps", "-p", "fixtures.environment", "-p", "grading.plugin",
           "-p", "no:cacheprovider"]


class Bench(SimpleNamespace):
    def __bool__(self):
        return self.stats is not None


def test_benchmark_summary_keeps_the_median_and_the_context():
    benchmarks = [
        Bench(name="test_point_select_by_primary_key", group="6.1", stats=SimpleNamespace(median=0.0002, rounds=50),
              extra_info={"engine": "MariaDB", "server": "127.0.0.1:3306", "password_hint": "never shown"}),
        Bench(name="test_errored", group="6.1", stats=None, extra_info={}),
    ]
    rows = benchmark_summary(benchmarks)
    assert [row["name"] for row in rows] == ["test_point_select_by_primary_key"]
    assert rows[0]["median_s"] == 0.0002 and rows[0]["extra_info"] == {"engine": "MariaDB", "server": "127.0.0.1:3306"}


def test_no_benchmark_recorded_means_no_benchmarks():
    assert benchmark_summary([]) == []


CHECKS = """
import pytest

@pytest.mark.step("1.1")
def test_vpc():
    pass

@pytest.mark.bench
@pytest.mark.step("6.1")
def test_point_select(benchmark):
    benchmark.extra_info["engine"] = "stand-in"
    benchmark.pedantic(lambda: None, rounds=3, iterations=1)
"""

RUBRIC = """
version = "benchmarks"
[steps."1.1"]
points = 100
checks = { test_vpc = "vpc hint" }
"""


def test_grading_with_lab_bench_keeps_the_benchmarks_without_a_benchmark_json(moto_server, tmp_path):
    """pytest-benchmark's JSON hook fires only when a run saves JSON; grading reads the
    `benchmark` fixture instead, so a plain --lab-bench grade run has the numbers too."""
    import os
    import subprocess
    import sys

    from .conftest import REPO_ROOT

    (tmp_path / "test_checks.py").write_text(CHECKS)
    (tmp_path / "rubric.toml").write_text(RUBRIC)
    # Not PYTEST_XDIST_*: make test runs this under xdist, and pytest-benchmark then disables itself.
    environ = {k: v for k, v in os.environ.items() if k != "LOCALSTACK_HOST" and not k.startswith("PYTEST_XDIST")}
    environ.update(AWS_ENDPOINT_URL=moto_server.endpoint_url, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *PLUGINS, "-p", "no:xdist", "--lab-grade", "--lab-student", "fay",
         "--lab-bench", f"--lab-rubric={tmp_path / 'rubric.toml'}", f"--lab-reports-dir={tmp_path / 'reports'}",
         "test_checks.py"],
        cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120)
    grade_file = tmp_path / "reports" / "grades" / "fay.json"
    assert grade_file.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    benchmarks = json.loads(grade_file.read_text())["benchmarks"]
    assert [(b["name"], b["group"], b["rounds"], b["extra_info"]) for b in benchmarks] == [
        ("test_point_select", None, 3, {"engine": "stand-in"})]
    # The grade's own files aside: its grade and the evidence it rests on (grading/evidence.py).
    saved = [path for path in tmp_path.rglob("*.json")
             if path.parent.name != "grades" and "evidence" not in path.relative_to(tmp_path).parts]
    assert saved == [], "no benchmark JSON was asked for, so none was saved"


def test_the_scorecard_shows_the_benchmarks_apart_from_the_points():
    grade = {"student": "alice", "score": 10, "max_score": 10, "steps": [], "account": "1", "region": "us-east-1",
             "target": "emulator", "rubric_version": "x",
             "benchmarks": [{"name": "test_redis_get_of_a_cached_product", "group": "6.2", "median_s": 6.4e-05,
                             "rounds": 100, "extra_info": {"speedup_over_database": 3.6}}]}
    html = scorecard.render(grade)
    assert "Benchmarks (Lab 6, not graded)" in html and "64.0 µs" in html and "speedup_over_database=3.6" in html
    assert "Benchmarks" not in scorecard.render({**grade, "benchmarks": []})

"""Benchmarks recorded while grading (--lab-bench) land in the student's grade and scorecard."""

from types import SimpleNamespace

from grading import scorecard
from grading.plugin import benchmark_summary


class Bench(SimpleNamespace):
    def __bool__(self):
        return self.stats is not None


def test_benchmark_summary_keeps_the_median_and_the_context():
    config = SimpleNamespace(_benchmarksession=SimpleNamespace(benchmarks=[
        Bench(name="test_point_select_by_primary_key", group="6.1", stats=SimpleNamespace(median=0.0002, rounds=50),
              extra_info={"engine": "MariaDB", "server": "127.0.0.1:3306", "password_hint": "never shown"}),
        Bench(name="test_errored", group="6.1", stats=None, extra_info={}),
    ]))
    rows = benchmark_summary(config)
    assert [row["name"] for row in rows] == ["test_point_select_by_primary_key"]
    assert rows[0]["median_s"] == 0.0002 and rows[0]["extra_info"] == {"engine": "MariaDB", "server": "127.0.0.1:3306"}


def test_no_benchmark_session_means_no_benchmarks():
    assert benchmark_summary(SimpleNamespace()) == []


def test_the_scorecard_shows_the_benchmarks_apart_from_the_points():
    grade = {"student": "alice", "score": 10, "max_score": 10, "steps": [], "account": "1", "region": "us-east-1",
             "target": "emulator", "rubric_version": "x",
             "benchmarks": [{"name": "test_redis_get_of_a_cached_product", "group": "6.2", "median_s": 6.4e-05,
                             "rounds": 100, "extra_info": {"speedup_over_database": 3.6}}]}
    html = scorecard.render(grade)
    assert "Benchmarks (Lab 6, not graded)" in html and "64.0 µs" in html and "speedup_over_database=3.6" in html
    assert "Benchmarks" not in scorecard.render({**grade, "benchmarks": []})

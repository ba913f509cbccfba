"""A finished grade, written out: reports/grades/<student>.json and .html, the class gradebook
rebuilt from every grade file, and the final points in the JUnit report.

grading/plugin.py decides what the grade is; this module only writes it, in the order that
keeps the outputs consistent: the grade file first (the gradebook is rebuilt from the files),
the JUnit rewrite last (pytest has written that file by then).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import gradebook, junit, scorecard

# What a scorecard shows of a benchmark: the median, and the context that makes it comparable.
BENCHMARK_FIELDS = ("speedup_over_database", "qps", "harness_overhead", "engine", "engine_version",
                    "instance_class", "node_class", "server")


def benchmark_summary(benchmarks) -> list[dict]:
    """The grade's `benchmarks`: one row per benchmark pytest-benchmark recorded (its results,
    as the `benchmark` fixture holds them after the check: name, group, stats, extra_info)."""
    rows = []
    for bench in benchmarks:
        if not bench:  # an errored or skipped benchmark has no stats
            continue
        extra = {key: bench.extra_info[key] for key in BENCHMARK_FIELDS if key in bench.extra_info}
        rows.append({"name": bench.name, "group": bench.group, "median_s": bench.stats.median,
                     "rounds": bench.stats.rounds, "extra_info": extra})
    return rows


@dataclass
class Written:
    files: list[Path] = field(default_factory=list)  # the grade, its scorecard, the gradebook
    notes: list[str] = field(default_factory=list)  # grade files the gradebook could not read


def write_reports(reports: Path, grade: dict, junit_path: Path | None = None) -> Written:
    """Write `grade` everywhere it goes; `junit_path` is pytest's --junitxml file, if any."""
    student = grade["student"]
    json_path = gradebook.write_grade(reports, grade)
    html_path = gradebook.write_atomically(gradebook.grade_path(reports, student, ".html"), scorecard.render(grade))
    # Rebuilt from every grade file under a lock, so parallel graders never lose each other's rows.
    csv_path, unreadable = gradebook.build_gradebook(reports)
    if junit_path is not None:
        rewrite_junit_points(junit_path, grade)
    return Written([json_path, html_path, csv_path], [f"the gradebook skipped {entry}" for entry in unreadable])


def rewrite_junit_points(junit_path: Path, grade: dict) -> bool:
    """Each check's final share (a not gradable check hands its share to its step's others),
    and the grade itself on the testsuite."""
    points = {check["nodeid"]: (check["points"], check["max_points"])
              for step in grade["steps"] for check in step["checks"] if check.get("nodeid")}
    return junit.rewrite_points(junit_path, points, {
        "student": grade["student"], "account": grade["account"], "score": grade["score"],
        "max_score": grade["max_score"], "rubric_version": grade["rubric_version"]})

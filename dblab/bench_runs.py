"""Benchmark runs as pytest-benchmark writes them (--benchmark-json), and comparisons of runs.

The input is pytest-benchmark's own JSON, so `pytest-benchmark compare` reads the same files.
Thresholds use pytest-benchmark's `--benchmark-compare-fail` syntax (`median:10%`, `mean:0.001`),
extended with the percentiles this suite computes (`p99:20%`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pytest_benchmark.utils import DifferenceRegressionCheck, PercentageRegressionCheck, parse_compare_fail

from fixtures.bench_stats import percentiles

DEFAULT_DIR = Path("reports/benchmarks")
TIME_FIELDS = ("min", "median", "mean", "max", "p50", "p95", "p99")
_PERCENTILE_CHECK = re.compile(r"^(?P<field>p50|p95|p99):((?P<percentage>[0-9]+(\.[0-9]+)?)%|(?P<difference>[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?))$")


class BenchInputError(ValueError):
    """A run file that cannot be read, or a threshold that cannot be parsed; the message names the fix."""


@dataclass(frozen=True)
class Summary:
    """One benchmark of one run: per-call seconds (pytest-benchmark divides a round by its iterations)."""

    fullname: str
    name: str
    group: str
    stats: dict  # min, median, mean, max, p50, p95, p99 (None when too few samples), rounds
    extra: dict

    def __getitem__(self, key):  # pytest-benchmark's regression checks index their operands
        return self.stats[key]


@dataclass
class Run:
    name: str
    path: Path
    raw: dict
    benchmarks: dict[str, Summary] = field(default_factory=dict)  # by fullname, in file order

    def context(self, key: str) -> str | None:
        values = sorted({str(b.extra[key]) for b in self.benchmarks.values() if b.extra.get(key) is not None})
        return ", ".join(values) if values else None

    @property
    def target(self) -> str:
        return self.context("target") or "unknown"

    @property
    def when(self) -> str:
        return str(self.raw.get("datetime", ""))


def resolve(run: str, directory: Path = DEFAULT_DIR) -> Path:
    """A run given as a path, or by its name under reports/benchmarks/."""
    path = Path(run)
    if path.is_file():
        return path
    for candidate in (directory / run, directory / f"{run}.json"):
        if candidate.is_file():
            return candidate
    raise BenchInputError(f"no benchmark run {run!r}: not a file and not in {directory}/ "
                          "(make bench writes runs there; BENCH_NAME=... names one)")


def summarise(bench: dict) -> Summary:
    stats = bench.get("stats") or {}
    if "median" not in stats:
        raise BenchInputError(f"benchmark {bench.get('name')!r} has no stats")
    extra = bench.get("extra_info") or {}
    data = stats.get("data")
    if data:
        tail = percentiles(data)
    else:  # saved without data (--benchmark-save-data off): the benchmark's own numbers, if any
        tail = {name: extra.get(f"{name}_s") for name in ("p50", "p95", "p99")}
        tail["p50"] = tail["p50"] if tail["p50"] is not None else stats["median"]
    values = {key: stats.get(key) for key in ("min", "median", "mean", "max", "stddev", "iqr", "rounds", "iterations")}
    return Summary(
        fullname=bench.get("fullname") or bench["name"],
        name=bench["name"],
        group=bench.get("group") or "",
        stats={**values, **tail, "samples": len(data) if data else stats.get("rounds")},
        extra=extra,
    )


def load_run(path: Path) -> Run:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BenchInputError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise BenchInputError(f"{path}: not a pytest-benchmark JSON file ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("benchmarks"), list):
        raise BenchInputError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    if not raw["benchmarks"]:
        raise BenchInputError(f"{path}: holds no benchmarks (did the run deselect or disable them? "
                              "run make bench, without xdist)")
    run = Run(name=Path(path).stem, path=Path(path), raw=raw)
    for bench in raw["benchmarks"]:
        summary = summarise(bench)
        run.benchmarks[summary.fullname] = summary
    return run


def parse_threshold(text: str):
    """pytest-benchmark's `FIELD:N%` / `FIELD:SECONDS` for min|max|mean|median|stddev|iqr, and p50|p95|p99."""
    match = _PERCENTILE_CHECK.match(text)
    if match:
        if match["percentage"]:
            return PercentageRegressionCheck(match["field"], float(match["percentage"]))
        return DifferenceRegressionCheck(match["field"], float(match["difference"]))
    try:
        return parse_compare_fail(text)
    except Exception:
        raise BenchInputError(f"--fail-on {text!r}: expected FIELD:PERCENT% or FIELD:SECONDS with FIELD one of "
                              "min, max, mean, median, stddev, iqr, p50, p95, p99 (e.g. median:10%)") from None


def describe_threshold(check) -> str:
    unit = "%" if isinstance(check, PercentageRegressionCheck) else "s"
    return f"{check.field}:{check.threshold:g}{unit}"


@dataclass(frozen=True)
class Regression:
    benchmark: str
    run: str
    baseline: str
    check: str
    value: float
    baseline_value: float
    change: float  # percent, or seconds for a difference check

    def line(self) -> str:
        field = self.check.split(":")[0]
        change = f"{self.change:+.1f}%" if self.check.endswith("%") else f"{self.change:+.6f}s"
        return (f"REGRESSION {self.benchmark} in {self.run}: {field} {format_seconds(self.value)} vs "
                f"{format_seconds(self.baseline_value)} in {self.baseline} ({change}, limit {self.check})")


@dataclass
class Comparison:
    runs: list[Run]
    thresholds: list[str]
    rows: list[tuple[str, list[Summary | None]]]  # fullname, one summary (or None) per run
    regressions: list[Regression]

    @property
    def baseline(self) -> Run:
        return self.runs[0]

    def ratio(self, row: list[Summary | None], index: int, key: str = "median") -> float | None:
        """Run `index` over the baseline: above 1 is slower."""
        base, other = row[0], row[index]
        if base is None or other is None or not base.stats.get(key) or other.stats.get(key) is None:
            return None
        return other.stats[key] / base.stats[key]

    @property
    def mixed_targets(self) -> bool:
        return len({run.target for run in self.runs}) > 1


def compare(runs: list[Run], thresholds: list[str] = ()) -> Comparison:
    """Every benchmark of every run against the first run (the baseline)."""
    if len(runs) < 2:
        raise BenchInputError("compare needs two or more runs: the first is the baseline")
    checks = [parse_threshold(text) for text in thresholds]
    names: list[str] = []
    for run in runs:
        names += [name for name in run.benchmarks if name not in names]
    rows = [(name, [run.benchmarks.get(name) for run in runs]) for name in names]
    regressions = []
    for name, summaries in rows:
        base = summaries[0]
        for run, summary in zip(runs[1:], summaries[1:]):
            if base is None or summary is None:
                continue
            for check in checks:
                if base.stats.get(check.field) is None or summary.stats.get(check.field) is None:
                    continue
                if check.fails(summary, base):
                    regressions.append(Regression(
                        benchmark=summary.name, run=run.name, baseline=runs[0].name, check=describe_threshold(check),
                        value=summary.stats[check.field], baseline_value=base.stats[check.field],
                        change=check.compute(summary, base)))
    return Comparison(runs=list(runs), thresholds=[describe_threshold(c) for c in checks], rows=rows,
                      regressions=regressions)


def format_seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 1e-3:
        return f"{value * 1e6:.1f} µs"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.3f} s"

"""Benchmark reports in markdown, for a terminal or a pull request (RUN.md, compare-*.md)."""

from __future__ import annotations

from .bench_report import (
    OVERHEAD_LIMIT, benchmark_label, cache_lines, cache_meaning, comparison_extras, concurrency_lines, notes,
    overhead_rows, ratio_text, run_header, server_text, stat_text, verdict,
)
from .bench_runs import Comparison, Run, format_seconds


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    escape = lambda cell: str(cell).replace("|", "\\|")  # noqa: E731
    return (["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
            + ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows])


def run_markdown(run: Run) -> str:
    out = [f"# Benchmarks: run `{run.name}`", ""] + [f"{line}  " for line in run_header(run)] + [""]
    out += _md_table(["benchmark", "server", "samples", "median", "p95", "p99", "mean", "max"],
                     [[benchmark_label(s), server_text(s.extra), str(s.stats.get("samples")),
                       format_seconds(s.stats["median"]), stat_text(s, "p95"), stat_text(s, "p99"),
                       format_seconds(s.stats["mean"]), format_seconds(s.stats["max"])]
                      for s in run.benchmarks.values()])
    if cache_lines(run):
        out += ["", "## Cache vs database (Lab 6.2)", ""] + [f"- {line}" for line in cache_lines(run)]
        out += ["", cache_meaning(run)]
    if concurrency_lines(run):
        out += ["", "## Concurrent queries (Lab 6.1)", ""] + [f"- {line}" for line in concurrency_lines(run)]
    if overhead_rows(run):
        out += ["", "## Harness overhead", "",
                "The same client call timed bare (perf_counter around the call) before every benchmark round; "
                f"the ratio of the medians is what pytest-benchmark adds (limit {OVERHEAD_LIMIT}x).", ""]
        out += _md_table(["benchmark", "benchmark median", "bare loop median", "ratio"],
                         [[name, format_seconds(h), format_seconds(b), f"{r:.3f}x"] for name, h, b, r in overhead_rows(run)])
    out += ["", "## Notes", ""] + [f"- {line}" for line in notes(run)]
    return "\n".join(out) + "\n"


def comparison_markdown(comparison: Comparison) -> str:
    runs = comparison.runs
    base = comparison.baseline
    out = ["# Benchmark comparison", "",
           f"baseline **{base.name}** ({base.target}, {base.when}); "
           + "; ".join(f"**{r.name}** ({r.target}, {r.when})" for r in runs[1:]), ""]
    out.append("thresholds: " + (", ".join(comparison.thresholds) if comparison.thresholds
                                 else "none (pass --fail-on median:10% to fail on a regression)"))
    if comparison.mixed_targets:
        out += ["", "> The runs are on different targets: ratios show the environments' difference "
                    "(network, engines, instance classes), not a change of the code."]
    out.append("")
    header = ["benchmark", f"{base.name} median"]
    for run in runs[1:]:
        header += [f"{run.name} median", f"{run.name}/{base.name}"]
    header += [f"{run.name} p99" for run in runs] + ["verdict"]
    rows = []
    regressed = {(r.benchmark, r.run): r for r in comparison.regressions}
    for fullname, summaries in comparison.rows:
        present = next(s for s in summaries if s is not None)
        row = [benchmark_label(present), format_seconds(summaries[0].stats["median"]) if summaries[0] else "missing"]
        for index, (run, summary) in enumerate(zip(runs[1:], summaries[1:]), 1):
            row += [format_seconds(summary.stats["median"]) if summary else "missing",
                    ratio_text(comparison.ratio(summaries, index))]
        row += [stat_text(s, "p99") if s else "missing" for s in summaries]
        row.append(verdict(present.name, summaries, runs, regressed))
        rows.append(row)
    out += _md_table(header, rows)
    extras = comparison_extras(comparison)
    if extras:
        out += ["", "## Per run", ""] + [f"- {line}" for line in extras]
    if comparison.regressions:
        out += ["", "## Regressions", ""] + [f"- {r.line()}" for r in comparison.regressions]
    return "\n".join(out) + "\n"

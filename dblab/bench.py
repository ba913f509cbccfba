"""`dblab bench`: reports of benchmark runs (make bench) and comparisons between runs.

  dblab bench report RUN                      RUN.md and RUN.html next to the run; markdown on stdout
  dblab bench compare BASE RUN [RUN ...]      ratio per benchmark against BASE; with --fail-on
                                              median:10% exits 1 when one regressed beyond it

A run is a pytest-benchmark JSON file (--benchmark-json), given by path or by its name under
reports/benchmarks/. Exit codes: 0 fine, 1 a regression beyond a threshold, 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .bench_html import comparison_html, run_html
from .bench_markdown import comparison_markdown, run_markdown
from .bench_report import overhead_terminal_lines
from .bench_runs import DEFAULT_DIR, BenchInputError, compare, load_run, parse_threshold, resolve


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="report and compare Lab 6 benchmark runs (make bench)")
    commands = parser.add_subparsers(dest="bench_command", required=True)

    report = commands.add_parser("report", help="write RUN.md and RUN.html for one run, print the markdown")
    report.add_argument("run_name", metavar="RUN", help="a --benchmark-json file, or a run's name under --dir")
    _common(report)
    report.set_defaults(run=run_report)

    comparison = commands.add_parser("compare", help="compare runs against the first (the baseline)")
    comparison.add_argument("run_names", nargs="+", metavar="RUN", help="two or more runs; the first is the baseline")
    comparison.add_argument("--fail-on", action="append", default=[], metavar="FIELD:LIMIT",
                            help="exit 1 when a benchmark is slower than the baseline beyond this, in "
                                 "pytest-benchmark's --benchmark-compare-fail form: median:10%%, p99:25%%, "
                                 "mean:0.0005 (seconds); repeatable (default: report only)")
    comparison.add_argument("--name", default=None,
                            help="file name for the comparison (default: compare-BASE-vs-RUN...)")
    _common(comparison)
    comparison.set_defaults(run=run_compare)


def _common(parser) -> None:
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help=f"where named runs are (default: {DEFAULT_DIR})")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where the .md and .html go (default: next to the (first) run)")


def _fail(command: str, error: Exception) -> int:
    print(f"dblab bench {command}: {error}", file=sys.stderr)
    return 2


def _write(out_dir: Path, stem: str, markdown: str, page: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, text in ((".md", markdown), (".html", page)):
        path = out_dir / f"{stem}{suffix}"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def run_report(args: argparse.Namespace) -> int:
    try:
        run = load_run(resolve(args.run_name, args.dir))
    except BenchInputError as exc:
        return _fail("report", exc)
    markdown = run_markdown(run)
    written = _write(args.out_dir or run.path.parent, run.name, markdown, run_html(run))
    print(markdown)
    for line in overhead_terminal_lines(run):
        print(line)
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    try:
        for threshold in args.fail_on:
            parse_threshold(threshold)  # a typo fails before any file is read
        runs = [load_run(resolve(run, args.dir)) for run in args.run_names]
        comparison = compare(runs, args.fail_on)
    except BenchInputError as exc:
        return _fail("compare", exc)
    stem = args.name or "compare-" + "-vs-".join(run.name for run in runs)
    markdown = comparison_markdown(comparison)
    written = _write(args.out_dir or runs[0].path.parent, stem, markdown, comparison_html(comparison))
    print(markdown)
    print("wrote " + ", ".join(str(path) for path in written))
    if comparison.regressions:
        for regression in comparison.regressions:
            print(f"dblab bench compare: {regression.line()}", file=sys.stderr)
        print(f"dblab bench compare: {len(comparison.regressions)} regression(s) beyond "
              f"{', '.join(comparison.thresholds)} against {runs[0].name}", file=sys.stderr)
        return 1
    return 0

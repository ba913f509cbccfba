"""Benchmark reports as one self-contained HTML page (RUN.html, compare-*.html): inline CSS and
SVG charts, no script, no external asset, nothing fetched, so a grader can attach it to a
scorecard and it opens anywhere offline."""

from __future__ import annotations

import html

from .bench_report import (
    OVERHEAD_LIMIT, benchmark_label, cache_lines, cache_meaning, comparison_extras, concurrency_lines, notes,
    overhead_rows, ratio_text, run_header, server_text, stat_text, verdict,
)
from .bench_runs import Comparison, Run, Summary, format_seconds
from fixtures.bench_stats import MIN_SAMPLES_FOR_P99, percentile

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:13px}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bad{color:#b00020;font-weight:600}.ok{color:#1b6e20}.note{color:#555}
figure{margin:.5rem 0 1rem}figcaption{font-size:12px;color:#555}
svg text{font:11px system-ui,sans-serif;fill:#333}
.bar{fill:#4e79a7}.bar.base{fill:#9aa5b1}.bar.regressed{fill:#d1495b}.tick{stroke:#222;stroke-width:1.5}
.hist{fill:#4e79a7}.marker{stroke-width:1.5}.m-median{stroke:#222}.m-p95{stroke:#e8a33d}.m-p99{stroke:#d1495b}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _html_table(header: list[str], rows: list[list[tuple[str, str]]]) -> str:
    """rows of (css class, already-escaped html) cells."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="{cls}">{cell}</td>' for cls, cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_bold_to_html(text: str) -> str:
    parts = _e(text).split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def bar_chart(bars: list[tuple[str, float, float | None, str]], title: str, width: int = 720) -> str:
    """Horizontal bars (label, value, tick or None, css class) on one linear scale from zero;
    the tick marks a tail value (p99). Values are seconds."""
    label_width, row, top = 260, 22, 20
    scale_max = max([v for _l, v, _t, _c in bars] + [t for _l, _v, t, _c in bars if t is not None] + [1e-12])
    plot = width - label_width - 90
    height = top + row * len(bars) + 10
    parts = [f'<svg width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>']
    for i, (label, value, tick, css) in enumerate(bars):
        y = top + i * row
        w = max(1.0, plot * value / scale_max)
        parts.append(f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end">{_e(label[:40])}</text>')
        parts.append(f'<rect class="bar {css}" x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{row - 8}">'
                     f'<title>{_e(label)}: median {_e(format_seconds(value))}</title></rect>')
        if tick is not None:
            x = label_width + plot * tick / scale_max
            parts.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{y + 1}" y2="{y + row - 3}">'
                         f'<title>p99 {_e(format_seconds(tick))}</title></line>')
        parts.append(f'<text x="{label_width + w + 6:.1f}" y="{y + 14}">{_e(format_seconds(value))}</text>')
    parts.append(f'<text x="{label_width}" y="12">median (bar), p99 (tick), linear scale from 0</text></svg>')
    return "".join(parts)


def histogram(samples: list[float], title: str, width: int = 720, bins: int = 40) -> str:
    """Distribution of per-call times up to p99.5 (the rest is counted, not drawn), with the
    median, p95 and p99 marked."""
    if len(samples) < 2:
        return ""
    low, high = min(samples), percentile(samples, 99.5)
    if high <= low:
        high = low * 1.01 + 1e-9
    counts = [0] * bins
    clipped = 0
    for value in samples:
        if value > high:
            clipped += 1
            continue
        counts[min(bins - 1, int((value - low) / (high - low) * bins))] += 1
    left, top, plot_w, plot_h = 10, 18, width - 20, 110
    peak = max(counts) or 1
    bar_w = plot_w / bins
    parts = [f'<svg width="{width}" height="{top + plot_h + 34}" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>']
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        x = left + i * bar_w
        parts.append(f'<rect class="hist" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                     f'height="{h:.1f}"><title>{count} calls from {_e(format_seconds(low + i * (high - low) / bins))}'
                     f'</title></rect>')
    legend_x = left
    for name, q in (("median", 50), ("p95", 95), ("p99", 99)):
        if name != "median" and len(samples) < (MIN_SAMPLES_FOR_P99 if name == "p99" else MIN_SAMPLES_FOR_P99 // 5):
            continue
        value = percentile(samples, q)
        x = left + plot_w * min(1.0, (value - low) / (high - low))
        parts.append(f'<line class="marker m-{name}" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{top + plot_h}">'
                     f'<title>{name} {_e(format_seconds(value))}</title></line>')
        parts.append(f'<text x="{legend_x}" y="{top + plot_h + 30}" class="m-{name}">{name} {_e(format_seconds(value))}</text>')
        legend_x += 170
    parts.append(f'<text x="{left}" y="{top + plot_h + 14}">{_e(format_seconds(low))}</text>')
    parts.append(f'<text x="{left + plot_w}" y="{top + plot_h + 14}" text-anchor="end">{_e(format_seconds(high))}'
                 f'{_e(f" ({clipped} slower calls not drawn)") if clipped else ""}</text>')
    parts.append("</svg>")
    return "".join(parts)


def run_html(run: Run) -> str:
    body = [f"<h1>Benchmarks: run <code>{_e(run.name)}</code></h1>"]
    body += [f"<p>{_md_bold_to_html(line)}</p>" for line in run_header(run)]
    rows = [[("", _e(benchmark_label(s))), ("", _e(server_text(s.extra))), ("num", _e(s.stats.get("samples"))),
             ("num", _e(format_seconds(s.stats["median"]))), ("num", _e(stat_text(s, "p95"))), ("num", _e(stat_text(s, "p99"))),
             ("num", _e(format_seconds(s.stats["mean"]))), ("num", _e(format_seconds(s.stats["max"])))]
            for s in run.benchmarks.values()]
    body.append(_html_table(["benchmark", "server", "samples", "median", "p95", "p99", "mean", "max"], rows))
    if cache_lines(run):
        body.append("<h2>Cache vs database (Lab 6.2)</h2><ul>"
                    + "".join(f"<li>{_md_bold_to_html(line)}</li>" for line in cache_lines(run)) + "</ul>")
        body.append(f"<p>{_e(cache_meaning(run))}</p>")
        database = next((s.extra.get("database_median_s") for s in run.benchmarks.values()
                         if s.extra.get("database_median_s")), None)
        bars = []
        point = next((s for s in run.benchmarks.values() if s.stats["median"] == database), None)
        if point is not None:
            bars.append((point.name, point.stats["median"], point.stats.get("p99"), "base"))
        bars += [(s.name, s.stats["median"], s.stats.get("p99"), "") for s in run.benchmarks.values()
                 if "speedup_over_database" in s.extra]
        body.append(f"<figure>{bar_chart(bars, 'cache vs database')}</figure>")
    if concurrency_lines(run):
        body.append("<h2>Concurrent queries (Lab 6.1)</h2><ul>"
                    + "".join(f"<li>{_md_bold_to_html(line)}</li>" for line in concurrency_lines(run)) + "</ul>")
    if overhead_rows(run):
        body.append("<h2>Harness overhead</h2><p>The same client call timed bare (perf_counter around the call) "
                    f"before every benchmark round; the ratio of the medians is what pytest-benchmark adds "
                    f"(limit {OVERHEAD_LIMIT}x).</p>")
        body.append(_html_table(["benchmark", "benchmark median", "bare loop median", "ratio"],
                                [[("", _e(n)), ("num", _e(format_seconds(h))), ("num", _e(format_seconds(b))),
                                  ("num " + ("ok" if r <= OVERHEAD_LIMIT else "bad"), _e(f"{r:.3f}x"))]
                                 for n, h, b, r in overhead_rows(run)]))
    body.append("<h2>Distributions</h2>")
    for summary in run.benchmarks.values():
        data = _data(run, summary)
        chart = histogram(data, summary.name) if data else ""
        if chart:
            body.append(f"<figure>{chart}<figcaption>{_e(benchmark_label(summary))}: {len(data)} calls, "
                        f"{_e(server_text(summary.extra))}</figcaption></figure>")
    body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(line)}</li>" for line in notes(run)) + "</ul>")
    return _page(f"Benchmarks {run.name}", body)


def _data(run: Run, summary: Summary) -> list[float]:
    for bench in run.raw.get("benchmarks", ()):
        if (bench.get("fullname") or bench.get("name")) == summary.fullname:
            return list((bench.get("stats") or {}).get("data") or ())
    return []


def comparison_html(comparison: Comparison) -> str:
    runs = comparison.runs
    base = comparison.baseline
    regressed = {(r.benchmark, r.run): r for r in comparison.regressions}
    body = ["<h1>Benchmark comparison</h1>",
            f"<p>baseline <strong>{_e(base.name)}</strong> ({_e(base.target)}, {_e(base.when)}); "
            + "; ".join(f"<strong>{_e(r.name)}</strong> ({_e(r.target)}, {_e(r.when)})" for r in runs[1:]) + "</p>",
            "<p>thresholds: " + _e(", ".join(comparison.thresholds) or "none (pass --fail-on median:10% to fail on a regression)")
            + "</p>"]
    if comparison.mixed_targets:
        body.append('<p class="note">The runs are on different targets: ratios show the environments\' difference '
                    "(network, engines, instance classes), not a change of the code.</p>")
    if comparison.regressions:
        body.append('<ul class="bad">' + "".join(f"<li>{_e(r.line())}</li>" for r in comparison.regressions) + "</ul>")
    header = ["benchmark", f"{base.name} median"]
    for run in runs[1:]:
        header += [f"{run.name} median", f"{run.name}/{base.name}"]
    header += [f"{run.name} p99" for run in runs] + ["verdict"]
    rows = []
    for _fullname, summaries in comparison.rows:
        present = next(s for s in summaries if s is not None)
        row = [("", _e(benchmark_label(present))),
               ("num", _e(format_seconds(summaries[0].stats["median"]) if summaries[0] else "missing"))]
        for index, (run, summary) in enumerate(zip(runs[1:], summaries[1:]), 1):
            bad = (present.name, run.name) in regressed
            row += [("num", _e(format_seconds(summary.stats["median"]) if summary else "missing")),
                    ("num bad" if bad else "num", _e(ratio_text(comparison.ratio(summaries, index))))]
        row += [("num", _e(stat_text(s, "p99") if s else "missing")) for s in summaries]
        text = verdict(present.name, summaries, runs, regressed)
        row.append(("bad" if "REGRESSED" in text else "ok" if text == "ok" else "", _e(text)))
        rows.append(row)
    body.append(_html_table(header, rows))
    extras = comparison_extras(comparison)
    if extras:
        body.append("<h2>Per run</h2><ul>" + "".join(f"<li>{_e(line)}</li>" for line in extras) + "</ul>")
    body.append("<h2>Medians per benchmark</h2>")
    for _fullname, summaries in comparison.rows:
        present = next(s for s in summaries if s is not None)
        bars = []
        for index, (run, summary) in enumerate(zip(runs, summaries)):
            if summary is None:
                continue
            css = "base" if index == 0 else "regressed" if (present.name, run.name) in regressed else ""
            ratio = comparison.ratio(summaries, index) if index else None
            label = run.name + (f" ({ratio:.2f}x)" if ratio is not None else "")
            bars.append((label, summary.stats["median"], summary.stats.get("p99"), css))
        body.append(f"<figure>{bar_chart(bars, present.name)}"
                    f"<figcaption>{_e(benchmark_label(present))}</figcaption></figure>")
    return _page("Benchmark comparison", body)

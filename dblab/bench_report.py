"""Benchmark reports: markdown for a terminal or a pull request, and one self-contained HTML page
(inline CSS and SVG charts; no script, no external asset, nothing fetched) that a grader can
attach to a scorecard.

Sections are driven by what the benchmarks stored in extra_info (speedup_over_database, qps,
harness_overhead, source), not by test names, so renamed or added benchmarks still report.
"""

from __future__ import annotations

import html

from .bench_runs import Comparison, Run, Summary, format_seconds
from fixtures.bench_stats import MIN_SAMPLES_FOR_P99, percentile

OVERHEAD_LIMIT = 1.15  # the harness may add at most 15% to a call's median

LAB_CACHE_CLAIM = "The lab claims a cache is 10-100x faster than the database."
CACHE_RATIO_MEANING = {
    "local": (
        "Here both servers answer on loopback (127.0.0.1): a call is one round trip through the kernel, and "
        "most of its time is the Python client (PyMySQL, redis-py). The ratio measured here is the servers' "
        "and clients' difference on a hot primary-key row; it says nothing about network distance. The lab's "
        "10-100x is about round trips to RDS over a network and queries that do real work (disk reads, joins, "
        "scans), not this best case of the database."
    ),
    "aws": (
        "Here every call crosses the VPC network to the RDS instance or the ElastiCache node, so both pay a "
        "network round trip; the ratio is what an application on that network sees for a hot primary-key row. "
        "A cache gains more against queries that do real work (disk reads, joins, scans) than against this "
        "best case of the database; the lab's 10-100x describes those."
    ),
}
EMULATED_DYNAMODB = ("DynamoDB numbers on an emulator describe the emulator (moto runs in the test process "
                     "locally), not DynamoDB; compare them only with runs on the same emulator.")
REPLICA_RESOLUTION = ("Replica delay is the time from the primary's commit returning to the row being "
                      "visible on the replica, polled in a tight loop: its resolution is one replica query, "
                      "so the minimum is roughly one round trip even when replication is faster.")


def _name(summary: Summary) -> str:
    return f"{summary.group}: {summary.name}" if summary.group else summary.name


def _server(extra: dict) -> str:
    engine = " ".join(str(extra[key]) for key in ("engine", "engine_version") if extra.get(key))
    size = extra.get("instance_class") or extra.get("node_class") or extra.get("capacity")
    details = ", ".join(part for part in (engine, size) if part)
    server = extra.get("server") or "?"
    return f"{server} ({details})" if details else server


def _p(summary: Summary, key: str) -> str:
    value = summary.stats.get(key)
    if value is None and key in ("p95", "p99"):
        return f"n/a (<{MIN_SAMPLES_FOR_P99 if key == 'p99' else MIN_SAMPLES_FOR_P99 // 5} samples)"
    return format_seconds(value)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def run_header(run: Run) -> list[str]:
    machine = run.raw.get("machine_info") or {}
    commit = run.raw.get("commit_info") or {}
    cpu = (machine.get("cpu") or {}).get("brand_raw") or machine.get("processor") or "?"
    version = run.raw.get("version", "?")
    lines = [f"target **{run.target}**" + (" (emulated AWS)" if run.context("emulated") == "True" else "")
             + f", region {run.context('region') or '?'}, {run.when}",
             f"pytest-benchmark {version}, Python {machine.get('python_version', '?')} on {cpu}"
             + (f", commit {str(commit.get('id'))[:10]}{' (dirty)' if commit.get('dirty') else ''}" if commit.get("id") else "")]
    if run.context("data_plane"):
        lines.append(f"data plane: {run.context('data_plane')}")
    return lines


# --- derived sections (shared by markdown and HTML) --------------------------------------------

def cache_lines(run: Run) -> list[str]:
    lines = []
    for summary in run.benchmarks.values():
        extra = summary.extra
        if "speedup_over_database" not in extra:
            continue
        what = extra.get("operation") or summary.name
        hits = (f" ({extra['cache_hits']} hits, {extra['cache_misses']} miss{'es' if extra['cache_misses'] != 1 else ''})"
                if "cache_hits" in extra else "")
        if extra["speedup_over_database"] is None:
            lines.append(f"{summary.name}{hits}: no point select in this run to compare with")
            continue
        lines.append(f"{summary.name}{hits}: **{extra['speedup_over_database']:.2f}x** faster than the point select "
                     f"(medians {format_seconds(summary.stats['median'])} vs "
                     f"{format_seconds(extra.get('database_median_s'))}, same run; {what})")
    return lines


def cache_meaning(run: Run) -> str:
    return f"{LAB_CACHE_CLAIM} {CACHE_RATIO_MEANING.get(run.target, CACHE_RATIO_MEANING['aws'])}"


def concurrency_lines(run: Run) -> list[str]:
    lines = []
    for summary in run.benchmarks.values():
        extra = summary.extra
        if "qps" not in extra:
            continue
        tail = ", ".join(f"{q} {format_seconds(extra.get(f'latency_{q}_s')) if extra.get(f'latency_{q}_s') is not None else 'n/a'}"
                         for q in ("p50", "p95", "p99"))
        lines.append(f"{summary.name}: **{extra['qps']:,.0f} queries/s** with {extra.get('threads')} threads "
                     f"(median round {format_seconds(summary.stats['median'])}); per-query latency {tail} "
                     f"from {extra.get('latency_samples')} queries")
    return lines


def overhead_rows(run: Run) -> list[tuple[str, float, float, float]]:
    return [(s.name, s.stats["median"], s.extra["bare_loop_median_s"], s.extra["harness_overhead"])
            for s in run.benchmarks.values() if s.extra.get("harness_overhead") is not None]


def overhead_terminal_lines(run: Run) -> list[str]:
    """One line per measured benchmark, for the terminal after a pass."""
    return [f"harness overhead {name}: {ratio:.3f}x (benchmark median {format_seconds(harness)} vs bare loop "
            f"{format_seconds(bare)}; limit {OVERHEAD_LIMIT}x{'' if ratio <= OVERHEAD_LIMIT else ', EXCEEDED'})"
            for name, harness, bare, ratio in overhead_rows(run)]


def notes(run: Run) -> list[str]:
    result = []
    if any(s.extra.get("source") for s in run.benchmarks.values()):
        result.append(REPLICA_RESOLUTION)
    if any(s.extra.get("engine") == "dynamodb" and s.extra.get("emulated") for s in run.benchmarks.values()):
        result.append(EMULATED_DYNAMODB)
    if any(s.stats.get("p99") is None for s in run.benchmarks.values()):
        result.append(f"p99 is given only from {MIN_SAMPLES_FOR_P99} samples up (p95 from {MIN_SAMPLES_FOR_P99 // 5}): "
                      "below that the tail is a handful of points. Raise --benchmark-max-time for more rounds.")
    result.append("Times are per call (one call per round; a concurrent benchmark's round is its whole batch of "
                  "queries), timed with the monotonic perf_counter. Absolute times move with the machine's load: "
                  "compare ratios from one run, or runs on the same machine.")
    return result


# --- markdown ----------------------------------------------------------------------------------

def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    escape = lambda cell: str(cell).replace("|", "\\|")  # noqa: E731
    return (["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
            + ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows])


def run_markdown(run: Run) -> str:
    out = [f"# Benchmarks: run `{run.name}`", ""] + [f"{line}  " for line in run_header(run)] + [""]
    out += _md_table(["benchmark", "server", "samples", "median", "p95", "p99", "mean", "max"],
                     [[_name(s), _server(s.extra), str(s.stats.get("samples")), format_seconds(s.stats["median"]),
                       _p(s, "p95"), _p(s, "p99"), format_seconds(s.stats["mean"]), format_seconds(s.stats["max"])]
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
        row = [_name(present), format_seconds(summaries[0].stats["median"]) if summaries[0] else "missing"]
        for index, (run, summary) in enumerate(zip(runs[1:], summaries[1:]), 1):
            row += [format_seconds(summary.stats["median"]) if summary else "missing",
                    _ratio(comparison.ratio(summaries, index))]
        row += [_p(s, "p99") if s else "missing" for s in summaries]
        row.append(verdict(present.name, summaries, runs, regressed))
        rows.append(row)
    out += _md_table(header, rows)
    extras = comparison_extras(comparison)
    if extras:
        out += ["", "## Per run", ""] + [f"- {line}" for line in extras]
    if comparison.regressions:
        out += ["", "## Regressions", ""] + [f"- {r.line()}" for r in comparison.regressions]
    return "\n".join(out) + "\n"


def verdict(name: str, summaries, runs, regressed) -> str:
    if summaries[0] is None:
        return f"not in baseline {runs[0].name}"
    parts = []
    for run, summary in zip(runs[1:], summaries[1:]):
        if summary is None:
            parts.append(f"missing in {run.name}")
        elif (name, run.name) in regressed:
            r = regressed[(name, run.name)]
            parts.append(f"REGRESSED in {run.name} ({r.check})")
    return "; ".join(parts) or "ok"


def comparison_extras(comparison: Comparison) -> list[str]:
    lines = []
    for run in comparison.runs:
        speedups = [f"{s.name} {s.extra['speedup_over_database']:.2f}x" for s in run.benchmarks.values()
                    if s.extra.get("speedup_over_database") is not None]
        qps = [f"{s.extra['qps']:,.0f} queries/s" for s in run.benchmarks.values() if "qps" in s.extra]
        overhead = [f"{name} {ratio:.3f}x" for name, _h, _b, ratio in overhead_rows(run)]
        parts = [f"cache over database: {', '.join(speedups)}" if speedups else "",
                 f"concurrency: {', '.join(qps)}" if qps else "",
                 f"harness overhead: {', '.join(overhead)}" if overhead else ""]
        parts = [p for p in parts if p]
        if parts:
            lines.append(f"{run.name} ({run.target}): " + "; ".join(parts))
    return lines


# --- HTML and SVG --------------------------------------------------------------------------------

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
    rows = [[("", _e(_name(s))), ("", _e(_server(s.extra))), ("num", _e(s.stats.get("samples"))),
             ("num", _e(format_seconds(s.stats["median"]))), ("num", _e(_p(s, "p95"))), ("num", _e(_p(s, "p99"))),
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
            body.append(f"<figure>{chart}<figcaption>{_e(_name(summary))}: {len(data)} calls, "
                        f"{_e(_server(summary.extra))}</figcaption></figure>")
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
        row = [("", _e(_name(present))),
               ("num", _e(format_seconds(summaries[0].stats["median"]) if summaries[0] else "missing"))]
        for index, (run, summary) in enumerate(zip(runs[1:], summaries[1:]), 1):
            bad = (present.name, run.name) in regressed
            row += [("num", _e(format_seconds(summary.stats["median"]) if summary else "missing")),
                    ("num bad" if bad else "num", _e(_ratio(comparison.ratio(summaries, index))))]
        row += [("num", _e(_p(s, "p99") if s else "missing")) for s in summaries]
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
        body.append(f"<figure>{bar_chart(bars, present.name)}<figcaption>{_e(_name(present))}</figcaption></figure>")
    return _page("Benchmark comparison", body)


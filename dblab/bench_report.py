"""What a benchmark report says, whatever its format: the run's header, the derived sections
(cache vs database, concurrency, harness overhead), the notes, and the per-benchmark texts
(label, server, percentiles, ratios). bench_markdown.py and bench_html.py lay these out, so
the terminal, a pull request and the HTML page a grader attaches never disagree.

Sections are driven by what the benchmarks stored in extra_info (speedup_over_database, qps,
harness_overhead, source), not by test names, so renamed or added benchmarks still report.
"""

from __future__ import annotations

from .bench_runs import Comparison, Run, Summary, format_seconds
from fixtures.bench_stats import MIN_SAMPLES_FOR_P99

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


def benchmark_label(summary: Summary) -> str:
    return f"{summary.group}: {summary.name}" if summary.group else summary.name


def server_text(extra: dict) -> str:
    engine = " ".join(str(extra[key]) for key in ("engine", "engine_version") if extra.get(key))
    size = extra.get("instance_class") or extra.get("node_class") or extra.get("capacity")
    details = ", ".join(part for part in (engine, size) if part)
    server = extra.get("server") or "?"
    return f"{server} ({details})" if details else server


def stat_text(summary: Summary, key: str) -> str:
    # bench_stats leaves a tail percentile out below its sample minimum; say why rather than show a gap.
    value = summary.stats.get(key)
    if value is None and key in ("p95", "p99"):
        return f"n/a (<{MIN_SAMPLES_FOR_P99 if key == 'p99' else MIN_SAMPLES_FOR_P99 // 5} samples)"
    return format_seconds(value)


def ratio_text(value: float | None) -> str:
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


# --- derived sections ----------------------------------------------------------------------------

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



# --- comparisons -----------------------------------------------------------------------------------

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

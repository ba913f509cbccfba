"""Draw a run's timeline (provisioning/timeline.py) as one self-contained HTML page: a bar per
step on a common time axis, the critical path's steps marked, the numbers above. No scripts,
no network: it opens from a CI artifact as it is."""

from __future__ import annotations

from html import escape

WIDTH = 760  # px of the time axis
ROW = 22


def _bar(step: dict, scale: float, critical: set[str]) -> str:
    left = step["started"] * scale
    width = max(step["seconds"] * scale, 2)
    kind = "critical" if step["step"] in critical else ("bad" if step["outcome"] != "ok" else "ok")
    label = f"{step['step']} {step['title']}"
    tip = f"{label}: {step['started']:.2f}s to {step['ended']:.2f}s ({step['seconds']:.2f}s); {step['outcome']}"
    waits = ", ".join(step["waits_for"]) or "nothing"
    return (f'<tr><td class="name">{escape(label)}</td><td class="waits">{escape(waits)}</td>'
            f'<td class="axis"><div class="bar {kind}" style="margin-left:{left:.1f}px;width:{width:.1f}px" '
            f'title="{escape(tip)}"></div></td><td class="num">{step["seconds"]:.2f}s</td></tr>')


def _phase(phase: dict) -> str:
    end = max((s["ended"] for s in phase["steps"]), default=0.0) or 1.0
    scale = WIDTH / end
    critical = set(phase["critical_steps"])
    ratio = phase.get("ratio_to_critical_path")
    facts = (f"wall {phase['wall']:.2f}s &middot; critical path {phase['critical_path']:.2f}s "
             f"({escape(' → '.join(phase['critical_steps']) or 'none')}) &middot; sequential sum "
             f"{phase['sequential_sum']:.2f}s" + (f" &middot; wall / critical path {ratio:.2f}" if ratio else ""))
    rows = "".join(_bar(step, scale, critical) for step in phase["steps"])
    return (f'<section><h2>{escape(phase["phase"])}</h2><p class="facts">{facts}</p>'
            f'<table><tr><th>step</th><th>waits for</th><th>0s … {end:.1f}s</th><th>took</th></tr>{rows}</table></section>')


def render(data: dict) -> str:
    realism = data.get("aws_realism") or 0
    scale = f"AWS's typical durations × {realism:g}" if realism else "no simulated durations"
    body = "".join(_phase(phase) for phase in data["phases"]) or "<p>No step ran.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dblab run {escape(data['run_id'])}: timeline</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 8px; text-align: left; }}
td.axis {{ width: {WIDTH}px; background: repeating-linear-gradient(90deg, #fafafa 0 {WIDTH // 10 - 1}px, #eee {WIDTH // 10 - 1}px {WIDTH // 10}px); }}
.bar {{ height: {ROW - 8}px; border-radius: 3px; }}
.ok {{ background: #7aa6d8; }} .critical {{ background: #d8892b; }} .bad {{ background: #c94c4c; }}
td.num, td.waits {{ color: #555; font-variant-numeric: tabular-nums; }} .facts {{ color: #333; }}
.legend span {{ display: inline-block; width: 1em; height: 1em; vertical-align: middle; margin: 0 .3em 0 1em; }}
</style></head><body>
<h1>Run {escape(data['run_id'])}</h1>
<p>{escape(data.get('target', ''))}; {escape(scale)}.</p>
<p class="legend"><span class="critical"></span>on the critical path <span class="ok"></span>other steps
<span class="bad"></span>failed or skipped</p>
{body}
</body></html>
"""

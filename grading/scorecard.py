"""A student's scorecard: one self-contained HTML file (inline CSS and SVG, no script, no
external resource), so it opens offline straight from disk or as a mail attachment."""

from __future__ import annotations

from html import escape
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from provisioning.outcomes import BLOCKED, FAIL, NOT_GRADABLE, PASS

COLORS = {PASS: "#2e7d32", FAIL: "#c62828", BLOCKED: "#ef6c00", NOT_GRADABLE: "#9e9e9e"}
# What a reader sees: the statuses in words, "not gradable" (the grade JSON keeps their spelling).
LABELS = {status: status.replace("_", " ") for status in COLORS}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { margin-bottom: .2em; }
.meta td { padding: 0 1em 0 0; color: #555; }
.score { font-size: 2.2em; font-weight: 600; margin: .3em 0; }
.hint { border-left: 4px solid #c62828; background: #fdecea; padding: .6em 1em; }
.summary { color: #444; }
table.checks { border-collapse: collapse; width: 100%; margin: .4em 0 1em; }
table.checks td, table.checks th { border-bottom: 1px solid #ddd; padding: .3em .5em; text-align: left; vertical-align: top; }
.status { display: inline-block; min-width: 6.5em; padding: 0 .4em; border-radius: 3px; color: #fff; font-size: .85em; text-align: center; }
details { margin: .3em 0; }
summary { cursor: pointer; font-weight: 600; }
code { font-size: .9em; }
.notes { color: #666; font-size: .9em; }
"""


def _status(status: str) -> str:
    return f'<span class="status" style="background:{COLORS.get(status, "#555")}">{escape(LABELS.get(status, status))}</span>'


def _points(value: float) -> str:
    return f"{value:g}"


def chart(steps: list[dict]) -> str:
    """Horizontal bars: the track is the step's rubric points, the fill what was earned."""
    row, label_width, track_width, text_width = 24, 230, 360, 90
    scale = track_width / max([s["rubric_points"] for s in steps] + [1])
    height = row * len(steps) + 30
    width = label_width + track_width + text_width
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             "<title>points per lab step</title>"]
    for i, step in enumerate(steps):
        y = i * row + 4
        color = COLORS.get(step["status"], "#555")
        track = step["rubric_points"] * scale
        fill = (step["points"] / step["max_points"] * track) if step["max_points"] else 0
        label = f'{step["step"]} {step["title"]}'
        if len(label) > 34:
            label = label[:33] + "…"
        if step["status"] == NOT_GRADABLE:
            text = LABELS[NOT_GRADABLE]
        elif step["status"] == BLOCKED:
            text = f'{LABELS[BLOCKED]} 0/{_points(step["max_points"])}'
        else:
            text = f'{_points(step["points"])}/{_points(step["max_points"])}'
        parts.append(
            f'<g><title>{escape(step["step"])} {escape(step["title"])}: {escape(LABELS.get(step["status"], step["status"]))}, '
            f'{escape(text)}</title>'
            f'<text x="0" y="{y + 14}">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{track:.1f}" height="16" fill="#eee" stroke="{color}" '
            f'stroke-dasharray="{"4 3" if step["status"] == NOT_GRADABLE else "none"}"/>'
            f'<rect x="{label_width}" y="{y}" width="{fill:.1f}" height="16" fill="{color}"/>'
            f'<text x="{label_width + track_width + 8}" y="{y + 14}">{escape(text)}</text></g>')
    legend_y = len(steps) * row + 20
    x = 0
    for status, color in COLORS.items():
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{color}"/>'
                     f'<text x="{x + 16}" y="{legend_y}">{escape(LABELS[status])}</text>')
        x += 110
    parts.append("</svg>")
    return "".join(parts)


def evidence_base(grade: dict) -> str | None:
    """Where the scorecard (reports/grades/NAME.html) finds the grade's evidence folder: relative
    when it is in the same reports folder (so the reports can be moved or zipped whole)."""
    folder = (grade.get("evidence") or {}).get("folder")
    if not folder:
        return None
    if Path(folder).is_absolute():  # a regrade into other reports: the evidence where it is
        return f"{Path(folder).as_uri()}/"
    return f"../{quote(folder)}/"


def _evidence_links(check: dict, base: str | None) -> str:
    files = check.get("evidence") or ()
    if not files or base is None:
        return ""
    links = ", ".join(f'<a href="{escape(base + quote(file))}">{escape(_answer_label(file))}</a>' for file in files)
    return f'<br><small class="evidence">what the grader saw: {links}</small>'


def _answer_label(file: str) -> str:
    """aws/0010-ec2-DescribeSecurityGroups.json -> ec2 DescribeSecurityGroups;
    mysql/0042-database-lab-mysql.json -> mysql database-lab-mysql"""
    path = PurePosixPath(file)
    name = path.stem.split("-", 1)[-1]
    return name.replace("-", " ", 1) if path.parent.name == "aws" else f"{path.parent.name} {name}"


def _step_section(step: dict, base: str | None = None) -> str:
    head = (f'{_status(step["status"])} {escape(step["step"])} {escape(step["title"])}: '
            f'{_points(step["points"])} of {_points(step["max_points"])} points')
    notes = []
    if step.get("blocked_by"):
        notes.append(f'<p>Blocked by step {escape(", ".join(step["blocked_by"]))}: fix that step first; '
                     "this step was not checked and its checks carry no hints of their own.</p>")
    if step.get("reason"):
        notes.append(f'<p>Not gradable: {escape(step["reason"])}. Not counted in the maximum.</p>')
    rows = []
    for check in step["checks"]:
        hint = f'<br><b>Hint:</b> {escape(check["hint"])}' if check.get("hint") else ""
        source = " <small>(your code)</small>" if check.get("source") == "code" else ""
        rows.append(f'<tr><td>{_status(check["status"])}</td><td><code>{escape(check["id"])}</code>{source}</td>'
                    f'<td>{_points(check["points"])}/{_points(check["max_points"])}</td>'
                    f'<td>{escape(check["message"] or "")}{hint}{_evidence_links(check, base)}</td></tr>')
    open_attribute = "" if step["status"] == PASS else " open"
    return (f"<details{open_attribute}><summary>{head}</summary>{''.join(notes)}"
            '<table class="checks"><tr><th>status</th><th>check</th><th>points</th><th>message and hint</th></tr>'
            f"{''.join(rows)}</table></details>")


def _benchmarks(grade: dict) -> str:
    rows = grade.get("benchmarks") or ()
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{escape(row['name'])}</td><td>{row['median_s'] * 1e6:,.1f} µs</td><td>{row['rounds']}</td>"
        f"<td>{escape(', '.join(f'{k}={v}' for k, v in row['extra_info'].items()))}</td></tr>"
        for row in rows
    )
    return ("<h2>Benchmarks (Lab 6, not graded)</h2><table class=\"meta\"><tr><th>benchmark</th><th>median</th>"
            f"<th>rounds</th><th>context</th></tr>{body}</table>")


def render(grade: dict) -> str:
    score, max_score = grade["score"], grade["max_score"]
    percent = f" ({score / max_score:.0%})" if max_score else ""
    meta = [("account", grade.get("account") or "unknown"), ("region", grade.get("region")),
            ("target", grade.get("target") + (f' {grade["endpoint_url"]}' if grade.get("endpoint_url") else "")),
            ("rubric", grade.get("rubric_version")), ("graded at", grade.get("graded_at") or "")]
    hint = f'<p class="hint">{escape(grade["hint"])}</p>' if grade.get("hint") else ""
    notes = "".join(f"<li>{escape(note)}</li>" for note in grade.get("notes", ()))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Scorecard: {escape(grade['student'])}</title><style>{CSS}</style></head><body>"
        f"<h1>Hands-On Database Lab: {escape(grade['student'])}</h1>"
        '<table class="meta">' + "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in meta)
        + "</table>"
        f'<div class="score">{_points(score)} / {_points(max_score)}{percent}</div>'
        f'{hint}<p class="summary">{escape(grade.get("summary", ""))}</p>'
        f"{chart(grade['steps'])}"
        f"<h2>Steps</h2>{''.join(_step_section(step, evidence_base(grade)) for step in grade['steps'])}"
        f"{_benchmarks(grade)}"
        f'<ul class="notes">{notes}</ul></body></html>\n'
    )

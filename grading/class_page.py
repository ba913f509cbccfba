"""The class summary page: reports/class.html, from every grade file (reports/grades/*.json).

What an instructor opens after grading a class:
- the score distribution, an inline SVG histogram of each student's score as a share of what the
  grader could look at (score / max_score; a student with nothing gradable is counted apart);
- the checks most students failed, by how many failed them, each with its lab step's title and
  the hint students got (the rubric's), so the next lesson can start there;
- every student with their score and a link to their own scorecard (grades/<student>.html).

One self-contained file: inline CSS and SVG, no script, nothing fetched; everything read from a
grade file is escaped. Rebuilt whenever the gradebook is (grading/gradebook.py, dblab grade).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from urllib.parse import quote

from provisioning.catalogue import step_sort_key
from provisioning.outcomes import BLOCKED, FAIL, NOT_GRADABLE, PASS

from . import grade_files

CLASS_PAGE = "class.html"
BINS = 10  # the histogram's bars: 0-9 %, 10-19 %, ..., 90-100 %
MOST_FAILED = 20  # checks listed; the rest are counted in one line

COLORS = {PASS: "#2e7d32", FAIL: "#c62828", BLOCKED: "#ef6c00", NOT_GRADABLE: "#9e9e9e"}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 64em; color: #222; padding: 0 1em; }
h1 { margin-bottom: .2em; }
.meta { color: #555; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1.2em; }
td, th { border-bottom: 1px solid #ddd; padding: .35em .5em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.num, th.num { text-align: right; white-space: nowrap; }
.bar { display: inline-block; height: .8em; background: #c62828; vertical-align: middle; margin-right: .4em; }
.hint { color: #333; }
.step { color: #555; font-size: .9em; }
.status { display: inline-block; min-width: 1.6em; padding: 0 .35em; border-radius: 3px; color: #fff; font-size: .8em; text-align: center; margin-right: 2px; }
.note { color: #666; font-size: .9em; }
code { font-size: .9em; }
"""


def check_function(check_id: str) -> str:
    """test_x[database-lab-private-a] -> test_x: a parametrized check's cases are one check."""
    return check_id.split("[", 1)[0]


def percent(grade: dict) -> float | None:
    """The score as a share of what could be graded; None when nothing could be."""
    max_score = grade.get("max_score") or 0
    return 100.0 * (grade.get("score") or 0) / max_score if max_score else None


@dataclass
class FailedCheck:
    step: str
    check: str  # the rubric's check id (the test function)
    title: str = ""  # the step's title
    hint: str | None = None
    students: set[str] = field(default_factory=set)  # who failed it
    graded: set[str] = field(default_factory=set)  # whose grade looked at it (pass, fail or blocked)


def failed_checks(grades: list[dict], rubric=None) -> list[FailedCheck]:
    """Every check at least one student failed, most-failed first (then in the lab's order).

    A student counts once per check, however many of its cases failed. Blocked checks are not
    failures (their prerequisite's hints say what to fix). The hint is the one in the grade
    files (what students were told), else the rubric's.
    """
    found: dict[tuple[str, str], FailedCheck] = {}
    for grade in grades:
        student = str(grade.get("student"))
        for step in grade.get("steps", ()):
            for check in step.get("checks", ()):
                key = (str(step.get("step")), check_function(str(check.get("id", ""))))
                entry = found.setdefault(key, FailedCheck(*key))
                entry.title = entry.title or str(step.get("title") or "")
                if check.get("status") in (PASS, FAIL, BLOCKED):
                    entry.graded.add(student)
                if check.get("status") == FAIL:
                    entry.students.add(student)
                    entry.hint = entry.hint or check.get("hint")
    failed = [entry for entry in found.values() if entry.students]
    for entry in failed:
        if not entry.hint and rubric is not None:
            rubric_check = rubric.check(entry.step, entry.check)
            entry.hint = rubric_check.hint if rubric_check else None
        if not entry.title and rubric is not None and entry.step in rubric.steps:
            entry.title = rubric.steps[entry.step].title
    return sorted(failed, key=lambda e: (-len(e.students), step_sort_key(e.step) if _is_step(e.step) else (999,), e.check))


def _is_step(step_id: str) -> bool:
    return all(part.isdigit() for part in step_id.split(".")) and bool(step_id)


def distribution(grades: list[dict], bins: int = BINS) -> tuple[list[int], int]:
    """Students per bin of score / max_score (the last bin holds 100 %), and how many had
    nothing gradable."""
    counts, ungradable = [0] * bins, 0
    for grade in grades:
        share = percent(grade)
        if share is None:
            ungradable += 1
            continue
        counts[min(bins - 1, max(0, int(share // (100 / bins))))] += 1
    return counts, ungradable


def bin_label(index: int, bins: int = BINS) -> str:
    width = 100 // bins
    low = index * width
    return f"{low}-{100 if index == bins - 1 else low + width - 1}%"


def histogram(counts: list[int], ungradable: int = 0) -> str:
    """Vertical bars, one per bin, the count above each; inline SVG, no script."""
    bar, gap, left, top, plot_height = 52, 8, 36, 24, 180
    bins = len(counts)
    width = left + bins * (bar + gap) + 20
    height = top + plot_height + 50
    highest = max(counts + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             "<title>score distribution: students per score band (score as a share of what could be graded)</title>"]
    for tick in sorted({0, highest // 2, highest}):
        y = top + plot_height - tick / highest * plot_height
        parts.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#e0e0e0"/>'
                     f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{tick}</text>')
    for index, count in enumerate(counts):
        x = left + index * (bar + gap) + gap / 2
        h = count / highest * plot_height
        y = top + plot_height - h
        # Red at the bottom of the scale, green at the top.
        color = "#c62828" if index < bins * 0.5 else "#ef6c00" if index < bins * 0.7 else "#2e7d32"
        label = bin_label(index, bins)
        parts.append(f'<g><title>{escape(label)}: {count} student(s)</title>'
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{color}"/>'
                     f'<text x="{x + bar / 2:.1f}" y="{y - 5:.1f}" text-anchor="middle">{count if count else ""}</text>'
                     f'<text x="{x + bar / 2:.1f}" y="{top + plot_height + 16}" text-anchor="middle" '
                     f'fill="#444">{escape(label)}</text></g>')
    parts.append(f'<line x1="{left - 4}" y1="{top + plot_height}" x2="{width - 10}" y2="{top + plot_height}" stroke="#999"/>')
    caption = "score as a share of what the grader could look at"
    if ungradable:
        caption += f"; {ungradable} student(s) with nothing gradable are not shown"
    parts.append(f'<text x="{left}" y="{top + plot_height + 38}" fill="#666">{escape(caption)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else escape(str(value or ""))


def _student_link(reports_dir: Path | None, student: str) -> str:
    page = grade_files.grade_path(reports_dir, student, ".html") if reports_dir is not None else None
    if reports_dir is not None and grade_files.valid_student(student) and page.exists():
        href = f"{grade_files.GRADES_DIR}/{quote(student)}.html"
        return f'<a href="{escape(href, quote=True)}">{escape(student)}</a>'
    return escape(student)


def _step_counts(grade: dict) -> str:
    counts = defaultdict(int)
    for step in grade.get("steps", ()):
        counts[step.get("status")] += 1
    return "".join(f'<span class="status" style="background:{color}" title="{escape(status.replace("_", " "))} steps">'
                   f"{counts[status]}</span>" for status, color in COLORS.items() if counts[status])


def _failed_section(failed: list[FailedCheck], students: int) -> str:
    if not failed:
        return "<p>No check failed for any student.</p>"
    rows = []
    for entry in failed[:MOST_FAILED]:
        graded = len(entry.graded) or students
        share = len(entry.students) / graded if graded else 0
        hint = escape(entry.hint) if entry.hint else '<span class="note">(no hint)</span>'
        rows.append(
            f'<tr><td class="num">{len(entry.students)}</td>'
            f'<td class="num"><span class="bar" style="width:{share * 5:.2f}em"></span>{share:.0%}</td>'
            f'<td><code>{escape(entry.check)}</code><br><span class="step">step {escape(entry.step)} '
            f'{escape(entry.title)}</span></td><td class="hint">{hint}</td></tr>')
    more = (f'<p class="note">{len(failed) - MOST_FAILED} more check(s) failed for fewer students; '
            "each student's scorecard lists them.</p>" if len(failed) > MOST_FAILED else "")
    return ('<table class="failed"><tr><th class="num">students</th><th class="num">of those graded</th>'
            f'<th>check and lab step</th><th>hint</th></tr>{"".join(rows)}</table>{more}')


def _steps_section(grades: list[dict]) -> str:
    """Each lab step: how many students it passed, failed, blocked or could not be graded for, and
    the points the class earned of those it could grade."""
    steps: dict[str, dict] = {}
    for grade in grades:
        for step in grade.get("steps", ()):
            entry = steps.setdefault(str(step.get("step")), {"title": step.get("title", ""), "points": 0.0,
                                                             "max": 0.0, **{status: 0 for status in COLORS}})
            if step.get("status") in COLORS:
                entry[step["status"]] += 1
            if isinstance(step.get("points"), (int, float)) and isinstance(step.get("max_points"), (int, float)):
                entry["points"] += step["points"]
                entry["max"] += step["max_points"]
    if not steps:
        return "<p>No step was graded.</p>"
    rows = []
    for step_id in sorted(steps, key=lambda s: [int(p) if p.isdigit() else p for p in s.split(".")]):
        entry = steps[step_id]
        counts = "".join(f'<td class="num" title="{escape(status.replace("_", " "))}">{entry[status]}</td>'
                         for status in COLORS)
        share = f"{entry['points'] / entry['max']:.0%}" if entry["max"] else "-"
        rows.append(f'<tr><td>{escape(step_id)} {escape(str(entry["title"]))}</td>{counts}'
                    f'<td class="num">{share}</td></tr>')
    heads = "".join(f'<th class="num">{escape(status.replace("_", " "))}</th>' for status in COLORS)
    return (f'<table class="steps"><tr><th>lab step</th>{heads}<th class="num">points earned</th></tr>'
            f'{"".join(rows)}</table>')


def _students_section(grades: list[dict], reports_dir: Path | None) -> str:
    rows = []
    for grade in sorted(grades, key=lambda g: (-(percent(g) if percent(g) is not None else -1), str(g.get("student")))):
        share = percent(grade)
        rows.append(
            f'<tr><td>{_student_link(reports_dir, str(grade.get("student")))}</td>'
            f'<td class="num">{_number(grade.get("score"))} / {_number(grade.get("max_score"))}</td>'
            f'<td class="num">{"-" if share is None else f"{share:.0f}%"}</td>'
            f'<td>{_step_counts(grade)}</td><td>{escape(str(grade.get("summary") or ""))}</td></tr>')
    return ('<table class="students"><tr><th>student</th><th class="num">score</th><th class="num">share</th>'
            f'<th>steps</th><th>summary</th></tr>{"".join(rows)}</table>')


def render(grades: list[dict], *, reports_dir: Path | None = None, rubric=None,
           unreadable: list[str] | None = None, title: str = "Hands-On Database Lab") -> str:
    """The class page for `grades` (grade dicts, as grading/scoring.py makes them)."""
    counts, ungradable = distribution(grades)
    shares = [share for share in map(percent, grades) if share is not None]
    stats = f"{len(grades)} student(s)"
    if shares:
        stats += (f"; median {statistics.median(shares):.0f}%, mean {statistics.fmean(shares):.0f}% "
                  "of what could be graded")
    versions = sorted({str(g.get("rubric_version")) for g in grades if g.get("rubric_version") is not None})
    if versions:
        stats += f"; rubric {', '.join(versions)}"
    problems = "".join(f"<li>{escape(entry)}</li>" for entry in unreadable or ())
    problems = f'<p class="note">Grade files left out:</p><ul class="note">{problems}</ul>' if problems else ""
    legend = " ".join(f'<span class="status" style="background:{color}">&nbsp;</span>{escape(status.replace("_", " "))}'
                      for status, color in COLORS.items())
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Class summary: {escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}: the class</h1><p class=\"meta\">{escape(stats)}</p>"
        f"<h2>Score distribution</h2>{histogram(counts, ungradable)}"
        f"<h2>Checks most students failed</h2>{_failed_section(failed_checks(grades, rubric), len(grades))}"
        f"<h2>Steps</h2>{_steps_section(grades)}"
        f'<h2>Students</h2><p class="note">steps: {legend}</p>{_students_section(grades, reports_dir)}'
        f"{problems}</body></html>\n"
    )


def _default_rubric():
    from .rubric import RubricError, load_rubric

    try:
        return load_rubric()
    except RubricError:
        return None  # hints then come from the grade files only


def write_class_page(reports_dir: Path, grades: list[dict] | None = None, unreadable: list[str] | None = None,
                     rubric=None) -> Path:
    """Write reports/class.html from reports/grades/*.json (or the `grades` already read, with
    the files that were not grades in `unreadable`); returns its path."""
    reports_dir = Path(reports_dir)
    if grades is None:
        grades, unreadable = grade_files.read_grades(reports_dir / grade_files.GRADES_DIR)
    page = render(grades, reports_dir=reports_dir, rubric=rubric if rubric is not None else _default_rubric(),
                  unreadable=unreadable)
    return grade_files.write_atomically(reports_dir / CLASS_PAGE, page)

"""Grade files and the class gradebook.

Each grade is reports/grades/<student>.json (the stable contract). The gradebook
reports/gradebook.csv is always rebuilt from those files, under a file lock, so graders
running in parallel never lose each other's rows and `dblab grade` can rebuild it afterwards.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
from pathlib import Path

from filelock import FileLock

from provisioning.catalogue import step_sort_key
from provisioning.outcomes import NOT_GRADABLE

GRADES_DIR = "grades"
GRADEBOOK = "gradebook.csv"
FIXED_COLUMNS = ("student", "account", "score", "max_score")
STUDENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
LOCK_TIMEOUT = 120.0  # seconds: another grader holds the lock only while it rewrites one small file


def valid_student(name: str) -> bool:
    """Names the report files, so no path separators and no leading dot."""
    return bool(STUDENT_NAME.fullmatch(name))


def grade_path(reports_dir: Path, student: str, suffix: str = ".json") -> Path:
    return Path(reports_dir) / GRADES_DIR / f"{student}{suffix}"


def write_atomically(path: Path, text: str) -> Path:
    """Readers (a parallel gradebook rebuild) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its 0600 would make a grade unreadable to the rest of the class's tools.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_grade(reports_dir: Path, grade: dict) -> Path:
    return write_atomically(grade_path(reports_dir, grade["student"]), json.dumps(grade, indent=2) + "\n")


def read_grades(grades_dir: Path) -> tuple[list[dict], list[str]]:
    """Every grade file, by student; and the files that are not grades (named, not fatal)."""
    grades, unreadable = [], []
    for path in sorted(Path(grades_dir).glob("*.json")):
        try:
            grade = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(grade, dict) or not isinstance(grade.get("steps"), list) or "student" not in grade:
                raise ValueError("not a grade")
        except (OSError, ValueError) as exc:
            unreadable.append(f"{path.name}: {exc}")
            continue
        grades.append(grade)
    return sorted(grades, key=lambda g: str(g["student"])), unreadable


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def gradebook_csv(grades: list[dict]) -> str:
    """One row per student: student, account, score, max_score, then each step's points.

    A step the grader could not look at (not_gradable) has an empty cell, not 0.
    """
    steps = sorted({s["step"] for g in grades for s in g["steps"]}, key=step_sort_key)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*FIXED_COLUMNS, *steps])
    for grade in grades:
        points = {s["step"]: (None if s["status"] == NOT_GRADABLE else s["points"]) for s in grade["steps"]}
        writer.writerow([_cell(grade.get(column)) for column in FIXED_COLUMNS] + [_cell(points.get(step)) for step in steps])
    return out.getvalue()


def build_gradebook(reports_dir: Path, include=None) -> tuple[Path, list[str]]:
    """Rebuild reports/gradebook.csv, and the class page reports/class.html, from
    reports/grades/*.json, under the gradebook's lock. `include(student)` keeps some students'
    rows only (a shard's: dblab/shards.py)."""
    from .class_page import write_class_page  # it reads this module's grades

    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    csv_path = reports_dir / GRADEBOOK
    with FileLock(str(csv_path) + ".lock", timeout=LOCK_TIMEOUT):
        grades, unreadable = read_grades(reports_dir / GRADES_DIR)
        if include is not None:
            grades = [grade for grade in grades if include(str(grade["student"]))]
        write_atomically(csv_path, gradebook_csv(grades))
        write_class_page(reports_dir, grades, unreadable)
    return csv_path, unreadable

"""The class gradebook.

Each grade is reports/grades/<student>.json (the stable contract; grade_files.py reads and
writes them, and this module names its functions too, as every caller knows them). The gradebook
reports/gradebook.csv is always rebuilt from those files, under a file lock, so graders
running in parallel never lose each other's rows and `dblab grade` can rebuild it afterwards.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from filelock import FileLock

from provisioning.catalogue import step_sort_key
from provisioning.outcomes import NOT_GRADABLE

from .grade_files import GRADES_DIR, grade_path, read_grades, valid_student, write_atomically, write_grade

__all__ = ["GRADES_DIR", "FIXED_COLUMNS", "build_gradebook", "gradebook_csv", "grade_path", "read_grades",
           "valid_student", "write_atomically", "write_grade"]

GRADEBOOK = "gradebook.csv"
FIXED_COLUMNS = ("student", "account", "score", "max_score")
LOCK_TIMEOUT = 120.0  # seconds: another grader holds the lock only while it rewrites one small file


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

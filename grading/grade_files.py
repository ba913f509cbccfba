"""Grade files: where each student's grade lives (reports/grades/<student>.json), and reading
and writing them so that parallel graders never see half a file. The gradebook (gradebook.py)
and the class page (class_page.py) are both built from these files.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

GRADES_DIR = "grades"
STUDENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")


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

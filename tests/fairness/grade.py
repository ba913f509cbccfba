"""Grading a built account as an instructor does: `pytest -m aws --lab-grade` in a subprocess,
through AWS_ENDPOINT_URL, with nothing from this process's environment but what the case gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..conftest import REPO_ROOT
from .accounts import scrubbed_environment

# Written without a data plane (no --lab-mysql-url/--lab-redis-url): not gradable, left out of max_score.
DATA_PLANE_STEPS = ("2.3", "3.1", "3.2", "5.3")


@dataclass
class Graded:
    student: str
    grade: dict | None  # None: the run wrote no grade
    result: subprocess.CompletedProcess

    @property
    def steps(self) -> dict[str, dict]:
        return {s["step"]: s for s in (self.grade or {}).get("steps", [])}

    @property
    def output(self) -> str:
        return (self.result.stdout + self.result.stderr).strip()

    def explain(self) -> str:
        """What a failed expectation shows: the exit status and the tail of the output."""
        return f"exit {self.result.returncode}; output tail:\n" + "\n".join(self.output.splitlines()[-15:])


def run_grade(student: str, reports: Path, *args: str, endpoint_url: str | None, keys: dict | None = None,
              env: dict | None = None, pythonpath: tuple[Path, ...] = (), quiet: bool = True,
              timeout: float = 300) -> Graded:
    """`pytest -m aws --lab-grade --lab-student=STUDENT` in the repository, as the account
    `keys` acts in (none: no credentials at all). `quiet=False`: the instructor's command as
    typed (no -q, the default wait), for a case about what it prints."""
    environ = scrubbed_environment()
    # No instructor profile or instance role may stand in for the case's credentials.
    environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true",
                   PYTHONPATH=os.pathsep.join(map(str, (REPO_ROOT, *pythonpath))))
    if endpoint_url:
        environ["AWS_ENDPOINT_URL"] = endpoint_url
    environ.update(keys or {})
    environ.update(env or {})
    # Options that take a path are given as --opt=PATH (pytest would take a bare path for a test path).
    command = [sys.executable, "-m", "pytest", "-m", "aws", "--lab-grade", f"--lab-student={student}",
               "-p", "no:cacheprovider", f"--lab-reports-dir={reports}", *(("-q", "--lab-timeout=5") if quiet else ()),
               *args]
    result = subprocess.run(command, cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=timeout)
    grade_file = reports / "grades" / f"{student}.json"
    return Graded(student, json.loads(grade_file.read_text()) if grade_file.is_file() else None, result)


def step_line(step: dict) -> str:
    """One step as the report shows it: status, points, and every check that did not pass."""
    head = f"{step['step']} {step['status']} {step['points']:g}/{step['rubric_points']:g}"
    checks = [f"{c['id']} {c['status']}: {c['message']}" for c in step.get("checks", []) if c["status"] != "pass"]
    return head + "".join(f"\n    {line}" for line in checks)


def not_full(graded: Graded, steps) -> list[str]:
    """Each of `steps` that is not `pass` with every point of the rubric, as step_line shows it."""
    assert graded.grade is not None, f"{graded.student}: no grade written; {graded.explain()}"
    return [step_line(graded.steps[s]) for s in steps
            if (graded.steps[s]["status"], graded.steps[s]["points"]) != ("pass", graded.steps[s]["rubric_points"])]


def changed(graded: Graded, reference: Graded, steps) -> list[str]:
    """Each of `steps` whose status or points differ from `reference`'s grade of the same account."""
    assert graded.grade is not None, f"{graded.student}: no grade written; {graded.explain()}"
    out = []
    for s in steps:
        ours, theirs = graded.steps[s], reference.steps[s]
        if (ours["status"], ours["points"], ours["max_points"]) != (theirs["status"], theirs["points"], theirs["max_points"]):
            out.append(f"{step_line(ours)}\n    (graded {theirs['status']} {theirs['points']:g}/{theirs['max_points']:g} "
                       f"when the grader could see: {reference.student})")
    return out


def blamed(graded: Graded) -> list[str]:
    """Every check the grade holds against the student: failed, or blocked by a step that failed."""
    assert graded.grade is not None, f"{graded.student}: no grade written; {graded.explain()}"
    return [f"{s['step']} {c['id']} {c['status']}: {c['message']}"
            for s in graded.grade["steps"] for c in s.get("checks", []) if c["status"] in ("fail", "blocked")]

"""One student's grading for `dblab grade`: their credentials, the data-plane tunnel when the
roster has a bastion key (SSH) or with --tunnel ssm (SSM port forwarding, for every student),
then one `pytest -m aws --lab-grade --lab-student NAME` subprocess with that student's
credentials in its environment only. Whatever keeps the checks from
running (credentials, a grading run that wrote no grade, a surprise in the grader) still gives
the student a grade file, every step not_gradable with the reason, so the gradebook has a row
for everyone and the rest of the class goes on.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from provisioning import settings

from .grade_dataplane import open_data_plane
from .student_access import NotGradable, check_access, error_text, student_access

REPO_ROOT = Path(__file__).resolve().parent.parent
# Never handed from the instructor's shell to a student's grading run: the instructor's AWS
# credentials and endpoint (each student's own go in instead), and every lab setting's variable
# (a stray LAB_MYSQL_URL would grade the whole class against one database): what a grading run
# needs of them is resolved by dblab grade and passed on its command line (grade_command).
AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
           "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "LOCALSTACK_HOST")
SCRUBBED_ENV = (*AWS_ENV, *settings.ENV_NAMES, "PYTEST_ADDOPTS")


class Interrupted(Exception):
    """Ctrl-C: this student keeps no grade file, so the next run grades them."""


@dataclass
class Outcome:
    student: str
    line: str
    graded: bool  # a grade from the checks (not a not_gradable row)
    seconds: float


# --- not gradable ----------------------------------------------------------------------------

def not_gradable_grade(entry, reason: str, endpoint_url: str | None, rubric_path=None) -> dict:
    """A grade in the plugin's contract (reports/grades/NAME.json) with every step not_gradable."""
    from grading import scoring
    from grading.rubric import load_rubric

    rubric = load_rubric(rubric_path)
    outcomes = [scoring.CheckOutcome(check, check, step_id, scoring.NOT_GRADABLE, reason)
                for step_id, step in rubric.steps.items() for check in step.checks]
    context = scoring.GradeContext(
        student=entry.student, account=entry.account_hint, region=entry.region,
        target="emulator" if endpoint_url else "aws", endpoint_url=endpoint_url, lab_resources_found=None,
        graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    grade = scoring.grade(rubric, outcomes, context)
    grade["summary"] = f"not gradable: {reason}"
    grade["grader_notes"] = [reason]
    grade["rubric_file"] = str(rubric.path)
    return grade


def _write_not_gradable(entry, reason: str, args, reports: Path) -> None:
    from grading import gradebook, scorecard

    grade = not_gradable_grade(entry, reason, args.endpoint, args.rubric)
    gradebook.write_grade(reports, grade)
    gradebook.write_atomically(gradebook.grade_path(reports, entry.student, ".html"), scorecard.render(grade))


def _no_grade_reason(student: str, output: str, returncode: int) -> str:
    match = re.search(rf"^{re.escape(student)}: no grade written: (.+)$", output, re.MULTILINE)
    if match:
        return match.group(1).strip()
    # A run stopped before the first check (credentials that expired since check_access) says why
    # in pytest's one usage-error line.
    match = re.search(r"^ERROR: (--lab-grade: .+)$", output, re.MULTILINE)
    if match:
        return match.group(1).strip()
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return f"the grading run ended with status {returncode}" + (f": {lines[-1].strip()}" if lines else "")


# --- the grading run -------------------------------------------------------------------------

def grade_command(entry, args, reports: Path) -> list[str]:
    # The rubric goes last: it is the one given in pytest_args (or LAB_RUBRIC), resolved against
    # dblab grade's directory rather than the grading run's (the repository).
    rubric = [f"--lab-rubric={args.rubric}"] if args.rubric else []
    return [
        sys.executable, "-m", "pytest", "-m", "aws", "--lab-grade", f"--lab-student={entry.student}",
        f"--lab-region={entry.region}", f"--lab-reports-dir={reports}", f"--lab-timeout={args.timeout:g}",
        f"--junitxml={reports / 'junit' / (entry.student + '.xml')}", "-q", "-p", "no:cacheprovider",
        # The class's Allure results, one folder for all (never cleaned here: students run in parallel).
        f"--alluredir={reports / 'allure-results'}",
        *args.pytest_args, *rubric,
    ]


class Runner:
    """Runs the students' subprocesses; stops every one of them on Ctrl-C."""

    def __init__(self, args, reports: Path):
        self.args = args
        self.reports = reports
        self.running: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.stopping = False

    def grade(self, entry) -> Outcome:
        start = time.monotonic()
        notes: list[str] = []
        tunnel = None
        try:
            access = student_access(entry, self.args.endpoint)
            check_access(access)
            env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
            # One pytest per student: without byte-code caching each would compile (and assertion-
            # rewrite) every module again, about half of its start-up time.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env.update(access.env)
            via = getattr(self.args, "tunnel", "ssh")
            if via == "ssm" or entry.bastion_key is not None:
                tunnel, tunnel_notes, data_env = open_data_plane(
                    access, self.reports, timeout=self.args.timeout,
                    mysql_password=os.environ.get(self.args.mysql_password_env) or None, via=via, cli_env=env)
                notes += tunnel_notes
                env.update(data_env)
            return self._run(entry, env, notes, start)
        except Interrupted:
            return Outcome(entry.student, "interrupted: not graded", False, time.monotonic() - start)
        except NotGradable as exc:
            _write_not_gradable(entry, str(exc), self.args, self.reports)
            return Outcome(entry.student, f"not gradable: {exc}", False, time.monotonic() - start)
        except Exception as exc:  # one student's surprise must not stop the class
            reason = f"grader error: {error_text(exc)}"
            _write_not_gradable(entry, reason, self.args, self.reports)
            return Outcome(entry.student, f"not gradable: {reason}", False, time.monotonic() - start)
        finally:
            if tunnel is not None:
                tunnel.close()

    def _run(self, entry, env: dict, notes: list[str], start: float) -> Outcome:
        from grading import gradebook

        log_path = self.reports / "logs" / f"{entry.student}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        grade_file = gradebook.grade_path(self.reports, entry.student)
        before = grade_file.stat().st_mtime_ns if grade_file.exists() else None
        with self.lock:
            if self.stopping:
                raise Interrupted()
            process = subprocess.Popen(grade_command(entry, self.args, self.reports), cwd=REPO_ROOT, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.running.add(process)
        try:
            output, _ = process.communicate(timeout=self.args.student_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            output += f"\ndblab grade: stopped after {self.args.student_timeout:g}s (--student-timeout)"
        finally:
            with self.lock:
                self.running.discard(process)
        log_path.write_text(output)
        if self.stopping:
            raise Interrupted()
        seconds = time.monotonic() - start
        written = grade_file.exists() and grade_file.stat().st_mtime_ns != before
        if written:
            grade = json.loads(grade_file.read_text())
            extra = "".join(f"; {note}" for note in notes + list(grade.get("grader_notes") or ()))
            return Outcome(entry.student, f"{grade['summary']}{extra}", True, seconds)
        reason = _no_grade_reason(entry.student, output, process.returncode)
        _write_not_gradable(entry, reason, self.args, self.reports)
        return Outcome(entry.student, f"not gradable: {reason} (log: {log_path})", False, seconds)

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            for process in self.running:
                process.terminate()

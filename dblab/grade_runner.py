"""One student's grading for `dblab grade`: their credentials, the data-plane tunnel when the
roster has a bastion key (SSH) or with --tunnel ssm (SSM port forwarding, for every student),
then one `pytest -m aws --lab-grade --lab-student NAME` run with that student's credentials in
its environment only: a child forked by the job's warm worker (grade_worker.py), which started
once, so a student costs no interpreter start, imports or model loading. Whatever keeps the checks from
running (credentials, a grading run that wrote no grade, a surprise in the grader) still gives
the student a grade file, every step not_gradable with the reason, so the gradebook has a row
for everyone and the rest of the class goes on.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from provisioning import settings

from .grade_dataplane import open_data_plane
from .grade_worker import PoolStopped, WorkerLost, WorkerPool, signal_name
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
    from grading import evidence, gradebook, scorecard

    grade = not_gradable_grade(entry, reason, args.endpoint, args.rubric)
    # Its evidence: nothing could be asked, and why (a regrade gives the same grade, any rubric).
    folder = evidence.evidence_dir(reports, entry.student)
    digest = evidence.write_not_gradable(folder, {
        "student": entry.student, "account": entry.account_hint, "region": entry.region,
        "endpoint_url": args.endpoint, "timeout": args.timeout, "graded_at": grade["graded_at"]}, reason)
    grade["evidence"] = evidence.grade_link(f"evidence/{entry.student}", digest)
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

def grade_args(entry, args, reports: Path) -> list[str]:
    """pytest's arguments for one student's grading run."""
    # The rubric goes last: it is the one given in pytest_args (or LAB_RUBRIC), resolved against
    # dblab grade's directory rather than the grading run's (the repository).
    rubric = [f"--lab-rubric={args.rubric}"] if args.rubric else []
    return [
        "-m", "aws", "--lab-grade", f"--lab-student={entry.student}",
        f"--lab-region={entry.region}", f"--lab-reports-dir={reports}", f"--lab-timeout={args.timeout:g}",
        f"--junitxml={reports / 'junit' / (entry.student + '.xml')}", "-q", "-p", "no:cacheprovider",
        # The class's Allure results, one folder for all (never cleaned here: students run in parallel).
        f"--alluredir={reports / 'allure-results'}",
        *args.pytest_args, *rubric,
    ]


def grade_command(entry, args, reports: Path) -> list[str]:
    """The same run by hand: what a worker's child runs, as a command line."""
    return [sys.executable, "-m", "pytest", *grade_args(entry, args, reports)]


def warm_up_args(reports: Path) -> list[str]:
    """What a worker collects before grading anyone: a grading run's plugins and checks, without a
    student; --collect-only runs nothing and calls no account. (Options after `--` are left to each
    student's run: a plugin given there is imported by the runs, not by the worker.)"""
    return ["-m", "aws", "--collect-only", "-q", "-p", "no:cacheprovider", f"--junitxml={os.devnull}",
            f"--alluredir={reports / 'allure-results'}"]


def default_jobs() -> int:
    """Two jobs a core, at most 16: a grading run waits on AWS (or the emulator) about as long as
    it computes, and each job holds a warm worker (about 110 MB)."""
    return min(2 * (os.cpu_count() or 1), 16)


def instructor_env() -> dict:
    """dblab grade's environment without anything a grading run must not inherit (SCRUBBED_ENV)."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    # Without byte-code caching each worker would compile (and assertion-rewrite) every module again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class Runner:
    """Hands each student to the warm worker of the job's thread (grade_worker.WorkerPool); stops
    every worker and their children on Ctrl-C."""

    def __init__(self, args, reports: Path):
        self.args = args
        self.reports = reports
        self.pool = WorkerPool(warm_up_args(reports), instructor_env(), REPO_ROOT)

    @property
    def stopping(self) -> bool:
        return self.pool.stopping

    def grade(self, entry) -> Outcome:
        start = time.monotonic()
        notes: list[str] = []
        tunnel = None
        try:
            access = student_access(entry, self.args.endpoint)
            check_access(access)
            env = instructor_env()
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
        job = {"student": entry.student, "args": grade_args(entry, self.args, self.reports), "env": env,
               "log": str(log_path), "cwd": str(REPO_ROOT), "timeout": self.args.student_timeout}
        crash = returncode = None
        try:
            reply = self.pool.grade(job)
            returncode = -reply["signal"] if "signal" in reply else reply.get("status")
            if "error" in reply:
                crash = f"the grading worker could not start the run ({reply['error']})"
            elif reply.get("timed_out"):
                _append(log_path, f"dblab grade: stopped after {self.args.student_timeout:g}s (--student-timeout)")
            elif "signal" in reply:
                crash = f"the grading run crashed ({signal_name(reply['signal'])})"
        except WorkerLost as exc:
            crash = str(exc)
        except PoolStopped:
            raise Interrupted() from None
        if self.stopping:
            raise Interrupted()
        if crash:
            _append(log_path, f"dblab grade: {crash}")
        seconds = time.monotonic() - start
        written = grade_file.exists() and grade_file.stat().st_mtime_ns != before
        if written:
            grade = json.loads(grade_file.read_text())
            extra = "".join(f"; {note}" for note in notes + list(grade.get("grader_notes") or ()))
            return Outcome(entry.student, f"{grade['summary']}{extra}", True, seconds)
        output = log_path.read_text(errors="replace") if log_path.exists() else ""
        reason = crash or _no_grade_reason(entry.student, output, returncode)
        _write_not_gradable(entry, reason, self.args, self.reports)
        return Outcome(entry.student, f"not gradable: {reason} (log: {log_path})", False, seconds)

    def stop(self) -> None:
        self.pool.stop()

    def close(self) -> None:
        """The class is graded: the workers exit."""
        self.pool.close()


def _append(log_path: Path, line: str) -> None:
    with open(log_path, "a") as log:
        log.write(f"\n{line}\n")

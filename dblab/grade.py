"""`dblab grade`: grade a whole class from a roster, in parallel.

One `pytest -m aws --lab-grade --lab-student NAME` subprocess per student, with that
student's credentials in its environment only (AWS_PROFILE for a profile; for a role ARN the
temporary credentials of sts:AssumeRole, never printed). Before it, one call checks that the
credentials work (the permission preflight, grading/preflight.py, belongs to the grading run
itself); with a bastion key an SSH tunnel makes RDS and ElastiCache reachable
(provisioning/tunnel.py). A student whose
credentials fail gets a grade file anyway, every step not_gradable with the reason, and the
others go on. Students already graded are skipped unless --force. At the end the gradebook
is rebuilt from every grade file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from provisioning import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
# Never handed from the instructor's shell to a student's grading run: the instructor's AWS
# credentials and endpoint (each student's own go in instead), and every lab setting's variable
# (a stray LAB_MYSQL_URL would grade the whole class against one database): what a grading run
# needs of them is resolved here and passed on its command line (grade_command).
AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
           "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "LOCALSTACK_HOST")
SCRUBBED_ENV = (*AWS_ENV, *settings.ENV_NAMES, "PYTEST_ADDOPTS")
GRADER_SESSION_NAME = "dblab-grader"
# The lab settings dblab grade takes, as it spells them (the table in provisioning/settings.py).
FLAGS = {"endpoint-url": "--endpoint-url", "reports-dir": "--reports", "timeout": "--timeout"}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("grade", help="grade every student of a roster (CSV), in parallel")
    parser.add_argument("--roster", required=True, help="CSV: student,credentials,region[,bastion_key] (see grading/roster.py)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help=f"students graded at once (default: the cores, {os.cpu_count() or 1})")
    parser.add_argument("--force", action="store_true", help="grade students again who already have a grade file")
    settings.add_arguments(parser, FLAGS, {
        "endpoint-url": "AWS_ENDPOINT_URL or LOCALSTACK_HOST, else real AWS",
        "reports-dir": "reports in the repository",
        "timeout": f"{settings.timeout_default('aws', grade=True):g}; grading only waits for reads to converge"})
    parser.add_argument("--student-timeout", type=float, default=1800.0,
                        help="seconds one student's grading may take in all (default: 1800)")
    parser.add_argument("--mysql-password-env", default="LAB_MYSQL_PASSWORD",
                        help="environment variable holding the RDS master password, for tunnelled MySQL checks "
                             "(default: LAB_MYSQL_PASSWORD)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="after --: more pytest options for every student (e.g. -- --lab-rubric=FILE)")
    parser.set_defaults(run=run)


# --- credentials -----------------------------------------------------------------------------

class NotGradable(Exception):
    """The grader cannot look at this student's account; the message says why, in one line."""


class Interrupted(Exception):
    """Ctrl-C: this student keeps no grade file, so the next run grades them."""


@dataclass
class StudentAccess:
    """What one student's grading runs with: environment for the subprocess, clients in-process."""

    entry: object  # grading.roster.RosterEntry
    clients: object = field(repr=False)  # provisioning.aws.AwsClients, read-only, acting as the student
    env: dict[str, str] = field(default_factory=dict, repr=False)  # credentials only: never printed

    def __call__(self, service: str):
        """A read-only boto3 client acting as the student (preflight, tunnel discovery)."""
        return self.clients(service)


# The instructor's own clients (sts:AssumeRole), one per endpoint and region: the students'
# clients share one session (provisioning/aws.py), these are few.
_INSTRUCTOR: dict[tuple, object] = {}
_INSTRUCTOR_LOCK = threading.Lock()


def _instructor(endpoint_url: str | None, region: str):
    from provisioning.aws import AwsClients, AwsTarget

    with _INSTRUCTOR_LOCK:
        key = (endpoint_url, region)
        if key not in _INSTRUCTOR:
            # An emulator takes any key (the fake ones unless the environment has its own).
            _INSTRUCTOR[key] = AwsClients(AwsTarget(region=region, endpoint_url=endpoint_url), read_only=True)
        return _INSTRUCTOR[key]


def _error_text(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def student_access(entry, endpoint_url: str | None) -> StudentAccess:
    """Assume the student's role (or load the profile); NotGradable when that fails."""
    from botocore.exceptions import BotoCoreError, ClientError

    from provisioning.aws import AwsClients, AwsTarget

    env = {"AWS_ENDPOINT_URL": endpoint_url} if endpoint_url else {}
    if entry.profile:
        clients = AwsClients(AwsTarget(region=entry.region, endpoint_url=endpoint_url, profile=entry.profile),
                             read_only=True)
        try:
            clients.session()  # a profile that does not exist fails here
        except BotoCoreError as exc:
            raise NotGradable(f"profile {entry.profile}: {exc}") from None
        return StudentAccess(entry, clients, {**env, "AWS_PROFILE": entry.profile})
    session_name = re.sub(r"[^\w+=,.@-]", "-", f"{GRADER_SESSION_NAME}-{entry.student}")[:64]
    try:
        sts = _instructor(endpoint_url, entry.region)("sts")
        credentials = sts.assume_role(RoleArn=entry.role_arn, RoleSessionName=session_name)["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        raise NotGradable(f"could not assume {entry.role_arn}: {_error_text(exc)}") from None
    keys = {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}
    clients = AwsClients(AwsTarget(region=entry.region, endpoint_url=endpoint_url), read_only=True, credentials=keys)
    env.update(AWS_ACCESS_KEY_ID=credentials["AccessKeyId"], AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
               AWS_SESSION_TOKEN=credentials["SessionToken"])
    return StudentAccess(entry, clients, env)


# --- the data plane --------------------------------------------------------------------------

def tunnel_env(tunnel, mysql_password: str | None) -> tuple[dict[str, str], list[str]]:
    """The --lab-*-url options' variables for the forwarded ports (pairs only: the checks need
    primary and replica). The MySQL URLs hold the password: the environment only, never printed."""
    from provisioning import naming
    from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA, format_mysql_url, format_redis_url

    plane = tunnel.dataplane(mysql_password=mysql_password)
    env, notes = {}, []
    variable = {name: settings.OPTION[name].env for name in
                ("mysql-url", "mysql-replica-url", "redis-url", "redis-replica-url")}
    primary, replica = plane.mysql.get(naming.DB_INSTANCE), plane.mysql.get(naming.DB_REPLICA)
    if primary and replica:
        env[variable["mysql-url"]] = format_mysql_url(primary)
        env[variable["mysql-replica-url"]] = format_mysql_url(replica)
    elif mysql_password is None:
        notes.append("MySQL not graded: set the master password in the variable --mysql-password-env names")
    else:
        notes.append("MySQL not graded: the primary and its replica both need an endpoint")
    redis_primary, redis_replica = plane.redis.get(REDIS_PRIMARY), plane.redis.get(REDIS_REPLICA)
    if redis_primary and redis_replica:
        env[variable["redis-url"]] = format_redis_url(redis_primary)
        env[variable["redis-replica-url"]] = format_redis_url(redis_replica)
    else:
        notes.append("Redis not graded: the replication group has no primary and reader endpoint")
    return env, notes


# --- one student -----------------------------------------------------------------------------

@dataclass
class Outcome:
    student: str
    line: str
    graded: bool  # a grade from the checks (not a not_gradable row)
    seconds: float


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


def grading_rubric(pytest_args: list[str], environ=os.environ) -> Path | None:
    """The rubric every student is graded with, graded or not gradable: --lab-rubric in the pytest
    options after --, else LAB_RUBRIC; relative to where dblab grade runs."""
    option = settings.OPTION["rubric"]
    value, _ = settings.lookup(option, settings.given_in(pytest_args, option), environ)
    return Path(value).resolve() if value else None


def grade_command(entry, args, reports: Path) -> list[str]:
    # The rubric goes last: it is the one given in pytest_args (or LAB_RUBRIC), resolved against
    # dblab grade's directory rather than the grading run's (the repository).
    rubric = [f"--lab-rubric={args.rubric}"] if args.rubric else []
    return [
        sys.executable, "-m", "pytest", "-m", "aws", "--lab-grade", f"--lab-student={entry.student}",
        f"--lab-region={entry.region}", f"--lab-reports-dir={reports}", f"--lab-timeout={args.timeout:g}",
        f"--junitxml={reports / 'junit' / (entry.student + '.xml')}", "-q", "-p", "no:cacheprovider",
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
            self._check_credentials(access)
            env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
            # One pytest per student: without byte-code caching each would compile (and assertion-
            # rewrite) every module again, about half of its start-up time.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env.update(access.env)
            if entry.bastion_key is not None:
                tunnel, tunnel_notes, data_env = self._tunnel(entry, access)
                notes += tunnel_notes
                env.update(data_env)
            return self._run(entry, env, notes, start)
        except Interrupted:
            return Outcome(entry.student, "interrupted: not graded", False, time.monotonic() - start)
        except NotGradable as exc:
            _write_not_gradable(entry, str(exc), self.args, self.reports)
            return Outcome(entry.student, f"not gradable: {exc}", False, time.monotonic() - start)
        except Exception as exc:  # one student's surprise must not stop the class
            reason = f"grader error: {_error_text(exc)}"
            _write_not_gradable(entry, reason, self.args, self.reports)
            return Outcome(entry.student, f"not gradable: {reason}", False, time.monotonic() - start)
        finally:
            if tunnel is not None:
                tunnel.close()

    def _check_credentials(self, access) -> None:
        # One call here; the permission preflight (grading/preflight.py) runs inside the grading
        # run, where it turns a denied action into not_gradable for the steps that need it.
        from grading.preflight import CredentialsRejected, check_credentials

        try:
            check_credentials(access)
        except CredentialsRejected as exc:
            raise NotGradable(f"{access.entry.credentials_label}: credentials rejected ({exc})") from None

    def _tunnel(self, entry, access):
        from botocore.exceptions import BotoCoreError, ClientError

        from provisioning.tunnel import TunnelError, open_tunnel

        password = os.environ.get(self.args.mysql_password_env) or None
        (self.reports / "known_hosts").mkdir(parents=True, exist_ok=True)
        try:
            tunnel = open_tunnel(access, entry.bastion_key, timeout=min(self.args.timeout, 60.0),
                                 known_hosts=self.reports / "known_hosts" / entry.student)
        except (TunnelError, ClientError, BotoCoreError) as exc:
            why = str(exc) if isinstance(exc, TunnelError) else _error_text(exc)
            return None, [f"data plane not reachable: {why}"], {}
        data_env, notes = tunnel_env(tunnel, password)
        return tunnel, notes, data_env

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


def _no_grade_reason(student: str, output: str, returncode: int) -> str:
    match = re.search(rf"^{re.escape(student)}: no grade written: (.+)$", output, re.MULTILINE)
    if match:
        return match.group(1).strip()
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return f"the grading run ended with status {returncode}" + (f": {lines[-1].strip()}" if lines else "")


# --- the class -------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    from grading.gradebook import build_gradebook, grade_path
    from grading.roster import RosterError, load_roster
    from grading.rubric import RubricError, load_rubric
    from provisioning.aws import EndpointUnreachable, check_reachable

    started = time.monotonic()
    try:
        entries = load_roster(args.roster)
    except RosterError as exc:
        print(f"dblab grade: {exc}", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("dblab grade: --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.pytest_args[:1] == ["--"]:
        args.pytest_args = args.pytest_args[1:]
    try:
        raw = settings.from_arguments(args, FLAGS)
        args.endpoint = settings.resolve_endpoint(raw)
        args.timeout = settings.resolve_timeout(raw, target="aws", grade=True)
        reports = settings.resolve_reports_dir(raw, invocation_dir=Path.cwd(), rootdir=REPO_ROOT)
        args.rubric = grading_rubric(args.pytest_args)
        load_rubric(args.rubric)  # a bad rubric is one line here, not a failed run per student
    except (settings.SettingsError, RubricError) as exc:
        print(f"dblab grade: {exc}", file=sys.stderr)
        return 2
    if args.endpoint:
        try:
            check_reachable(args.endpoint)
        except EndpointUnreachable as exc:
            print(f"dblab grade: {exc}; check --endpoint-url or AWS_ENDPOINT_URL", file=sys.stderr)
            return 2
    to_grade = []
    for entry in entries:
        existing = grade_path(reports, entry.student)
        if existing.exists() and not args.force:
            print(f"{entry.student}: already graded ({existing}); --force grades again", flush=True)
        else:
            to_grade.append(entry)

    runner = Runner(args, reports)
    outcomes: list[Outcome] = []
    pool = ThreadPoolExecutor(max_workers=args.jobs, thread_name_prefix="grade")
    try:
        futures = [pool.submit(runner.grade, entry) for entry in to_grade]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            print(f"{outcome.student}: {outcome.line} ({outcome.seconds:.1f}s)", flush=True)
    except KeyboardInterrupt:
        runner.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)

    csv_path, unreadable = build_gradebook(reports)
    for entry in unreadable:
        print(f"gradebook: skipped {entry}")
    not_gradable = sum(1 for o in outcomes if not o.graded)
    print(f"graded {len(outcomes)} student(s) in {time.monotonic() - started:.1f}s with {args.jobs} job(s)"
          f" ({not_gradable} not gradable, {len(entries) - len(to_grade)} already graded); gradebook: {csv_path}")
    return 1 if not_gradable else 0

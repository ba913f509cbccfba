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
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent
# Never handed from the instructor's shell to a student's grading run.
SCRUBBED_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "LOCALSTACK_HOST",
                "LAB_MYSQL_URL", "LAB_MYSQL_REPLICA_URL", "LAB_REDIS_URL", "LAB_REDIS_REPLICA_URL",
                "LAB_STUDENT", "LAB_REGION", "LAB_TARGET", "PYTEST_ADDOPTS")
GRADER_SESSION_NAME = "dblab-grader"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("grade", help="grade every student of a roster (CSV), in parallel")
    parser.add_argument("--roster", required=True, help="CSV: student,credentials,region[,bastion_key] (see grading/roster.py)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help=f"students graded at once (default: the cores, {os.cpu_count() or 1})")
    parser.add_argument("--force", action="store_true", help="grade students again who already have a grade file")
    parser.add_argument("--endpoint-url", default=None,
                        help="an emulator endpoint (default: AWS_ENDPOINT_URL or LOCALSTACK_HOST, else real AWS)")
    parser.add_argument("--reports", default="reports", help="where grades/ and gradebook.csv go (default: reports)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds a check may wait for a read to converge (default: 30; grading only reads)")
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


# One boto3 session for every role-based student: it loads each service model once (a fresh
# session per student costs ~0.2 s of CPU); the credentials go to each client. A session is
# not thread-safe, so clients are made under a lock (the clients themselves are).
_SHARED: dict[str, object] = {}
_SHARED_LOCK = threading.Lock()


def _client(service: str, *, session=None, **kwargs):
    import boto3

    with _SHARED_LOCK:
        if session is None:
            session = _SHARED.setdefault("session", boto3.Session())
        return session.client(service, **kwargs)


@dataclass
class StudentAccess:
    """What one student's grading runs with: environment for the subprocess, clients in-process."""

    entry: object  # grading.roster.RosterEntry
    endpoint_url: str | None
    env: dict[str, str] = field(default_factory=dict, repr=False)  # credentials only: never printed
    _session: object = field(default=None, repr=False)  # a profile's own session, else the shared one
    _credentials: dict = field(default_factory=dict, repr=False)
    _clients: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, service: str):
        """A read-only boto3 client acting as the student (preflight, tunnel discovery)."""
        from botocore.config import Config

        from provisioning.readonly import make_read_only

        with self._lock:
            if service not in self._clients:
                client = _client(service, session=self._session, region_name=self.entry.region,
                                 endpoint_url=self.endpoint_url, **self._credentials,
                                 config=Config(retries={"max_attempts": 3, "mode": "standard"}))
                make_read_only(client)
                self._clients[service] = client
            return self._clients[service]


def _instructor_sts(endpoint_url: str | None, region: str):
    from provisioning.aws import EMULATOR_CREDENTIALS

    credentials = {}
    if endpoint_url and not os.environ.get("AWS_ACCESS_KEY_ID"):
        credentials = EMULATOR_CREDENTIALS  # an emulator takes any key
    return _client("sts", region_name=region, endpoint_url=endpoint_url, **credentials)


def _error_text(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def student_access(entry, endpoint_url: str | None) -> StudentAccess:
    """Assume the student's role (or load the profile); NotGradable when that fails."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    access = StudentAccess(entry, endpoint_url)
    if endpoint_url:
        access.env["AWS_ENDPOINT_URL"] = endpoint_url
    if entry.profile:
        try:
            access._session = boto3.Session(profile_name=entry.profile, region_name=entry.region)
        except BotoCoreError as exc:
            raise NotGradable(f"profile {entry.profile}: {exc}") from None
        access.env["AWS_PROFILE"] = entry.profile
        return access
    session_name = re.sub(r"[^\w+=,.@-]", "-", f"{GRADER_SESSION_NAME}-{entry.student}")[:64]
    try:
        sts = _instructor_sts(endpoint_url, entry.region)
        credentials = sts.assume_role(RoleArn=entry.role_arn, RoleSessionName=session_name)["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        raise NotGradable(f"could not assume {entry.role_arn}: {_error_text(exc)}") from None
    access.env.update(AWS_ACCESS_KEY_ID=credentials["AccessKeyId"], AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
                      AWS_SESSION_TOKEN=credentials["SessionToken"])
    access._credentials = {"aws_access_key_id": credentials["AccessKeyId"],
                           "aws_secret_access_key": credentials["SecretAccessKey"],
                           "aws_session_token": credentials["SessionToken"]}
    return access


# --- the data plane --------------------------------------------------------------------------

def tunnel_env(tunnel, mysql_password: str | None) -> tuple[dict[str, str], list[str]]:
    """LAB_*_URL for the forwarded ports (pairs only: the checks need primary and replica)."""
    from provisioning import naming
    from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA

    plane = tunnel.dataplane(mysql_password=mysql_password)
    env, notes = {}, []
    primary, replica = plane.mysql.get(naming.DB_INSTANCE), plane.mysql.get(naming.DB_REPLICA)
    if primary and replica:
        for key, endpoint in (("LAB_MYSQL_URL", primary), ("LAB_MYSQL_REPLICA_URL", replica)):
            env[key] = (f"mysql://{quote(endpoint.user, safe='')}:{quote(str(endpoint.password), safe='')}"
                        f"@{endpoint.host}:{endpoint.port}/{endpoint.database}")
    elif mysql_password is None:
        notes.append("MySQL not graded: set the master password in the variable --mysql-password-env names")
    else:
        notes.append("MySQL not graded: the primary and its replica both need an endpoint")
    redis_primary, redis_replica = plane.redis.get(REDIS_PRIMARY), plane.redis.get(REDIS_REPLICA)
    if redis_primary and redis_replica:
        env["LAB_REDIS_URL"] = f"redis://{redis_primary.host}:{redis_primary.port}"
        env["LAB_REDIS_REPLICA_URL"] = f"redis://{redis_replica.host}:{redis_replica.port}"
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

    grade = not_gradable_grade(entry, reason, args.endpoint, _rubric_option(args.pytest_args))
    gradebook.write_grade(reports, grade)
    gradebook.write_atomically(gradebook.grade_path(reports, entry.student, ".html"), scorecard.render(grade))


def _rubric_option(pytest_args: list[str]) -> str | None:
    for index, arg in enumerate(pytest_args):
        if arg.startswith("--lab-rubric="):
            return arg.split("=", 1)[1]
        if arg == "--lab-rubric" and index + 1 < len(pytest_args):
            return pytest_args[index + 1]
    return None


def grade_command(entry, args, reports: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "-m", "aws", "--lab-grade", f"--lab-student={entry.student}",
        f"--lab-region={entry.region}", f"--lab-reports-dir={reports}", f"--lab-timeout={args.timeout:g}",
        f"--junitxml={reports / 'junit' / (entry.student + '.xml')}", "-q", "-p", "no:cacheprovider",
        *args.pytest_args,
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
    from provisioning.aws import EndpointUnreachable, check_reachable, endpoint_from_environment

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
    args.endpoint = args.endpoint_url or endpoint_from_environment()
    if args.endpoint:
        try:
            check_reachable(args.endpoint)
        except EndpointUnreachable as exc:
            print(f"dblab grade: {exc}; check --endpoint-url or AWS_ENDPOINT_URL", file=sys.stderr)
            return 2
    reports = Path(args.reports).resolve()
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

"""Grading mode (--lab-grade): the checks' outcomes become a student's grade.

Active only with --lab-grade: pytest_configure then registers a Grader, which
- validates the rubric against the collected checks (one-line usage error),
- records every check's outcome (pass / fail / blocked / not_gradable),
- stops the run before the first check, in one line naming the fix, when the grader's AWS
  credentials are missing or rejected (`pytest_sessionstart`),
- turns errors that are the grader's problem (AccessDenied, an expired token, throttling, a
  refused write, the grader's database login refused, a connection refused or dropped, a
  tunnel; provisioning/errors.caller_problem decides) into not_gradable skips naming the fix,
  instead of failures that would cost the student points; being skips, they never make their
  step missing for the blocking ledger (fixtures/steps.py),
- lets only a *missing* prerequisite block its dependents (see `pytest_runtest_setup`), and
  tells the ledger which passes the rubric's `requires` cancels,
- labels checks for Allure (student, lab, step) and JUnit (student, step, points),
- keeps what pytest-benchmark measured (--lab-bench) for the grade, not for points,
- keeps every answer the checks read as the grade's evidence, attributed to the check that
  asked (grading/evidence.py), or, regrading (--lab-evidence), serves those answers instead of
  the account (grading/evidence_replay.py),
- hands the finished grade to grading/reports.py, which writes it out.

Grading runs without pytest-xdist: the grade is computed in one process.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from fixtures.config import get_config
from fixtures.outcomes import not_gradable
from fixtures.state import ENVIRONMENT, EVIDENCE, LEDGER
from fixtures.items import item_step
from provisioning import polling
from provisioning.aws import AwsClients
from provisioning.errors import caller_problem
from provisioning.outcomes import FAIL, NOT_GRADABLE, PASS, skip_longrepr, skip_message, skip_reason, status_of_skip

from . import account, evidence, gradebook, junit, scoring
from . import preflight as permissions
from .preflight import CredentialsRejected, Preflight
from .reports import benchmark_summary, write_reports
from .rubric import RubricError, load_rubric

def reports_dir(config: pytest.Config) -> Path:
    """--lab-reports-dir, declared and resolved with every other option (provisioning/settings.py)."""
    return get_config(config).reports_dir


@pytest.hookimpl(trylast=True)  # after fixtures.plugin has read the configuration
def pytest_configure(config: pytest.Config) -> None:
    lab_config = get_config(config)
    if not lab_config.grade:
        return
    student = lab_config.student
    if not student:
        raise pytest.UsageError("--lab-grade needs --lab-student NAME (it names reports/grades/NAME.json)")
    if not gradebook.valid_student(student):
        raise pytest.UsageError(f"--lab-student {student!r}: use letters, digits and . _ @ + - only (it names a file)")
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") != "no":
        raise pytest.UsageError("grading runs in one process: drop -n/--dist (pytest-xdist)")
    try:
        rubric = load_rubric(lab_config.rubric)
    except RubricError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.option.tbstyle == "auto":
        # A failed check is a finding about the student's lab, not a bug: its message is the news.
        config.option.tbstyle = "line"
    if lab_config.evidence is not None:
        from .evidence_replay import EvidenceReplay

        try:
            replay = config.stash[EVIDENCE] = EvidenceReplay(lab_config.evidence)
        except evidence.EvidenceError as exc:
            raise pytest.UsageError(f"--lab-evidence: {exc}") from None
        # Its polls ask again where the grade's did, not for as long as a clock allows (polling.py).
        polling.replay_polls(lambda: replay.book.asked_again)
        config.add_cleanup(lambda: polling.replay_polls(None))
    else:
        config.stash[EVIDENCE] = evidence.EvidenceRecorder()
    config.pluginmanager.register(Grader(config, rubric, reports_dir(config)), "dblab-grader")
    config.pluginmanager.register(StudentInAllure(config, student), "dblab-grader-allure")


def _function_name(item: pytest.Item) -> str:
    return getattr(item, "originalname", None) or item.name.split("[")[0]


def _failure_line(excinfo) -> str:
    exception = excinfo.value
    text = str(exception).strip()
    line = text.splitlines()[0] if text else ""
    if isinstance(exception, (AssertionError, pytest.fail.Exception)):
        return line or "assertion failed"
    return f"{type(exception).__name__}: {line}" if line else type(exception).__name__


def _grader_problem(exception: BaseException | None) -> str | None:
    """Why the grader could not look, and what to fix, when `exception` (or what caused it)
    says so; errors that say the student's lab is wrong (NotFound, an assertion) give None.
    Grading: the database passwords were given to the grader, so a refused login is its own."""
    problem = caller_problem(exception, grading=True)
    return problem.reason if problem is not None else None


def _relative_to(path: Path, base: Path) -> str:
    """`path` relative to the reports folder when inside it (the reports stay whole when moved)."""
    try:
        return path.resolve().relative_to(Path(base).resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def credentials_line(student: str, problem: CredentialsRejected) -> str:
    """The one line a run without working AWS credentials stops with."""
    return f"--lab-grade: cannot grade {student}: the grader's AWS credentials do not work ({problem}): {problem.fix}"


def allure_marks(student: str, lab: str, step: str, title: str) -> list:
    """Labels for Allure (effective with --alluredir): by student, then lab, then step."""
    try:
        import allure
    except ImportError:
        return []
    marks = [allure.label("student", student), allure.label("lab", lab), allure.label("step", step),
             allure.parent_suite(student), allure.suite(lab), allure.sub_suite(f"{step} {title}")]
    return [mark for mark in marks if isinstance(mark, pytest.MarkDecorator)]


class StudentInAllure:
    """The student among each check's Allure parameters (with --alluredir). Allure tells results
    apart by the check's name and parameters; a class writes its results into one folder, and
    without the student every student's result of a check was one result, the others shown as its
    retries: the class's report showed one student."""

    def __init__(self, config: pytest.Config, student: str):
        self.config, self.student = config, student

    @pytest.hookimpl(tryfirst=True)  # before a skip ends the setup: a skipped check is the student's too
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.config.pluginmanager.has_plugin("allure_listener"):
            import allure

            allure.dynamic.parameter("student", self.student)


def recorded_benchmark(item: pytest.Item):
    """What pytest-benchmark measured in this check, or None.

    Read from the check's `benchmark` fixture, the public object the checks themselves fill
    (pytest-benchmark's own makereport reads it the same way). Its hook
    pytest_benchmark_update_json fires only when the run saves JSON (--benchmark-json,
    --benchmark-save, --benchmark-autosave), which a grading run need not do.
    """
    fixture = (getattr(item, "funcargs", None) or {}).get("benchmark")
    return getattr(fixture, "stats", None)


class Grader:
    def __init__(self, config: pytest.Config, rubric, reports: Path):
        self.config = config
        self.lab_config = get_config(config)
        self.rubric = rubric
        self.reports = reports
        self.student = self.lab_config.student
        self.outcomes: list[scoring.CheckOutcome] = []
        self.benchmarks: list = []  # what pytest-benchmark measured, in run order (Lab 6, --lab-bench)
        self._phases: dict[str, dict] = {}  # nodeid -> what the check's phases reported so far
        self._nominal: dict[str, float] = {}  # nodeid -> share if every check of its step is gradable
        self.grade: dict | None = None
        self.files: list[Path] = []
        self.problem: str | None = None
        self.evidence = config.stash[EVIDENCE]  # an EvidenceRecorder, or a regrade's EvidenceReplay
        self._own_clients: AwsClients | None = None
        self.gradebook_notes: list[str] = []
        self._preflight: Preflight | None = None
        self._preflight_done = False
        self.started = time.monotonic()
        # A pass the rubric cancels (its `requires` did not pass) does not make its step present.
        ledger = config.stash.get(LEDGER, None)
        if ledger is not None:
            ledger.requires = {check.id: check.requires for step in rubric.steps.values()
                               for check in step.checks.values() if check.requires}
        xmlpath = config.getoption("xmlpath", None)
        self.junit_path = Path(os.path.normpath(os.path.abspath(os.path.expanduser(os.path.expandvars(xmlpath))))) \
            if xmlpath else None

    # -- collection -----------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselect anything: the rubric is checked against the whole suite
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        collected = {}
        for item in items:
            step = item_step(item)
            if step is not None:
                collected[_function_name(item)] = step
        try:
            self.rubric.validate_checks(collected)
        except RubricError as exc:
            raise pytest.UsageError(str(exc)) from None
        checks = [(item.nodeid, item_step(item), _function_name(item)) for item in items
                  if item_step(item) in self.rubric.steps]
        self._nominal = scoring.nominal_shares(self.rubric, checks)
        for item in items:
            step = item_step(item)
            if step in self.rubric.steps:
                lab = self.rubric.lab_title(step)
                for mark in allure_marks(self.student, lab, step, self.rubric.steps[step].title):
                    item.add_marker(mark)

    # -- evidence ---------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        # Every answer that comes while a check runs (its fixtures included) is that check's evidence.
        self.evidence.current = item.nodeid
        try:
            return (yield)
        finally:
            self.evidence.current = evidence.SESSION

    def _write_evidence(self, grade: dict) -> None:
        """Save the answers the grade rests on, and link each check to the ones it used."""
        if isinstance(self.evidence, evidence.EvidenceRecorder):
            folder = evidence.evidence_dir(self.reports, self.student)
            target = self.lab_config.aws
            written = self.evidence.write(folder, {
                "student": self.student, "account": grade["account"], "region": target.region, "endpoint_url": target.endpoint_url,
                "timeout": self.lab_config.timeout, "graded_at": grade["graded_at"]})
            by_check, digest = written["by_check"], written["manifest_sha256"]
        else:  # a regrade: the answers it was served, as they were recorded
            folder, digest = self.evidence.directory, evidence.sha256_file(self.evidence.directory / evidence.MANIFEST)
            by_check = self.evidence.files_by_check()
        grade["evidence"] = evidence.grade_link(_relative_to(Path(folder), self.reports), digest,
                                                by_check.get(evidence.SESSION, ()))
        for step in grade["steps"]:
            for check in step["checks"]:
                check["evidence"] = by_check.get(check.get("nodeid") or "", [])

    # -- outcomes -------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True, trylast=True)  # innermost: fixtures.steps sees the converted report
    def pytest_runtest_makereport(self, item: pytest.Item, call):
        report = yield
        if report.when == "call":
            benchmark = recorded_benchmark(item)  # a Lab 6 step has no points, but its numbers are shown
            if benchmark is not None:
                self.benchmarks.append(benchmark)
        step = item_step(item)
        if step not in self.rubric.steps:
            return report
        if report.failed and call.excinfo is not None:
            problem = _grader_problem(call.excinfo.value)
            if problem:
                report.outcome = "skipped"
                report.longrepr = skip_longrepr(str(item.path), (item.location[1] or 0) + 1,
                                                skip_message(NOT_GRADABLE, problem))
        phases = self._phases.setdefault(item.nodeid, {})
        if report.failed and "failure" not in phases:
            where = "" if report.when == "call" else f"error in {report.when}: "
            phases["failure"] = where + (_failure_line(call.excinfo) if call.excinfo else "failed")
        elif report.skipped and "skip" not in phases:
            phases["skip"] = skip_reason(report)
        if report.when == "teardown":
            outcome = self._record(item, step, self._phases.pop(item.nodeid))
            nominal = self._nominal.get(item.nodeid, 0.0) if outcome.status != NOT_GRADABLE else 0.0
            earned = nominal if outcome.status == PASS else 0.0
            # Provisional: the final shares are written into the JUnit file at the end (grading/junit.py).
            report.user_properties += [("student", self.student), ("points", earned), ("max_points", nominal),
                                       (junit.NODEID_PROPERTY, item.nodeid)]
        return report

    def _record(self, item: pytest.Item, step: str, phases: dict) -> scoring.CheckOutcome:
        if "failure" in phases:
            status, message = FAIL, phases["failure"]
        elif "skip" in phases:
            status, message = status_of_skip(phases["skip"]), phases["skip"]
        else:
            status, message = PASS, ""
        outcome = scoring.CheckOutcome(item.name, _function_name(item), step, status, message, item.nodeid,
                                       writes_data=item.get_closest_marker("writes_data") is not None)
        self.outcomes.append(outcome)
        return outcome

    # -- permissions ----------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)  # before the terminal prints its header: the error is the only line
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """No credentials, or credentials AWS rejects (expired, unknown): nothing can be graded,
        so the run stops here in one line naming the fix, and a non-zero exit (usage error)."""
        if any(getattr(self.config.option, name, False) for name in ("collectonly", "showfixtures",
                                                                      "show_fixtures_per_test")):
            return  # nothing is graded in these runs: no account to look at
        try:
            self.preflight(stop_on_credentials=True)
        except CredentialsRejected as exc:
            raise pytest.UsageError(credentials_line(self.student, exc)) from None

    def preflight(self, *, stop_on_credentials: bool = False) -> Preflight | None:
        """Probe the grader's policy once; None when the credentials stopped working since the
        start (each check then says so, and the account look-up at the end)."""
        if not self._preflight_done:
            self._preflight_done = True
            try:
                self._preflight = permissions.run_preflight(self._clients(), region=self.lab_config.aws.region)
            except CredentialsRejected:
                if stop_on_credentials:
                    raise
                self._preflight = None
        return self._preflight

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # A check whose read actions are denied is the grader's problem, not the student's.
        preflight = self.preflight()
        reason = preflight.reason_for(item_step(item)) if preflight is not None else None
        if reason:
            not_gradable(reason)

    def _clients(self) -> AwsClients:
        environment = self.config.stash.get(ENVIRONMENT, None)
        if environment is not None and environment.clients is not None:
            return environment.clients
        if self._own_clients is None:  # before the lab's (the preflight): seen, or served, all the same
            self._own_clients = AwsClients(self.lab_config.aws, read_only=True).observe(self.evidence)
        return self._own_clients

    def _context(self) -> tuple[scoring.GradeContext, list[str]]:
        clients = self._clients()
        account_id, account_problem = account.account_id(clients)
        found, census_problem = account.lab_resource_count(clients)
        target = self.lab_config.aws
        context = scoring.GradeContext(
            student=self.student, account=account_id, region=target.region,
            target="emulator" if target.emulated else "aws", endpoint_url=target.endpoint_url,
            lab_resources_found=found, graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        permission_problems = self._preflight.summary_problems() if self._preflight is not None else []
        return context, [p for p in (account_problem, census_problem, *permission_problems) if p]

    # -- the grade ------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)  # after the JUnit plugin has written its file
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        if self.config.option.collectonly:
            self.problem = "--collect-only runs no check"
            return
        if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
            self.problem = f"the run did not complete (exit status {int(exitstatus)})"
            return
        if not self.outcomes:
            self.problem = "no check of the rubric ran"
            session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
            return
        context, problems = self._context()
        grade = scoring.grade(self.rubric, self.outcomes, context)
        if context.account is None and all(s["status"] == NOT_GRADABLE for s in grade["steps"]):
            # Nothing could be looked at, not even the account: a 0 of 0 in the gradebook would
            # read as a grade. Say why instead (no credentials, wrong endpoint, no permissions).
            self.problem = "; ".join(problems) or "the grader could not look at the account"
            session.exitstatus = pytest.ExitCode.USAGE_ERROR  # a class run (dblab grade) must not miss it
            return
        grade["grader_notes"] = problems
        benchmarks = benchmark_summary(self.benchmarks)
        if benchmarks:
            grade["benchmarks"] = benchmarks  # Lab 6, with --lab-bench: shown, never graded
        grade["rubric_file"] = str(self.rubric.path)
        grade["duration_seconds"] = round(time.monotonic() - self.started, 2)
        self._write_evidence(grade)
        self.grade = grade
        written = write_reports(self.reports, grade, self.junit_path)
        self.files, self.gradebook_notes = written.files, written.notes

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.config.option.collectonly:
            return
        write = terminalreporter.write_line
        terminalreporter.section("dblab grade")
        if self.grade is None:
            write(f"{self.student}: no grade written: {self.problem}")
            return
        grade = self.grade
        write(f"{self.student} (account {grade['account'] or 'unknown'}, {grade['region']}): {grade['summary']}")
        if grade["hint"]:
            write(f"  hint: {grade['hint']}")
        for note in grade["grader_notes"] + self.gradebook_notes:
            write(f"  grader: {note}")
        for step in grade["steps"]:
            if step["status"] == PASS:
                continue
            head = f"  {step['status']:<12} {step['step']} {step['title']}: {step['points']:g}/{step['max_points']:g}"
            if step.get("blocked_by"):
                head += f" (blocked by step {', '.join(step['blocked_by'])})"
            if step.get("reason"):
                head += f" ({step['reason']})"
            write(head)
            for check in step["checks"]:
                if check["hint"]:
                    write(f"      {check['id']}: {check['message']}")
                    write(f"        hint: {check['hint']}")
        write("  wrote " + ", ".join(str(path) for path in self.files))

"""Issue 13: a student's code, graded by the checks that exercise the apps, in a sandbox.

A class of submissions (tests/submissions/corpus.py) is graded in one local lab, as an instructor
grades one: `pytest -m "local and writes_data" --lab-student-code=CLASS_DIR`, in a subprocess whose
environment holds AWS keys (a canary) that no submission may see. Then, per submission, the app
checks it failed (reports/code/<name>.json):
- the lab's apps with the errata page's fixes: none;
- the lab's apps exactly as printed: exactly the checks of the errata they trip, each failure
  naming its erratum;
- code that imports something missing, loops, reads the AWS keys, connects outside loopback,
  runs main() on import, lacks a class, does not parse or exits: the checks that touch it fail
  with that reason, within the time limits; no process is left and no secret is written;
- code that would break the shared lab for the next student (DROP TABLE, FLUSHALL, DeleteTable)
  is refused and fails its own checks, and the submissions graded after it (`fixed`, `printed`:
  names sort after `adv-`) are graded as if it had not run;
- each seeded fault of the fault catalogue, saved as a student's file: exactly the checks of
  that fault.
The module runs in `make code-faults` (marker `corpus`: about 3 minutes), which .ci/run runs too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.submissions import corpus

# Grading a class of submissions takes minutes: `make code-faults` runs this module, not make test.
pytestmark = pytest.mark.corpus

CANARY = "dblab-canary-7d0b1c"
# What each adversarial submission's failures must say, and the checks it touches (the class it alters).
ADVERSARIAL_REASONS = {
    "imports-missing": ("ModuleNotFoundError", "all"),
    "loops-forever": ("did not return within", "RateLimiter"),
    "reads-aws-keys": ("read the credential variable AWS_", "SessionStore.create_session"),
    "outside-loopback": ("opened a connection to 192.0.2.1:80", "Leaderboard"),
    "main-on-import": ("talks to the databases when it is imported", "all"),
    "missing-class": ("has no class RateLimiter", "RateLimiter"),
    "syntax-error": ("SyntaxError", "all"),
    "exits": ("SystemExit", "Leaderboard.get_top"),
    "drops-the-table": ("ran DROP TABLE", "ProductRepository.delete"),
    "flushes-redis": ("sent FLUSHALL", "Leaderboard"),
    "deletes-the-table": ("called DynamoDB DeleteTable", "OrderRepository"),
}
CACHE_CHECKS = {
    "all": None,
    "RateLimiter": {"test_rate_limiter_allows_five_then_blocks_with_the_time_left",
                    "test_rate_limiter_allows_again_after_the_window",
                    "test_rate_limiter_allows_exactly_the_limit_under_concurrent_requests"},
    "SessionStore.create_session": {"test_session_is_stored_for_one_hour", "test_session_keeps_its_user_id_whatever_the_user_data",
                                    "test_session_extend_resets_the_ttl_to_one_hour", "test_session_delete_removes_it"},
    "Leaderboard": {"test_leaderboard_lists_the_highest_score_first", "test_leaderboard_rank_counts_from_one_at_the_top",
                    "test_leaderboard_increment_adds_points_and_moves_the_player_up"},
    "Leaderboard.get_top": {"test_leaderboard_lists_the_highest_score_first"},
    "ProductRepository.delete": {"test_delete_returns_1_then_0_for_a_missing_id"},
    # Every 4.2 check removes its orders with delete_order afterwards.
    "OrderRepository": {"test_query_by_customer_returns_every_order_in_date_order",
                        "test_query_by_customer_from_a_start_date_skips_earlier_orders",
                        "test_status_index_query_returns_a_new_pending_order_whole",
                        "test_update_status_returns_all_new_attributes", "test_delete_order_returns_the_old_item",
                        "test_batch_write_then_count_sees_every_order"},
}


@dataclass
class GradedClass:
    results: dict[str, dict]  # submission -> check -> {step, status, message, hint}
    output: str
    reports: Path
    returncode: int

    def failed(self, submission: str) -> dict[str, dict]:
        checks = self.results[submission]["results"]
        return {check: result for check, result in checks.items() if result["status"] != "pass"}


def grade_class(root: Path, submissions: dict[str, callable]) -> GradedClass:
    """Write each submission under root/class/<name>, grade them all in one local lab."""
    for name, make in submissions.items():
        make(root / "class" / name)
    reports = root / "reports"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": CANARY, "AWS_SECRET_ACCESS_KEY": CANARY, "PYTHONPATH": str(REPO_ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_XDIST") and k != "PYTEST_CURRENT_TEST"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "local and writes_data", f"--lab-student-code={root / 'class'}",
         f"--lab-reports-dir={reports}", "--lab-timeout=10", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
         f"--junitxml={root / 'junit.xml'}", "-o", "addopts=--strict-markers"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    results = {path.stem: json.loads(path.read_text()) for path in (reports / "code").glob("*.json")}
    return GradedClass(results, result.stdout + result.stderr, reports, result.returncode)


def _submission_processes() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "submissions/child.py" in command:
                found.append(f"{entry}: {command}")
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> GradedClass:
    submissions = {"printed": corpus.printed, "fixed": corpus.fixed}
    submissions.update({f"adv-{kind}": (lambda dest, kind=kind: corpus.adversarial(dest, kind)) for kind in corpus.ADVERSARIAL})
    graded = grade_class(tmp_path_factory.mktemp("code"), submissions)
    assert set(graded.results) == set(submissions), graded.output[-3000:]
    return graded


def test_the_labs_apps_with_the_errata_fixes_pass_every_code_check(graded):
    assert graded.results["fixed"]["checks"] == 25 and not graded.failed("fixed"), graded.failed("fixed")


def test_the_labs_apps_as_printed_lose_exactly_the_checks_of_the_errata_they_trip(graded):
    tripped = {check: erratum.number for erratum in corpus.ERRATA for check in erratum.checks}
    failed = graded.failed("printed")
    assert set(failed) == set(tripped), {"failed, no erratum expects it": set(failed) - set(tripped),
                                         "an erratum expects it, passed": set(tripped) - set(failed)}
    for check, result in failed.items():
        said = f"{result['message']} {result.get('hint') or ''}"
        assert f"#{tripped[check]}" in said, f"{check}: the failure does not name erratum #{tripped[check]}: {said}"


@pytest.mark.parametrize("kind", sorted(corpus.ADVERSARIAL))
def test_misbehaving_code_fails_the_checks_it_touches_with_the_reason(graded, kind):
    reason, touches = ADVERSARIAL_REASONS[kind]
    failed = graded.failed(f"adv-{kind}")
    cache_checks = {c for c, r in graded.results["fixed"]["results"].items() if r["step"] == "5.3"}
    expected = cache_checks if CACHE_CHECKS[touches] is None else CACHE_CHECKS[touches]
    assert set(failed) == expected, {"unexpected": set(failed) - expected, "missing": expected - set(failed)}
    assert all(result["status"] == "fail" and reason in result["message"] for result in failed.values()), failed


def test_no_submission_outlives_the_run_nor_sees_or_writes_a_secret(graded):
    assert not _submission_processes()
    assert CANARY not in graded.output
    for path in graded.reports.rglob("*"):
        if path.is_file():
            assert CANARY not in path.read_text(errors="replace"), path


def test_each_seeded_fault_saved_as_a_students_file_loses_exactly_its_checks(tmp_path):
    submissions = {"fixed": corpus.fixed}
    submissions.update({f"fault-{fault.id}": (lambda dest, fault=fault: corpus.with_fault(dest, fault))
                        for fault in corpus.SEEDED_FAULTS})
    graded = grade_class(tmp_path, submissions)
    problems = []
    for fault in corpus.SEEDED_FAULTS:
        failed = set(graded.failed(f"fault-{fault.id}"))
        if failed != set(fault.checks):
            problems.append(f"{fault.id}: failed {sorted(failed)}, expected {sorted(fault.checks)}")
    assert not problems, "\n".join(problems)
    assert not _submission_processes()

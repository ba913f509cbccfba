"""Issue 13: one grade from a student's account and their code (grading/code_merge.py), and the
roster's `code` column that makes `dblab grade` grade both."""

from __future__ import annotations

import inspect
import json

import pytest

from grading.code_merge import merge_code
from grading.roster import RosterError, parse_roster
from grading.rubric import load_rubric
from grading.scoring import CheckOutcome, GradeContext, grade
from provisioning.outcomes import BLOCKED, FAIL, NOT_GRADABLE, PASS
from suites import test_lab3_application, test_lab4_dynamodb, test_lab5_redis_caching_patterns

RUBRIC = load_rubric()
CONTEXT = GradeContext(student="alice", account="111111111111", region="us-east-1", target="aws",
                       lab_resources_found=12)


def _checks(module) -> dict[str, tuple[str, bool]]:
    """function -> (step, writes_data) for every check of a suite module."""
    found = {}
    for name, check in vars(module).items():
        if name.startswith("test_") and inspect.isfunction(check):
            marks = {mark.name: mark for mark in getattr(check, "pytestmark", [])}
            found[name] = (str(marks["step"].args[0]), "writes_data" in marks)
    return found


CHECKS = {**_checks(test_lab3_application), **_checks(test_lab4_dynamodb), **_checks(test_lab5_redis_caching_patterns)}
CODE_CHECKS = {name: step for name, (step, writes) in CHECKS.items() if writes}


def account_grade(account_status=PASS) -> dict:
    """The account graded as grading does: every app check not_gradable, the rest `account_status`."""
    outcomes = [CheckOutcome(name, name, step, NOT_GRADABLE if writes else account_status,
                             "this check exercises the app with data of its own; grading never writes" if writes else "")
                for name, (step, writes) in CHECKS.items()]
    return grade(RUBRIC, outcomes, CONTEXT)


def code_report(failing: dict[str, str] = {}, errors: tuple[str, ...] = ()) -> dict:
    results = {name: {"step": step, "status": "fail" if name in failing else "error" if name in errors else "pass",
                      "message": failing.get(name, "setup failed" if name in errors else "")}
               for name, step in CODE_CHECKS.items()}
    return {"submission": "alice", "checks": len(results), "passed": sum(r["status"] == "pass" for r in results.values()),
            "results": results}


def steps(graded: dict) -> dict[str, dict]:
    return {step["step"]: step for step in graded["steps"]}


def test_code_that_passes_completes_the_steps_the_account_alone_could_only_partly_grade():
    alone, merged = steps(account_grade()), steps(merge_code(account_grade(), code_report(), RUBRIC))
    for step in ("3.1", "4.2", "5.3"):
        assert merged[step]["status"] == PASS and merged[step]["points"] == merged[step]["rubric_points"], merged[step]
        from_code = [c for c in merged[step]["checks"] if c["source"] == "code"]
        assert {c["id"] for c in from_code} == {n for n, s in CODE_CHECKS.items() if s == step}
        assert all(c["status"] == PASS and c["max_points"] > 0 for c in from_code)
        # Graded alone, the account's checks held the whole step; now the code's share is the code's.
        assert all(c["max_points"] == 0 for c in alone[step]["checks"] if c["id"] in CODE_CHECKS)


def test_a_step_graded_from_both_passes_only_when_both_agree_and_loses_the_failing_checks_share():
    failing = {"test_rate_limiter_allows_exactly_the_limit_under_concurrent_requests": "17 of 50 were allowed"}
    merged = merge_code(account_grade(), code_report(failing), RUBRIC)
    step = steps(merged)["5.3"]
    check = next(c for c in step["checks"] if c["id"] in failing)
    assert step["status"] == FAIL and check["status"] == FAIL and check["source"] == "code"
    assert check["hint"] and "#16" in check["hint"] and check["message"] == failing[check["id"]]
    assert step["points"] == pytest.approx(step["rubric_points"] - check["max_points"])
    assert merged["code"] == {"submission": "alice", "checks": len(CODE_CHECKS), "passed": len(CODE_CHECKS) - 1}
    assert merged["score"] == pytest.approx(account_grade()["score"] - check["max_points"])
    from grading.scorecard import render

    page = render(merged)
    assert "(your code)" in page and "app checks graded from the submitted code: 24 of 25 pass" in page


def test_code_the_grader_could_not_run_stays_not_gradable_and_costs_nothing():
    merged = merge_code(account_grade(), code_report(errors=tuple(n for n, s in CODE_CHECKS.items() if s == "4.2")), RUBRIC)
    step = steps(merged)["4.2"]
    assert step["status"] == PASS and step["points"] == step["rubric_points"]
    assert all(c["status"] == NOT_GRADABLE for c in step["checks"] if c["id"] in CODE_CHECKS)


def test_working_code_earns_its_points_where_the_accounts_step_is_blocked():
    merged = steps(merge_code(account_grade(account_status=BLOCKED), code_report(), RUBRIC))
    step = merged["4.2"]
    code_share = sum(c["max_points"] for c in step["checks"] if c["source"] == "code")
    assert step["status"] == BLOCKED and code_share > 0 and step["points"] == pytest.approx(code_share, abs=0.05)


def test_the_roster_takes_each_students_code_folder_relative_to_the_file(tmp_path):
    (tmp_path / "code" / "alice").mkdir(parents=True)
    entries = parse_roster("student,credentials,region,bastion_key,code\n"
                           "alice,alice-profile,us-east-1,,code/alice\nbob,bob-profile,us-east-1\n", base_dir=tmp_path)
    assert [e.code for e in entries] == [tmp_path / "code" / "alice", None]
    with pytest.raises(RosterError, match=r"row 1: carol: code .*nowhere is not a folder"):
        parse_roster("carol,p,us-east-1,,nowhere\n", base_dir=tmp_path)


# --- dblab grade with a code column: accounts, then the class's code in one local lab ---------------

@pytest.mark.corpus
def test_dblab_grade_joins_each_students_code_to_their_account_grade(moto_server, tmp_path):
    from tests.submissions import corpus
    from tests.test_grading_roster import ROLE, _dblab_grade

    moto_server.reset()
    corpus.fixed(tmp_path / "code" / "alice")
    corpus.printed(tmp_path / "code" / "bob")
    roster = tmp_path / "roster.csv"
    roster.write_text("student,credentials,region,bastion_key,code\n"
                      f"alice,{ROLE.format(account='310000000001')},us-east-1,,code/alice\n"
                      f"bob,{ROLE.format(account='310000000002')},us-east-1,,code/bob\n"
                      f"carol,{ROLE.format(account='310000000003')},us-east-1,,\n")
    result = _dblab_grade(roster, tmp_path / "reports", endpoint=moto_server.endpoint_url)
    output = result.stdout + result.stderr
    grades = {name: json.loads((tmp_path / "reports" / "grades" / f"{name}.json").read_text())
              for name in ("alice", "bob", "carol")}
    assert "alice: code 25 of 25 app checks pass" in output and "bob: code 16 of 25 app checks pass" in output, output
    assert grades["alice"]["code"]["passed"] == 25 and grades["bob"]["code"]["passed"] == 16
    assert "code" not in grades["carol"]
    # Empty accounts: only the code's points. The fixed code earns more than the printed one.
    assert grades["alice"]["score"] > grades["bob"]["score"] > grades["carol"]["score"] == 0, \
        {n: g["score"] for n, g in grades.items()}
    assert (tmp_path / "reports" / "code" / "alice.json").is_file()
    gradebook = (tmp_path / "reports" / "gradebook.csv").read_text()
    assert f"alice,310000000001,{grades['alice']['score']:g}" in gradebook.replace(".0,", ","), gradebook

"""Step statuses, points and hints from check outcomes (grading.scoring, no pytest run)."""

from fractions import Fraction

import pytest

from grading.rubric import Rubric, RubricCheck, RubricStep
from grading.scoring import BLOCKED, FAIL, NOT_GRADABLE, PASS, CheckOutcome, GradeContext, grade, step_status


def make_rubric(**steps) -> Rubric:
    """steps: step id with '_' for '.' -> (points, {check: weight})."""
    built = {}
    for key, (points, checks) in steps.items():
        step_id = key.removeprefix("s").replace("_", ".")
        built[step_id] = RubricStep(step_id, f"title {step_id}", Fraction(points), {
            name: RubricCheck(name, step_id, f"hint for {name}", Fraction(weight)) for name, weight in checks.items()})
    return Rubric("test", __import__("pathlib").Path("rubric.toml"), built, {})


def outcome(step, function, status, message="", case=None, writes_data=False):
    name = f"{function}[{case}]" if case else function
    return CheckOutcome(name, function, step, status, message, f"suites/x.py::{name}", writes_data)


CONTEXT = GradeContext(student="alice", account="123456789012", region="us-east-1", target="emulator",
                       lab_resources_found=5)


def step_of(result, step_id):
    return next(s for s in result["steps"] if s["step"] == step_id)


@pytest.mark.parametrize("statuses, expected", [
    ([PASS, PASS], PASS), ([PASS, FAIL], FAIL), ([PASS, NOT_GRADABLE], PASS), ([BLOCKED, NOT_GRADABLE], BLOCKED),
    ([NOT_GRADABLE, NOT_GRADABLE], NOT_GRADABLE), ([BLOCKED, FAIL], FAIL), ([], NOT_GRADABLE),
])
def test_step_status_follows_its_gradable_checks(statuses, expected):
    assert step_status(statuses) == expected


def test_points_split_equally_and_a_failure_costs_its_share_with_its_hint():
    rubric = make_rubric(s1_2=(8, {"a": 1, "b": 1, "c": 1, "d": 1}))
    result = grade(rubric, [outcome("1.2", "a", PASS), outcome("1.2", "b", FAIL, "SSH from 0.0.0.0/0"),
                            outcome("1.2", "c", PASS), outcome("1.2", "d", PASS)], CONTEXT)
    step = step_of(result, "1.2")
    assert (step["status"], step["points"], step["max_points"]) == (FAIL, 6.0, 8.0)
    failed = next(c for c in step["checks"] if c["id"] == "b")
    assert failed["hint"] == "hint for b" and failed["message"] == "SSH from 0.0.0.0/0"
    assert all(c["hint"] is None for c in step["checks"] if c["status"] == PASS)
    assert (result["score"], result["max_score"]) == (6.0, 8.0)


def test_weights_and_parametrized_cases_share_a_checks_points():
    rubric = make_rubric(s1_1=(9, {"vpc": 2, "subnet": 1}))
    outcomes = [outcome("1.1", "vpc", PASS)] + [
        outcome("1.1", "subnet", FAIL if case == "b" else PASS, case=case) for case in ("a", "b", "c")]
    step = step_of(grade(rubric, outcomes, CONTEXT), "1.1")
    assert step["checks"][0]["max_points"] == 6.0  # weight 2 of 3
    assert [c["max_points"] for c in step["checks"][1:]] == [1.0, 1.0, 1.0]  # weight 1 over three cases
    assert step["points"] == 8.0


def test_a_not_gradable_check_hands_its_share_to_the_steps_other_checks():
    rubric = make_rubric(s2_1=(5, {"multi_az": 1, "standby": 1}))
    result = grade(rubric, [outcome("2.1", "multi_az", PASS),
                            outcome("2.1", "standby", NOT_GRADABLE, "emulator-limited: no SecondaryAvailabilityZone")],
                   CONTEXT)
    step = step_of(result, "2.1")
    assert (step["status"], step["points"], step["max_points"]) == (PASS, 5.0, 5.0)
    assert step["checks"][1]["max_points"] == 0.0 and step["checks"][1]["hint"] is None


def test_a_step_nobody_could_look_at_is_left_out_of_max_score_with_the_option_to_use():
    rubric = make_rubric(s1_1=(60, {"vpc": 1}), s2_3=(40, {"rows": 1, "write": 1}))
    result = grade(rubric, [
        outcome("1.1", "vpc", PASS),
        outcome("2.3", "write", NOT_GRADABLE, "not_gradable: grading never writes", writes_data=True),
        outcome("2.3", "rows", NOT_GRADABLE, "not-reachable: pass --lab-mysql-url"),
    ], CONTEXT)
    step = step_of(result, "2.3")
    assert (step["status"], step["points"], step["max_points"], step["rubric_points"]) == (NOT_GRADABLE, 0, 0, 40)
    assert step["reason"] == "not-reachable: pass --lab-mysql-url"
    assert (result["score"], result["max_score"]) == (60.0, 60.0)
    assert "2.3" in result["summary"]


def test_a_blocked_step_earns_nothing_and_its_checks_carry_no_hint_but_name_the_blocker():
    rubric = make_rubric(s1_3=(4, {"group": 1}), s1_4=(10, {"available": 1, "class": 1}))
    reason = "blocked: step 1.3 (a title) failed in suites/x.py::group"
    result = grade(rubric, [outcome("1.3", "group", FAIL, "not found"),
                            outcome("1.4", "available", BLOCKED, reason), outcome("1.4", "class", BLOCKED, reason)],
                   CONTEXT)
    step = step_of(result, "1.4")
    assert (step["status"], step["points"], step["max_points"]) == (BLOCKED, 0, 10)
    assert step["blocked_by"] == ["1.3"]
    assert all(c["hint"] is None and c["message"] == reason for c in step["checks"])
    assert step_of(result, "1.3")["checks"][0]["hint"] == "hint for group"
    assert (result["score"], result["max_score"]) == (0, 14)


def test_rubric_checks_that_did_not_run_are_listed_as_not_gradable():
    rubric = make_rubric(s4_1=(7, {"keys": 1, "billing": 1}))
    step = step_of(grade(rubric, [outcome("4.1", "keys", PASS)], CONTEXT), "4.1")
    assert [(c["id"], c["status"]) for c in step["checks"]] == [("keys", PASS), ("billing", NOT_GRADABLE)]
    assert step["points"] == step["max_points"] == 7.0


def test_an_account_without_lab_resources_gets_a_top_level_hint_naming_account_and_region():
    rubric = make_rubric(s1_1=(100, {"vpc": 1}))
    empty = GradeContext(student="carol", account="111111111111", region="eu-west-1", target="aws", lab_resources_found=0)
    result = grade(rubric, [outcome("1.1", "vpc", FAIL, "VPC database-lab-vpc: not found")], empty)
    assert result["score"] == 0
    assert "111111111111" in result["hint"] and "eu-west-1" in result["hint"] and "--lab-region" in result["hint"]
    assert grade(rubric, [outcome("1.1", "vpc", PASS)], CONTEXT)["hint"] is None


def test_score_is_the_sum_of_step_points_despite_thirds():
    rubric = make_rubric(s1_1=(10, {"a": 1, "b": 1, "c": 1}), s1_2=(90, {"d": 1}))
    result = grade(rubric, [outcome("1.1", "a", PASS), outcome("1.1", "b", PASS), outcome("1.1", "c", FAIL),
                            outcome("1.2", "d", PASS)], CONTEXT)
    assert result["score"] == round(sum(s["points"] for s in result["steps"]), 2) == 96.67


def test_a_weight_0_check_is_feedback_only():
    rubric = make_rubric(s4_3=(5, {"enabled": 1, "records": 0}))
    step = step_of(grade(rubric, [outcome("4.3", "enabled", PASS), outcome("4.3", "records", FAIL, "no INSERT record")],
                         CONTEXT), "4.3")
    assert (step["status"], step["points"], step["max_points"]) == (PASS, 5.0, 5.0)
    records = step["checks"][1]
    assert (records["status"], records["max_points"], records["hint"]) == (FAIL, 0.0, "hint for records")


def test_a_check_that_passes_on_nothing_counts_only_with_the_check_it_requires():
    rubric = make_rubric(s4_2=(10, {"orders_exist": 1, "order_deleted": 1}))
    rubric.steps["4.2"].checks["order_deleted"] = RubricCheck("order_deleted", "4.2", "delete it", Fraction(1),
                                                             requires="orders_exist")
    app_never_ran = [outcome("4.2", "orders_exist", FAIL, "CUST-001 holds []"), outcome("4.2", "order_deleted", PASS)]
    step = step_of(grade(rubric, app_never_ran, CONTEXT), "4.2")
    deleted = step["checks"][1]
    assert (step["points"], deleted["status"], deleted["hint"]) == (0, FAIL, "delete it")
    assert "orders_exist" in deleted["message"]
    app_ran = [outcome("4.2", "orders_exist", PASS), outcome("4.2", "order_deleted", PASS)]
    assert step_of(grade(rubric, app_ran, CONTEXT), "4.2")["points"] == 10
    unreachable = [outcome("4.2", "orders_exist", NOT_GRADABLE, "not-reachable"), outcome("4.2", "order_deleted", PASS)]
    assert step_of(grade(rubric, unreachable, CONTEXT), "4.2")["status"] == NOT_GRADABLE

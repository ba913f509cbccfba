"""From check outcomes to a grade: step statuses, points, hints. Plain Python, no pytest.

Policy (the README and every grade's `notes` say the same):
- A step's points are split over its checks, equally unless the rubric weights them; a
  parametrized check's share is split over its cases. A check of weight 0 is feedback only:
  it is reported with its hint but neither earns points nor decides the step's status.
- Only checks the grader could look at count. A not_gradable check (data plane unreachable,
  AccessDenied, an emulator limit, a check that never writes when grading) hands its share to
  the step's other checks; a step with no gradable check at all is not_gradable and is left
  out of the student's max_score. The student never loses points for what the grader could
  not see.
- A step whose prerequisite is missing (none of the prerequisite's checks passed) is blocked:
  it earns no points but counts in max_score, since it cannot be done without the
  prerequisite; its checks carry no hint of their own (the prerequisite's hints say what to
  fix). A prerequisite that is only partly wrong blocks nothing (grading/plugin.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from fractions import Fraction

from provisioning.outcomes import BLOCKED, FAIL, NOT_GRADABLE, PASS, blocked_by

from .rubric import Rubric

STATUSES = (PASS, FAIL, BLOCKED, NOT_GRADABLE)
GRADABLE = (PASS, FAIL, BLOCKED)

NOTES = (
    "A step's points are split over the checks the grader could look at; a step none of whose checks "
    f"could be looked at is {NOT_GRADABLE} and left out of max_score (the grader's limit, not the student's).",
    f"{BLOCKED}: a prerequisite step is missing (none of its checks passed), so this step was not checked; it "
    "earns no points and counts in max_score. Fix the prerequisite first (its hints say how). A prerequisite "
    "that is only partly wrong blocks nothing.",
)


@dataclass(frozen=True)
class CheckOutcome:
    id: str  # the test's name, with its parameters: test_x[database-lab-private-a]
    function: str  # the test function's name: the rubric's key
    step: str
    status: str  # one of STATUSES
    message: str = ""  # a failure's first line, or why it was blocked / not gradable
    nodeid: str = ""
    writes_data: bool = False  # never runs when grading: its reason explains least about the step


@dataclass(frozen=True)
class GradeContext:
    student: str
    account: str | None
    region: str
    target: str  # "aws" or "emulator"
    endpoint_url: str | None = None
    lab_resources_found: int | None = None  # None: the grader could not look
    graded_at: str | None = None


def _round(value: Fraction) -> float:
    return round(float(value), 2)


def step_status(statuses: list[str]) -> str:
    gradable = [s for s in statuses if s in GRADABLE]
    if not gradable:
        return NOT_GRADABLE
    if FAIL in gradable:
        return FAIL
    if BLOCKED in gradable:
        return BLOCKED
    return PASS


def _blocked_by(outcomes: list[CheckOutcome]) -> list[str]:
    found = []
    for outcome in outcomes:
        if outcome.status == BLOCKED:
            step = blocked_by(outcome.message)
            if step is not None and step not in found:
                found.append(step)
    return found


def apply_requirements(rubric_step, outcomes: list[CheckOutcome]) -> list[CheckOutcome]:
    """A pass counts only when the check it requires passed too; otherwise it takes that check's status."""
    statuses: dict[str, list[str]] = defaultdict(list)
    for outcome in outcomes:
        statuses[outcome.function].append(outcome.status)
    adjusted = []
    for outcome in outcomes:
        check = rubric_step.checks.get(outcome.function)
        if outcome.status == PASS and check is not None and check.requires:
            required = step_status(statuses.get(check.requires, []))
            if required == FAIL:
                outcome = replace(outcome, status=FAIL, message=(
                    f"passed, but proves nothing while {check.requires} fails: there is nothing here to look at yet"))
            elif required != PASS:
                outcome = replace(outcome, status=required,
                                  message=f"counts only together with {check.requires}, which is {required}")
        adjusted.append(outcome)
    return adjusted


def grade_step(rubric_step, outcomes: list[CheckOutcome]) -> dict:
    outcomes = apply_requirements(rubric_step, outcomes)
    per_function = Counter(o.function for o in outcomes)

    def weight(outcome: CheckOutcome) -> Fraction:
        check = rubric_step.checks.get(outcome.function)
        return (check.weight if check else Fraction(0)) / per_function[outcome.function]

    # A weight-0 check is feedback only: listed with its hint, it neither scores nor decides the status.
    scored = [o for o in outcomes if weight(o) > 0] or outcomes
    status = step_status([o.status for o in scored])
    gradable_weight = sum((weight(o) for o in outcomes if o.status in GRADABLE), Fraction(0))
    counted = status != NOT_GRADABLE and gradable_weight > 0
    checks, points, max_points = [], Fraction(0), Fraction(0)
    for outcome in outcomes:
        share = rubric_step.points * weight(outcome) / gradable_weight if counted and outcome.status in GRADABLE else Fraction(0)
        # A blocked step earns nothing, but for checks graded from the submitted code (issue 13:
        # grading/code_merge.py), which ran on the suite's own lab and need nothing of the account.
        earned = share if outcome.status == PASS and (status != BLOCKED or outcome.writes_data) else Fraction(0)
        points += earned
        max_points += share
        rubric_check = rubric_step.checks.get(outcome.function)
        checks.append({
            "id": outcome.id,
            "status": outcome.status,
            "message": outcome.message,
            "hint": rubric_check.hint if outcome.status == FAIL and rubric_check else None,
            "points": _round(earned),
            "max_points": _round(share),
            "nodeid": outcome.nodeid,
        })
    entry = {
        "step": rubric_step.id,
        "title": rubric_step.title,
        "status": status,
        "points": _round(points),
        "max_points": _round(max_points),
        "rubric_points": _round(rubric_step.points),
        "checks": checks,
    }
    if status == BLOCKED:
        entry["blocked_by"] = _blocked_by(outcomes)
    if status == NOT_GRADABLE:
        # The reason that says what would make the step gradable (a tunnel, a permission) comes
        # first; "grading never writes" is true of every run.
        reasons = [o.message for o in sorted(outcomes, key=lambda o: o.writes_data) if o.message]
        entry["reason"] = reasons[0] if reasons else "no check of this step ran"
    return entry


def nominal_shares(rubric: Rubric, checks: list[tuple[str, str, str]]) -> dict[str, float]:
    """nodeid -> a check's share if every check of its step turns out gradable.

    checks: (nodeid, step, function) of every collected check of a rubric step.
    """
    by_step: dict[str, list[CheckOutcome]] = defaultdict(list)
    for nodeid, step, function in checks:
        by_step[step].append(CheckOutcome(nodeid, function, step, PASS, nodeid=nodeid))
    return {check["nodeid"]: check["max_points"]
            for step, outcomes in by_step.items() for check in grade_step(rubric.steps[step], outcomes)["checks"]}


def _not_run(rubric, step_id: str, seen: set[str]) -> list[CheckOutcome]:
    return [CheckOutcome(check.id, check.id, step_id, NOT_GRADABLE, "not run in this session (deselected)")
            for check in rubric.steps[step_id].checks.values() if check.id not in seen]


def no_resources_hint(context: GradeContext) -> str:
    account = f"account {context.account}" if context.account else "the graded account"
    return (f"None of the lab's resources (VPC database-lab-vpc, RDS database-lab-*, the orders table, "
            f"ElastiCache database-lab-redis, ...) were found in {account}, region {context.region}: "
            "if the lab was built in another region, grade with --lab-region REGION; in another account, "
            "with that account's credentials (AWS_PROFILE).")


def grade(rubric: Rubric, outcomes: list[CheckOutcome], context: GradeContext) -> dict:
    by_step: dict[str, list[CheckOutcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.step in rubric.steps:
            by_step[outcome.step].append(outcome)
    steps = []
    for step_id, rubric_step in rubric.steps.items():
        ran = by_step.get(step_id, [])
        steps.append(grade_step(rubric_step, ran + _not_run(rubric, step_id, {o.function for o in ran})))
    score = round(sum(s["points"] for s in steps), 2)
    max_score = round(sum(s["max_points"] for s in steps), 2)
    hint = no_resources_hint(context) if context.lab_resources_found == 0 else None
    return {
        "student": context.student,
        "account": context.account,
        "region": context.region,
        "target": context.target,
        "endpoint_url": context.endpoint_url,
        "score": score,
        "max_score": max_score,
        "rubric_version": rubric.version,
        "graded_at": context.graded_at,
        "summary": summary(steps, score, max_score, hint),
        "hint": hint,
        "lab_resources_found": context.lab_resources_found,
        "notes": list(NOTES),
        "steps": steps,
    }


def summary(steps: list[dict], score: float, max_score: float, hint: str | None) -> str:
    counts = Counter(s["status"] for s in steps)
    parts = [f"{score:g} of {max_score:g} points"]
    parts.append(", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]) + " steps")
    skipped = [s["step"] for s in steps if s["status"] == NOT_GRADABLE]
    if skipped:
        parts.append(f"not gradable here (left out of max_score): {', '.join(skipped)}")
    if hint:
        parts.append("no lab resource found")
    return "; ".join(parts)

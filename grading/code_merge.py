"""One grade from a student's account and their submitted code (issue 13).

The account grade (grading/plugin.py) leaves the checks that exercise the apps not_gradable: grading
never writes to an account. Their outcomes come from grading the student's code instead
(`pytest -m local --lab-student-code`, fixtures/apps.py: reports/code/<student>.json). Merged, each
such check takes the code's outcome, marked `"source": "code"`, and the grade is scored again with
the same rubric: a step graded from both is `pass` only when the account's checks and the code's
agree, and its points are split over both as the rubric weighs them. Graded alone, either side is
scored as before (the other's checks not_gradable, their share handed to the rest).
"""

from __future__ import annotations

from provisioning.outcomes import FAIL, NOT_GRADABLE, PASS

from .rubric import Rubric
from .scoring import CheckOutcome, GradeContext, grade

# What a code check's result in reports/code/<student>.json counts as in a grade.
CODE_STATUS = {"pass": PASS, "fail": FAIL}


def _function(check_id: str) -> str:
    return check_id.split("[", 1)[0]


def merge_code(account_grade: dict, code: dict, rubric: Rubric) -> dict:
    """`account_grade` with the app checks' outcomes of `code` (a reports/code/<name>.json)."""
    results = code.get("results", {})
    outcomes = []
    for step in account_grade["steps"]:
        for check in step["checks"]:
            function = _function(check["id"])
            result = results.get(function)
            # The account run never runs these (grading never writes): not_gradable, or blocked
            # by a missing prerequisite; the code's outcome replaces either. A blocked step stays
            # blocked all the same (scoring.grade_step): its points need the account's prerequisite.
            if result is not None:
                status = CODE_STATUS.get(result["status"], NOT_GRADABLE)
                message = result.get("message", "") if status != PASS else ""
                if status == NOT_GRADABLE:
                    message = f"the submitted code could not be graded: {result.get('message', '')}"
                outcomes.append(CheckOutcome(check["id"], function, step["step"], status, message,
                                             check.get("nodeid", ""), writes_data=True))
            else:
                outcomes.append(CheckOutcome(check["id"], function, step["step"], check["status"],
                                             check.get("message") or "", check.get("nodeid", "")))
    context = GradeContext(student=account_grade["student"], account=account_grade.get("account"),
                           region=account_grade.get("region", ""), target=account_grade.get("target", "aws"),
                           endpoint_url=account_grade.get("endpoint_url"),
                           lab_resources_found=account_grade.get("lab_resources_found"),
                           graded_at=account_grade.get("graded_at"))
    merged = grade(rubric, outcomes, context)
    from_code = {o.id for o in outcomes if o.writes_data and o.status != NOT_GRADABLE}
    for step in merged["steps"]:
        for check in step["checks"]:
            check["source"] = "code" if check["id"] in from_code else "account"
    merged["code"] = {"submission": code.get("submission"), "checks": code.get("checks"), "passed": code.get("passed")}
    for key, value in account_grade.items():  # what the account grade says besides (benchmarks, preflight...)
        merged.setdefault(key, value)
    merged["summary"] += f"; app checks graded from the submitted code: {code.get('passed')} of {code.get('checks')} pass"
    return merged

"""The outcome vocabulary: the one place its spellings live. Plain Python, no pytest.

A check that is neither passed nor failed is skipped with a reason that starts with its kind
("emulator-limited: moto has no SecondaryAvailabilityZone"); the terminal summary groups by
that kind, grading turns it into a status, `dblab parity` into the README's table. Building
such a reason and reading it back both happen here, so the two cannot drift apart.

A grade's statuses (grades/<student>.json, the gradebook, the scorecard) are spelled here too:
`blocked` and `not_gradable` are both a skip kind and a status, with one spelling each.
"""

from __future__ import annotations

# A grade's check and step statuses (the grade JSON contract).
PASS = "pass"
FAIL = "fail"
BLOCKED = "blocked"  # a prerequisite step is missing: this check was not run (fixtures/steps.py)
NOT_GRADABLE = "not_gradable"  # the grader could not look: denied, refused write, never writes when grading

# Kinds of skip that say why a check could not be verified on this target; graded, they are
# not_gradable (the grader's limit, not the student's).
EMULATOR_LIMITED = "emulator-limited"  # the emulator cannot show this; real AWS can
NOT_REACHABLE = "not-reachable"  # the data plane is private and no URL or tunnel was given

SKIP_KINDS = (BLOCKED, EMULATOR_LIMITED, NOT_REACHABLE, NOT_GRADABLE)  # the order the terminal lists them
OTHER_SKIP = "skipped"  # a plain pytest.skip: not one of the kinds above
_SKIPPED_PREFIX = "Skipped: "  # pytest's prefix of a skip report's reason


def skip_message(kind: str, reason: str) -> str:
    """The text to skip with: 'not-reachable: pass --lab-mysql-url'."""
    if kind not in SKIP_KINDS:
        raise ValueError(f"unknown outcome kind {kind!r}; one of {', '.join(SKIP_KINDS)}")
    return f"{kind}: {reason}"


def classify_skip(reason: str) -> str:
    """The kind a skip reason starts with, or OTHER_SKIP."""
    for kind in SKIP_KINDS:
        if reason.startswith(kind):
            return kind
    return OTHER_SKIP


def skip_detail(reason: str) -> str:
    """What follows the kind: 'emulator-limited: no X' -> 'no X' (a reason of no kind, whole)."""
    if classify_skip(reason) == OTHER_SKIP:
        return reason
    return reason.split(":", 1)[1].strip() if ":" in reason else ""


def status_of_skip(reason: str) -> str:
    """A skipped check's grade status: blocked when a prerequisite is missing, else not_gradable."""
    return BLOCKED if classify_skip(reason) == BLOCKED else NOT_GRADABLE


def skip_reason(report) -> str:
    """The reason of a skipped pytest report, without pytest's 'Skipped: ' prefix.

    A skip's longrepr is (path, line, "Skipped: reason"); duck-typed so this module needs no pytest.
    """
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return str(reason).removeprefix(_SKIPPED_PREFIX)


def skip_longrepr(path: str, line: int, message: str) -> tuple[str, int, str]:
    """A skip's longrepr as pytest builds it, for a report turned into a skip after the fact."""
    return (path, line, _SKIPPED_PREFIX + message)


def blocked_by(reason: str) -> str | None:
    """The prerequisite named by a blocked reason: 'blocked: step 1.3 (its title)
    failed in ...' (fixtures/steps.py) -> '1.3'."""
    words = reason.split()
    if "step" in words and words.index("step") + 1 < len(words):
        return words[words.index("step") + 1]
    return None

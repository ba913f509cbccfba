"""The grading rubric: points per lab step, and a weight and a hint per check.

A check may also carry a `note`: the grading decision an instructor should be able to read
beside it (what the check credits that the lab's text gets wrong, a trace a later lab step
leaves that it does not count). Notes are for the instructor; hints are for the student.

Loaded from a TOML file (grading/rubric.toml, or an instructor's own). Every problem is a
RubricError whose message is one line naming the file and what to fix.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from provisioning.catalogue import lab_titles, load_steps, step_sort_key

RUBRIC_FILE = Path(__file__).with_name("rubric.toml")
TOTAL_POINTS = 100


class RubricError(ValueError):
    """A rubric that cannot be graded with; the message is one line."""


@dataclass(frozen=True)
class RubricCheck:
    id: str  # the check's test function name
    step: str
    hint: str
    weight: Fraction = Fraction(1)
    # Another check of the same step that must pass for this one to count: a check that passes
    # when there is nothing to look at ("CUST-002 has no orders" before the app ever ran) is no
    # evidence on its own.
    requires: str | None = None
    # The grading decision behind the check, for the instructor (see the module docstring).
    note: str | None = None


@dataclass(frozen=True)
class RubricStep:
    id: str
    title: str
    points: Fraction
    checks: dict[str, RubricCheck]

    @property
    def lab(self) -> str:
        return self.id.split(".")[0]


@dataclass(frozen=True)
class Rubric:
    version: str
    path: Path
    steps: dict[str, RubricStep]  # in lab order
    labs: dict[str, str]  # lab number -> title, from the step catalogue

    def check(self, step: str, check_id: str) -> RubricCheck | None:
        rubric_step = self.steps.get(step)
        return rubric_step.checks.get(check_id) if rubric_step else None

    def lab_title(self, step: str) -> str:
        number = step.split(".")[0]
        title = self.labs.get(number)
        return f"Lab {number}: {title}" if title else f"Lab {number}"

    def validate_checks(self, collected: dict[str, str]) -> None:
        """`collected` maps each collected check (test function name) to its step.

        Every rubric check must exist with the step the rubric files it under, and every
        collected check of a graded step needs a rubric entry (or a lost point has no hint).
        """
        for step in self.steps.values():
            for check in step.checks.values():
                if check.id not in collected:
                    self._fail(f"step {step.id}: check {check.id} is not among the collected checks "
                               "(renamed or removed? grade with the whole suite, without file arguments or -k)")
                if collected[check.id] != step.id:
                    self._fail(f"check {check.id} is listed under step {step.id} but is marked step {collected[check.id]}")
        for check_id, step in sorted(collected.items()):
            if step in self.steps and check_id not in self.steps[step].checks:
                self._fail(f"step {step}: check {check_id} has no entry (add it with a hint)")

    def _fail(self, problem: str):
        raise RubricError(f"rubric {self.path}: {problem}")


def _number(value, where: str, path: Path) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RubricError(f"rubric {path}: {where} must be a number >= 0, not {value!r}")
    return Fraction(str(value))


CHECK_KEYS = ("hint", "weight", "requires", "note")
KEYS = ", ".join(CHECK_KEYS)


def _check(step_id: str, check_id: str, entry, path: Path) -> RubricCheck:
    where = f"step {step_id}: check {check_id}"
    if isinstance(entry, str):
        entry = {"hint": entry}
    if not isinstance(entry, dict):
        raise RubricError(f"rubric {path}: {where} must be a hint string or a table with {KEYS}")
    unknown = set(entry) - set(CHECK_KEYS)
    if unknown:
        raise RubricError(f"rubric {path}: {where} has unknown key(s) {', '.join(sorted(unknown))} ({KEYS})")
    hint = entry.get("hint")
    if not isinstance(hint, str) or not hint.strip():
        raise RubricError(f"rubric {path}: {where} has no hint (every lost point needs one)")
    requires = entry.get("requires")
    if requires is not None and (not isinstance(requires, str) or requires == check_id):
        raise RubricError(f"rubric {path}: {where}: requires names another check of step {step_id}")
    note = entry.get("note")
    if note is not None and (not isinstance(note, str) or not note.strip()):
        raise RubricError(f"rubric {path}: {where}: note must be a non-empty string (the decision, for the instructor)")
    return RubricCheck(check_id, step_id, hint.strip(), _number(entry.get("weight", 1), f"{where}: weight", path),
                       requires, note.strip() if note else None)


def load_rubric(path: Path | str | None = None) -> Rubric:
    path = Path(path) if path is not None else RUBRIC_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RubricError(f"rubric {path}: no such file (--lab-rubric takes a path to a rubric .toml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"rubric {path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"rubric {path}: not valid TOML ({exc})") from None

    version = data.get("version")
    if not isinstance(version, (str, int, float)) or isinstance(version, bool) or not str(version).strip():
        raise RubricError(f"rubric {path}: needs a version, e.g. version = \"2025.1\"")
    # Lab titles come from the step catalogue; a [labs] table of an older rubric is ignored.
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, dict) or not raw_steps:
        raise RubricError(f"rubric {path}: has no [steps.\"1.1\"] tables")

    catalogue = load_steps()
    steps: dict[str, RubricStep] = {}
    owner: dict[str, str] = {}
    for step_id, entry in raw_steps.items():
        if step_id not in catalogue:
            raise RubricError(f"rubric {path}: step {step_id} is not a lab step (see provisioning/catalogue.toml)")
        if not isinstance(entry, dict) or "points" not in entry:
            raise RubricError(f"rubric {path}: step {step_id} needs points")
        unknown = set(entry) - {"points", "checks"}
        if unknown:
            raise RubricError(f"rubric {path}: step {step_id} has unknown key(s) {', '.join(sorted(unknown))} (points, checks)")
        points = _number(entry["points"], f"step {step_id}: points", path)
        raw_checks = entry.get("checks", {})
        if not isinstance(raw_checks, dict):
            raise RubricError(f"rubric {path}: step {step_id}: checks must be a table of check = hint")
        checks = {check_id: _check(step_id, check_id, value, path) for check_id, value in raw_checks.items()}
        for check in checks.values():
            if check.requires and check.requires not in checks:
                raise RubricError(f"rubric {path}: step {step_id}: check {check.id} requires {check.requires}, "
                                  f"which is not a check of step {step_id}")
        for check_id in checks:
            if check_id in owner:
                raise RubricError(f"rubric {path}: check {check_id} is listed under steps {owner[check_id]} and {step_id}")
            owner[check_id] = step_id
        if points and not any(check.weight for check in checks.values()):
            raise RubricError(f"rubric {path}: step {step_id} has {points} points but no check (with a weight) to earn them")
        steps[step_id] = RubricStep(step_id, catalogue[step_id].title, points, checks)

    total = sum(step.points for step in steps.values())
    if total != TOTAL_POINTS:
        raise RubricError(f"rubric {path}: step points add up to {float(total):g}, not {TOTAL_POINTS}")
    ordered = dict(sorted(steps.items(), key=lambda item: step_sort_key(item[0])))
    return Rubric(str(version).strip(), path, ordered, lab_titles())

"""The README's parity section says what a local run shows: every cell of its table (step, check,
local outcome, where it is verified) and every count its prose gives. Both are compared with a
fresh `pytest -m local` made here, through the code that writes the table (`dblab parity`), so
a check that starts failing or skipping locally, or a new note, makes the README wrong and this
test fail (a list of names alone would not notice)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from dblab import parity
from provisioning.outcomes import EMULATOR_LIMITED

from .conftest import REPO_ROOT

SECTION = "## Parity: what is verified where"
COLUMNS = ("step", "check", "locally", "verified on")
REGENERATE = "regenerate it with `.venv/bin/pytest -m local && .venv/bin/dblab parity`"
# A table row as `dblab parity` prints it: the first three cells hold no '|', the last may.
ROW = re.compile(r"^\| (?P<step>[\d.]+) \| `(?P<check>[^`]+)` \| (?P<local>[^|]+?) \| (?P<where>.*) \|$")
# The counts the prose states; each must be found, so rewording the prose fails here first.
PROSE_COUNTS = {
    "verified locally": r"Locally, (\d+) of the \d+ checks are verified",
    "checks": r"Locally, \d+ of the (\d+) checks are verified",
    "emulator-limited": r"(\d+) report `emulator-limited`",
    "checks in the table's summary": r"<summary>All (\d+) checks</summary>",
}


@pytest.fixture(scope="module")
def fresh_junit(tmp_path_factory):
    """The JUnit report of a local run of the whole lab, made for this test (about 15 s)."""
    out = tmp_path_factory.mktemp("parity")
    junit = out / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-m", "local", "-p", "no:cacheprovider", "-q",
               "--junitxml", str(junit), f"--lab-reports-dir={out / 'reports'}"]
    # Under `make test -n`, the xdist worker's variables would leak into the child run.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}
    result = subprocess.run(command, cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=600)
    # Its exit status is not asserted: a check failing locally is a row ("FAILED") the README
    # does not have, and the row comparison names it.
    assert junit.is_file(), f"`pytest -m local` wrote no report:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
    return junit


def readme_section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    assert SECTION in readme, f"README.md has no section {SECTION!r}"
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    return readme[start:] if end == -1 else readme[start:end]


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ")]


def cells(line: str) -> tuple[str, str, str, str]:
    match = ROW.match(line)
    assert match, f"README parity row is not in `dblab parity`'s format: {line!r}"
    return match["step"], match["check"], match["local"], match["where"]


def row_differences(readme: list[tuple], fresh: list[tuple]) -> list[str]:
    """Each check whose row differs, column by column; rows only one side has; a changed order."""
    by_check_readme = {row[1]: row for row in readme}
    by_check_fresh = {row[1]: row for row in fresh}
    problems = []
    for check in sorted(by_check_readme.keys() | by_check_fresh.keys()):
        said, seen = by_check_readme.get(check), by_check_fresh.get(check)
        if said is None:
            problems.append(f"{check}: not in the README; the run shows {seen}")
        elif seen is None:
            problems.append(f"{check}: in the README ({said}), not in the run")
        else:
            problems += [f"{check}: column {column!r}: README says {a!r}, the run shows {b!r}"
                         for column, a, b in zip(COLUMNS, said, seen) if a != b]
    if not problems and readme != fresh:
        problems.append("the README lists the rows in another order than `dblab parity` prints them")
    if len(by_check_readme) != len(readme):
        problems.append("the README lists a check twice")
    return problems


def test_parity_table_matches_a_fresh_local_run_cell_by_cell(fresh_junit):
    generated = parity.table(fresh_junit).splitlines()
    written = table_lines(readme_section())
    assert written[:2] == generated[:2], f"README parity table's header differs from `dblab parity`'s: {written[:2]}"
    problems = row_differences([cells(line) for line in written[2:]], parity.rows(fresh_junit))
    assert not problems, "README parity table is out of date; " + REGENERATE + ":\n" + "\n".join(problems)


def test_parity_prose_counts_match_a_fresh_local_run(fresh_junit):
    rows = parity.rows(fresh_junit)
    actual = {
        "verified locally": sum(1 for row in rows if row[2] == "verified"),
        "checks": len(rows),
        "emulator-limited": sum(1 for row in rows if row[2] == EMULATOR_LIMITED),
        "checks in the table's summary": len(rows),
    }
    section = readme_section()
    stated = {}
    for what, pattern in PROSE_COUNTS.items():
        found = re.search(pattern, section)
        assert found, f"README parity section no longer states the {what} count ({pattern!r}): update this test"
        stated[what] = int(found.group(1))
    wrong = {what: f"README says {stated[what]}, the run shows {actual[what]}"
             for what in PROSE_COUNTS if stated[what] != actual[what]}
    assert not wrong, f"README parity prose is out of date ({wrong}); " + REGENERATE + " and update the counts"

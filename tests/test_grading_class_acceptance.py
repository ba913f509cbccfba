"""Issue 11's acceptance, measured: a class of 30 emulated accounts (3 with the lab's own commands
replayed into them, 27 empty) and 1 student whose profile does not exist, graded with `dblab
grade` in at most 6 times the time one replayed account takes alone (measured in the same run;
the time itself, which the issue wants at most 20 s on the 2-core machine, is recorded); then
every grade of that class regraded from its evidence alone, offline, to the identical score and
statuses; one changed byte refused; a rubric with other weights giving the new scores without any
account.

The numbers go to reports/class-proof/acceptance.json, which the README quotes. Grading a class
twice and regrading it is slower than make test should be: make class-proof runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from provisioning import naming
from provisioning.lab_replay import run_replay_in_process

from .conftest import MEASURED, REPO_ROOT
from .test_grading_evidence import _regrade  # offline: in a network namespace where nothing answers
from .test_grading_roster import ROLE, _assumed, _dblab_grade

pytestmark = pytest.mark.class_proof

REPLAYED, EMPTY = 3, 27
STUDENTS = [f"c{n:02d}" for n in range(REPLAYED + EMPTY)]
BAD = "nobody"
RATIO_LIMIT, SECONDS_LIMIT = 6.0, 20.0
RESULTS = REPO_ROOT / "reports" / "class-proof" / "acceptance.json"


def _account(student: str) -> str:
    return f"{250000000000 + int(student[1:])}"


def _roster(path: Path, students: list[str], bad: bool) -> Path:
    rows = ["student,credentials,region"] + [f"{s},{ROLE.format(account=_account(s))},{naming.REGION}" for s in students]
    if bad:
        rows.append(f"{BAD},no-such-profile,{naming.REGION}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _timed_grade(roster: Path, reports: Path, endpoint: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    result = _dblab_grade(roster, reports, endpoint=endpoint)
    return time.monotonic() - start, result


@pytest.fixture(scope="module")
def graded_class(moto_server, tmp_path_factory, request):
    moto_server.reset()
    directory = tmp_path_factory.mktemp("class")
    for student in STUDENTS[:REPLAYED]:
        credentials = _assumed(moto_server.endpoint_url, ROLE.format(account=_account(student)))
        replay = run_replay_in_process(moto_server.endpoint_url, credentials={
            "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": credentials["aws_session_token"]})
        assert replay.ok, replay
    one_seconds, one = _timed_grade(_roster(directory / "one.csv", STUDENTS[:1], bad=False), directory / "one",
                                    moto_server.endpoint_url)
    assert one.returncode == 0, one.stdout + one.stderr
    class_seconds, result = _timed_grade(_roster(directory / "class.csv", STUDENTS, bad=True), directory / "reports",
                                         moto_server.endpoint_url)
    numbers = {"one_replayed_account_seconds": round(one_seconds, 2), "class_seconds": round(class_seconds, 2),
               "ratio": round(class_seconds / one_seconds, 2), "accounts": len(STUDENTS) + 1,
               "replayed": REPLAYED, "empty": EMPTY, "bad_profile": 1, "cores": os.cpu_count(),
               "within_20_s": class_seconds <= SECONDS_LIMIT,
               "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(numbers, indent=1) + "\n")
    request.config.stash.setdefault(MEASURED, []).append(
        f"class acceptance: one replayed account {one_seconds:.1f} s, the class of {len(STUDENTS) + 1}: "
        f"{class_seconds:.1f} s: {class_seconds / one_seconds:.1f}x (at most {RATIO_LIMIT:g}x asserted; "
        f"{'within' if numbers['within_20_s'] else 'over'} the issue's {SECONDS_LIMIT:g} s on {os.cpu_count()} "
        f"core(s), recorded); {RESULTS.relative_to(REPO_ROOT)}")
    return directory / "reports", result, numbers


def _grade(reports: Path, student: str) -> dict:
    return json.loads((reports / "grades" / f"{student}.json").read_text())


def _statuses(grade: dict) -> dict:
    return {check["id"]: (check["status"], check["points"]) for step in grade["steps"] for check in step["checks"]}


def test_the_class_is_graded_within_6x_one_account(graded_class):
    reports, result, numbers = graded_class
    assert result.returncode == 1, result.stdout + result.stderr  # nobody could not be graded
    assert f"{BAD}: not gradable: profile no-such-profile" in result.stdout
    assert sorted(path.stem for path in (reports / "grades").glob("*.json")) == sorted(STUDENTS + [BAD])
    replayed = [_grade(reports, s) for s in STUDENTS[:REPLAYED]]
    assert all(grade["score"] > 0 for grade in replayed), [g["summary"] for g in replayed]
    assert all(_grade(reports, s)["score"] == 0 for s in STUDENTS[REPLAYED:])
    assert numbers["class_seconds"] <= RATIO_LIMIT * numbers["one_replayed_account_seconds"], numbers
    # The other bound, 20 s on the 2-core machine, is recorded (acceptance.json, README), not
    # asserted: it is the machine's (14-16 s on 2026-12-01's host, 23-28 s on a slower one; README).


@pytest.fixture(scope="module")
def regraded(graded_class):
    reports, _, _ = graded_class
    result = _regrade("--evidence", str(reports / "evidence"))
    assert result.returncode == 0, result.stdout + result.stderr
    return reports / "regraded"


def test_every_grade_of_the_class_regrades_to_the_same_score_and_statuses(graded_class, regraded):
    reports, _, _ = graded_class
    for student in STUDENTS + [BAD]:
        before, after = _grade(reports, student), _grade(regraded, student)
        assert (after["score"], after["max_score"]) == (before["score"], before["max_score"]), student
        assert _statuses(after) == _statuses(before), student
        assert [s["status"] for s in after["steps"]] == [s["status"] for s in before["steps"]], student


def test_one_changed_byte_is_refused(graded_class, tmp_path):
    reports, _, _ = graded_class
    evidence = tmp_path / "evidence"
    shutil.copytree(reports / "evidence", evidence)
    victim = sorted((evidence / STUDENTS[1] / "aws").glob("*.json"))[-1]
    victim.write_bytes(victim.read_bytes().replace(b'"', b"'", 1))
    result = _regrade("--evidence", str(evidence), "--reports", str(tmp_path / "out"))
    assert result.returncode == 2 and str(victim) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_rubric_with_other_weights_gives_the_new_scores_without_any_account(graded_class, tmp_path):
    reports, _, _ = graded_class
    rubric = (REPO_ROOT / "grading" / "rubric.toml").read_text()
    changed = tmp_path / "rubric.toml"
    changed.write_text(rubric.replace('[steps."1.1"]\npoints = 8\n', '[steps."1.1"]\npoints = 14\n')
                       .replace('[steps."3.1"]\npoints = 8\n', '[steps."3.1"]\npoints = 2\n'))
    result = _regrade("--evidence", str(reports / "evidence"), "--reports", str(tmp_path / "out"),
                      "--lab-rubric", str(changed))
    assert result.returncode == 0, result.stdout + result.stderr
    for student in STUDENTS[:REPLAYED]:
        before, after = _grade(reports, student), _grade(tmp_path / "out", student)
        network = next(step for step in after["steps"] if step["step"] == "1.1")
        assert network["status"] == "pass" and network["points"] == 14
        assert after["score"] == before["score"] + 6, (student, before["summary"], after["summary"])
        assert _statuses(after).keys() == _statuses(before).keys()
    assert _grade(tmp_path / "out", BAD)["max_score"] == 0

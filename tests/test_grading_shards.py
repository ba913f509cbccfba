"""Grading a class past one machine (issue 11): `dblab grade --shard K/N` grades a stable share of
the roster, `dblab gradebook merge` joins the shards' reports. A class of emulated accounts (moto
serves each through sts:AssumeRole, as in test_grading_roster.py) graded in one run and graded
as 3 shards then merged gives the same gradebook and the same grades."""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dblab import gradebook_merge, shards
from grading import gradebook
from provisioning import lab, naming
from provisioning.aws import AwsTarget
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password

from .conftest import REPO_ROOT
from .test_grading_roster import ROLE, AccountClients, _assumed, _dblab_grade

# Grades a class three times over (about 75 s of one core): make class-proof runs it, not make test.
pytestmark = pytest.mark.class_proof

# What differs between two gradings of the same account: when, and how long it took. The rest of
# a grade (every step, check, message, point, the account, the notes) is the same.
VARYING = ("graded_at", "duration_seconds")
STUDENTS = [f"s{n:02d}" for n in range(6)]
# s00 built the whole lab, s01 all of it but 5.1 and 5.2 (fail and blocked rows); the others nothing.
PROVISIONED = {"s00": (), "s01": ("5.1", "5.2")}
SHARDS = 3


def _account(student: str) -> str:
    return f"{230000000000 + int(student[1:])}"


def _build_lab(clients, without: tuple[str, ...]) -> None:
    ctx = ProvisionContext(clients=clients, run_id="shards", dataplane=DataPlane(),
                           master_password=generate_password(), log=lambda message: None)
    steps = [step for step in lab.provisioning_steps() if step.step not in without]
    failed = [r for r in lab.provision(ctx, steps) if r.error]
    assert not failed, failed


# --- shard membership ----------------------------------------------------------------------------

def _names(count: int) -> list[str]:
    return [f"student{n}" for n in range(count)] + ["alice", "bob.smith", "c+d@example.org", "Z-9"]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 10])
def test_every_student_is_in_exactly_one_shard(count):
    names = _names(200)
    holders = {name: [k for k in range(1, count + 1) if shards.Shard(k, count).holds(name)] for name in names}
    assert all(len(found) == 1 for found in holders.values()), {n: f for n, f in holders.items() if len(f) != 1}
    chosen = [shards.choose([argparse.Namespace(student=n) for n in names], shards.Shard(k, count))
              for k in range(1, count + 1)]
    assert sorted(e.student for part in chosen for e in part) == sorted(names)
    if count > 1:  # a hash spreads them: no shard empty or holding most of the class
        assert all(len(part) > len(names) / count / 2 for part in chosen), [len(part) for part in chosen]


def test_membership_depends_on_the_name_only_not_the_rows_around_it():
    entries = [argparse.Namespace(student=n) for n in _names(50)]
    shard = shards.Shard(2, 4)
    mine = {e.student for e in shards.choose(entries, shard)}
    assert {e.student for e in shards.choose(entries[::-1], shard)} == mine  # row order
    first = {e.student for e in entries[:20]}
    assert {e.student for e in shards.choose(entries[:20], shard)} == mine & first  # the other rows
    assert [e.student for e in shards.choose(entries, shard)] == [e.student for e in entries if e.student in mine]
    assert shards.choose(entries, None) == entries


def test_membership_is_the_same_in_every_process_and_release():
    # Pinned: a re-run of shard K must grade the same students as the first run, on any machine.
    assert [shards.shard_of(s, 3) for s in STUDENTS + ["nobody"]] == [2, 3, 3, 1, 2, 3, 1]
    code = "from dblab.shards import shard_of; print([shard_of(f'student{n}', 5) for n in range(40)])"
    seen = {subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert seen == {f"{[shards.shard_of(f'student{n}', 5) for n in range(40)]}\n"}


@pytest.mark.parametrize("value, message", [
    ("", "--shard takes K/N, shard K of N counted from 1 (e.g. --shard 2/4), not ''"),
    ("3", "--shard takes K/N, shard K of N counted from 1 (e.g. --shard 2/4), not '3'"),
    ("1/3/5", "--shard takes K/N"),
    ("-1/3", "--shard takes K/N"),
    ("a/b", "--shard takes K/N"),
    ("0/3", "--shard 0/3: K must be between 1 and 3"),
    ("4/3", "--shard 4/3: K must be between 1 and 3"),
    ("1/0", "--shard 1/0: N must be at least 1"),
])
def test_a_bad_shard_is_one_line_naming_the_form(value, message):
    with pytest.raises(shards.ShardError) as error:
        shards.parse(value)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    assert "K/N" in str(error.value)


def test_good_shards_parse():
    assert [str(shards.parse(v)) for v in ("1/1", "2/4", " 3 / 3 ")] == ["1/1", "2/4", "3/3"]


def test_dblab_grade_with_a_bad_shard_exits_2_with_one_line(tmp_path):
    roster = tmp_path / "class.csv"
    roster.write_text(f"alice,alice-profile,{naming.REGION}\n")
    result = _dblab_grade(roster, tmp_path / "reports", endpoint=None, extra=("--shard", "4/3"))
    assert result.returncode == 2
    assert result.stderr.strip() == ("dblab grade: --shard 4/3: K must be between 1 and 3 "
                                     "(--shard takes K/N, shard K of N counted from 1 (e.g. --shard 2/4))")
    assert not (tmp_path / "reports").exists()


# --- dblab gradebook merge, on its own ----------------------------------------------------------

def _merge(*argv: str, capsys=None):
    parser = argparse.ArgumentParser(prog="dblab")
    gradebook_merge.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["gradebook", "merge", *argv])
    code = args.run(args)
    return (code, *capsys.readouterr()) if capsys else code


def _toy_grade(student: str, points: float) -> dict:
    return {"student": student, "account": "111111111111", "score": points, "max_score": 10,
            "steps": [{"step": "1.1", "status": "pass", "points": points}]}


def _toy_reports(directory: Path, grades: dict[str, float]) -> Path:
    for student, points in grades.items():
        gradebook.write_grade(directory, _toy_grade(student, points))
        gradebook.write_atomically(gradebook.grade_path(directory, student, ".html"), f"<p>{student}</p>")
        (directory / "logs").mkdir(parents=True, exist_ok=True)
        (directory / "logs" / f"{student}.log").write_text(f"{student} log\n")
    gradebook.build_gradebook(directory)
    return directory


def test_merge_copies_every_students_files_and_rebuilds_the_gradebook(tmp_path, capsys):
    one = _toy_reports(tmp_path / "one", {"alice": 5, "bob": 6})
    two = _toy_reports(tmp_path / "two", {"carol": 7})
    empty = tmp_path / "empty"  # a shard with no student: a gradebook, no grades/
    gradebook.build_gradebook(empty)
    code, out, err = _merge(str(one), str(two), str(empty), "--out", str(tmp_path / "class"), capsys=capsys)
    assert (code, err) == (0, "")
    assert out.strip().splitlines()[-1] == (
        f"merged 3 student(s) from 3 reports directories into {tmp_path / 'class'}; "
        f"gradebook: {tmp_path / 'class' / 'gradebook.csv'}")
    assert sorted(p.name for p in (tmp_path / "class" / "logs").iterdir()) == ["alice.log", "bob.log", "carol.log"]
    assert (tmp_path / "class" / "grades" / "carol.html").read_text() == "<p>carol</p>"
    all_three = _toy_reports(tmp_path / "single", {"alice": 5, "bob": 6, "carol": 7})
    assert (tmp_path / "class" / "gradebook.csv").read_text() == (all_three / "gradebook.csv").read_text()


def test_a_student_in_two_shards_is_an_error_naming_both_unless_identical(tmp_path, capsys):
    one = _toy_reports(tmp_path / "one", {"alice": 5, "bob": 6})
    same = _toy_reports(tmp_path / "same", {"bob": 6})
    other = _toy_reports(tmp_path / "other", {"bob": 2})
    assert _merge(str(one), str(same), "--out", str(tmp_path / "ok"), capsys=capsys)[0] == 0
    code, out, err = _merge(str(one), str(other), "--out", str(tmp_path / "class"), capsys=capsys)
    assert code == 2 and out == ""
    assert err == (f"dblab gradebook merge: student bob is graded in both {one} and {other}, differently: "
                   "keep one of the two grades/bob.json (a student belongs to one shard)\n")
    assert not (tmp_path / "class").exists(), "nothing is written when the merge is refused"


def test_a_different_grade_already_in_out_needs_force(tmp_path, capsys):
    one = _toy_reports(tmp_path / "one", {"alice": 5})
    out_dir = _toy_reports(tmp_path / "class", {"alice": 1, "zoe": 3})
    code, _, err = _merge(str(one), "--out", str(out_dir), capsys=capsys)
    assert code == 2 and err.startswith(f"dblab gradebook merge: student alice is graded in both {one} and {out_dir}")
    assert err.strip().endswith(f"--force replaces {out_dir / 'grades' / 'alice.json'}") and err.count("\n") == 1
    assert _merge(str(one), "--out", str(out_dir), "--force", capsys=capsys)[0] == 0
    rows = list(csv.DictReader((out_dir / "gradebook.csv").open()))
    assert [(r["student"], r["score"]) for r in rows] == [("alice", "5"), ("zoe", "3")]


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "no such directory"),
    (lambda d: d.mkdir(), "not a reports directory (no grades/ and no gradebook.csv)"),
])
def test_a_directory_that_is_not_reports_is_one_line(tmp_path, capsys, make, message):
    make(tmp_path / "shard")
    code, _, err = _merge(str(tmp_path / "shard"), "--out", str(tmp_path / "class"), capsys=capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"dblab gradebook merge: {tmp_path / 'shard'}: {message}")


# --- a class of emulated accounts, graded whole and in 3 shards ------------------------------------

@pytest.fixture(scope="module")
def sharded_class(moto_server, tmp_path_factory):
    """s00..s05 in their own emulated accounts (s00 and s01 built the lab), plus one whose profile
    does not exist: graded in one run, and in 3 shards (3 machines) merged afterwards."""
    moto_server.reset()
    start = time.monotonic()
    for student, without in PROVISIONED.items():
        credentials = _assumed(moto_server.endpoint_url, ROLE.format(account=_account(student)))
        _build_lab(AccountClients(AwsTarget(endpoint_url=moto_server.endpoint_url), credentials), without)
    built = time.monotonic() - start
    directory = tmp_path_factory.mktemp("shards")
    roster = directory / "roster.csv"
    roster.write_text("student,credentials,region\n"
                      + "".join(f"{s},{ROLE.format(account=_account(s))},{naming.REGION}\n" for s in STUDENTS)
                      + f"nobody,no-such-profile,{naming.REGION}\n")
    endpoint = moto_server.endpoint_url
    start = time.monotonic()
    whole = _dblab_grade(roster, directory / "whole", endpoint=endpoint, extra=("--jobs", "2"))
    one_run = time.monotonic() - start
    start = time.monotonic()
    with ThreadPoolExecutor(SHARDS) as pool:  # three machines, one job each
        runs = list(pool.map(lambda k: _dblab_grade(roster, directory / f"reports-shard-{k}", endpoint=endpoint,
                                                    extra=("--jobs", "1", "--shard", f"{k}/{SHARDS}")),
                             range(1, SHARDS + 1)))
    sharded = time.monotonic() - start
    merged = directory / "merged"
    code = _merge(*(str(directory / f"reports-shard-{k}") for k in range(1, SHARDS + 1)), "--out", str(merged))
    print(f"lab built in {built:.1f}s; one run {one_run:.1f}s; 3 shards {sharded:.1f}s")
    return argparse.Namespace(roster=roster, directory=directory, whole=whole, runs=runs, merge_code=code,
                              merged=merged, seconds=(built, one_run, sharded))


def _rows(reports: Path) -> list[dict]:
    with open(reports / "gradebook.csv", newline="") as file:
        return list(csv.DictReader(file))


def _without_timing(grade: dict) -> dict:
    # The evidence's manifest holds when each answer came, so its digest differs too; which answers
    # each check judged (its files, named by question and answer) does not.
    return {key: value for key, value in grade.items() if key not in VARYING + ("evidence",)}


def test_the_merged_gradebook_is_the_one_run_gradebook_row_for_row(sharded_class, request):
    request.node.user_properties.append(("seconds", [round(s, 1) for s in sharded_class.seconds]))
    whole, merged = sharded_class.directory / "whole", sharded_class.merged
    assert sharded_class.whole.returncode == 1, sharded_class.whole.stdout + sharded_class.whole.stderr  # nobody
    assert sharded_class.merge_code == 0
    assert (merged / "gradebook.csv").read_text() == (whole / "gradebook.csv").read_text()
    rows = {row["student"]: row for row in _rows(merged)}
    assert list(rows) == sorted(STUDENTS + ["nobody"])
    assert [s for s in STUDENTS if float(rows[s]["score"]) > 0] == list(PROVISIONED)
    assert (rows["s01"]["5.1"], rows["s01"]["5.2"]) == ("0", "0")  # failed, and blocked by it
    assert rows["nobody"]["1.1"] == ""  # not gradable: an empty cell


def test_every_grade_is_the_same_but_when_and_how_long(sharded_class):
    whole, merged = sharded_class.directory / "whole", sharded_class.merged
    for student in STUDENTS + ["nobody"]:
        one = json.loads(gradebook.grade_path(whole, student).read_text())
        other = json.loads(gradebook.grade_path(merged, student).read_text())
        assert _without_timing(one) == _without_timing(other), student
        assert set(VARYING) & set(one) == ({"graded_at"} if student == "nobody" else set(VARYING)), student


def test_the_merge_holds_every_file_one_run_writes_per_student(sharded_class):
    whole, merged = sharded_class.directory / "whole", sharded_class.merged

    def per_student(reports: Path) -> set[str]:
        return {str(p.relative_to(reports)) for p in reports.rglob("*")
                if p.is_file() and p.parent != reports and p.parent.name != "allure-results"}

    assert per_student(merged) == per_student(whole)
    assert {"grades/s00.html", "logs/s00.log", "junit/s00.xml", "grades/nobody.json"} <= per_student(merged)
    # Every shard's Allure results (named by fresh uuids), for `make report` on the whole class.
    shard_results = sum(len(list((sharded_class.directory / f"reports-shard-{k}" / "allure-results").glob("*")))
                        for k in range(1, SHARDS + 1))
    assert shard_results and len(list((merged / "allure-results").glob("*"))) == shard_results


def test_each_shard_grades_and_lists_its_own_students_only(sharded_class):
    for k, run in enumerate(sharded_class.runs, start=1):
        mine = sorted(s for s in STUDENTS + ["nobody"] if shards.shard_of(s, SHARDS) == k)
        reports = sharded_class.directory / f"reports-shard-{k}"
        assert run.stdout.splitlines()[0] == f"shard {k}/{SHARDS}: {len(mine)} of the roster's 7 student(s)"
        assert [r["student"] for r in _rows(reports)] == mine, run.stdout + run.stderr
        assert sorted(p.stem for p in (reports / "grades").glob("*.json")) == mine
        assert run.returncode == (1 if "nobody" in mine else 0), run.stdout + run.stderr


def test_a_shard_run_does_not_claim_other_students_grade_files(sharded_class, moto_server, tmp_path):
    # One reports directory shared by every shard (one machine, run after run): the shard's
    # gradebook has its rows only, though every student's grade file is there.
    shared = tmp_path / "shared"
    shutil.copytree(sharded_class.directory / "whole", shared)
    result = _dblab_grade(sharded_class.roster, shared, endpoint=moto_server.endpoint_url, extra=("--shard", "2/3"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r["student"] for r in _rows(shared)] == ["s00", "s04"]
    assert "s00: already graded" in result.stdout and "s01" not in result.stdout
    assert len(list((shared / "grades").glob("*.json"))) == 7  # nothing else touched

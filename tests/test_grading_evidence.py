"""Issue 11, evidence and offline regrading: every grade saves the answers it judged under
reports/evidence/<student>/ with a SHA-256 manifest, the scorecard links each check to them, and
`dblab regrade --evidence` grades again from them alone (here: in a network namespace with no
network at all): the same rubric gives the same grade, another rubric the new grade, changed
evidence is refused in one line, and a question nothing was recorded for is not_gradable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grading.evidence import MANIFEST, read_manifest, sha256_file
from provisioning import naming
from provisioning.aws import AwsTarget

from .conftest import REPO_ROOT
from .test_grading_roster import ROLE, AccountClients, _assumed, _dblab_grade
from .test_grading_shards import _build_lab

VARYING = ("graded_at", "duration_seconds", "evidence")
FULL, EMPTY = "e00", "e01"


def _account(student: str) -> str:
    return f"{240000000000 + int(student[1:])}"


def _can_unshare_network() -> bool:
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0


def _regrade(*argv: str, offline: bool = True) -> subprocess.CompletedProcess:
    # With unshare -n the regrade runs where no address answers, loopback included: nothing of it
    # can reach AWS or the emulator that served the grade.
    prefix = ["unshare", "-n"] if offline and _can_unshare_network() else []
    return subprocess.run([*prefix, sys.executable, "-m", "dblab", "regrade", *argv], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def graded(moto_server, tmp_path_factory):
    """Two students graded with `dblab grade`: one built the whole lab, one nothing."""
    moto_server.reset()
    directory = tmp_path_factory.mktemp("evidence")
    credentials = _assumed(moto_server.endpoint_url, ROLE.format(account=_account(FULL)))
    _build_lab(AccountClients(AwsTarget(endpoint_url=moto_server.endpoint_url), credentials), ())
    roster = directory / "roster.csv"
    roster.write_text("student,credentials,region\n" + "".join(
        f"{student},{ROLE.format(account=_account(student))},{naming.REGION}\n" for student in (FULL, EMPTY)))
    reports = directory / "reports"
    result = _dblab_grade(roster, reports, endpoint=moto_server.endpoint_url)
    assert (reports / "grades" / f"{EMPTY}.json").is_file(), result.stdout + result.stderr
    return reports, credentials


@pytest.fixture(scope="module")
def regraded(graded):
    reports, _ = graded
    result = _regrade("--evidence", str(reports / "evidence"))
    return reports / "regraded", result  # the default: beside the evidence folder


def _grade(reports: Path, student: str) -> dict:
    return json.loads((reports / "grades" / f"{student}.json").read_text())


def _statuses(grade: dict) -> dict:
    return {check["nodeid"] or check["id"]: (check["status"], check["points"], check["message"])
            for step in grade["steps"] for check in step["checks"]}


def _without(grade: dict, keys=VARYING) -> dict:
    return {key: value for key, value in grade.items() if key not in keys}


# --- what a grade saves ---------------------------------------------------------------------------

def test_every_grade_saves_its_answers_with_a_manifest_of_digests(graded):
    reports, _ = graded
    for student in (FULL, EMPTY):
        folder = reports / "evidence" / student
        manifest = read_manifest(folder)  # every digest checked
        assert manifest["student"] == student and manifest["account"] == _account(student)
        assert len(manifest["files"]) > 20
        answers = [json.loads(path.read_text()) for path in (folder / "aws").glob("*-ec2-DescribeVpcs.json")]
        # The preflight's probes (DryRun: 412 DryRunOperation) are the session's; the checks' own reads are theirs.
        read = next(answer for answer in answers if answer["checks"] != ["session"])
        assert read["kind"] == "aws" and read["subject"] == "ec2:DescribeVpcs" and read["at"].endswith("+00:00")
        assert read["answer"]["status"] == 200 and any(check.startswith("suites/") for check in read["checks"])
        assert _grade(reports, student)["evidence"]["manifest_sha256"] == sha256_file(folder / MANIFEST)


def test_each_check_links_the_answers_it_judged_and_the_scorecard_shows_them(graded):
    reports, _ = graded
    grade = _grade(reports, EMPTY)
    failed = [check for step in grade["steps"] for check in step["checks"] if check["status"] == "fail"]
    assert failed and all(check["evidence"] for check in failed), [c["id"] for c in failed if not c["evidence"]]
    vpc = next(check for step in grade["steps"] for check in step["checks"]
               if check["id"] == "test_exactly_one_vpc_is_named_database_lab_vpc")
    seen = [json.loads((reports / grade["evidence"]["folder"] / file).read_text()) for file in vpc["evidence"]]
    assert any(answer["subject"] == "ec2:DescribeVpcs" and answer["answer"]["response"]["Vpcs"] == [] for answer in seen)
    scorecard = (reports / "grades" / f"{EMPTY}.html").read_text()
    assert f'href="../evidence/{EMPTY}/{vpc["evidence"][0]}"' in scorecard
    assert "what the grader saw" in scorecard


def test_no_secret_reaches_the_evidence(graded):
    reports, credentials = graded
    text = "".join(path.read_text() for path in (reports / "evidence").rglob("*.json"))
    for secret in (credentials["aws_secret_access_key"], credentials["aws_session_token"]):
        assert secret not in text
    assert "MasterUserPassword\": \"" not in text.replace('"<redacted>"', "")


# --- regrading -----------------------------------------------------------------------------------

def test_the_same_rubric_gives_the_same_grade_offline(graded, regraded):
    reports, _ = graded
    out, result = regraded
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("regraded 2 student(s) from ")
    for student in (FULL, EMPTY):
        before, after = _grade(reports, student), _grade(out, student)
        assert _statuses(after) == _statuses(before)
        assert _without(after) == _without(before)
    assert _grade(out, FULL)["score"] > 0 and _grade(out, EMPTY)["score"] == 0


def test_a_changed_byte_is_refused_in_one_line_naming_the_file(graded, tmp_path):
    reports, _ = graded
    evidence = tmp_path / "evidence"
    shutil.copytree(reports / "evidence", evidence)
    victim = sorted((evidence / FULL / "aws").glob("*.json"))[3]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 1
    victim.write_bytes(bytes(data))
    result = _regrade("--evidence", str(evidence), "--reports", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"dblab regrade: {victim}: its SHA-256 does not match the manifest: the "
                                     "evidence was changed after the grade; refusing to regrade from it")
    assert not (tmp_path / "out").exists()  # nobody was regraded


def test_another_rubric_gives_the_new_scores_without_any_account(graded, regraded, tmp_path):
    reports, _ = graded
    rubric = (REPO_ROOT / "grading" / "rubric.toml").read_text()
    assert '[steps."1.1"]\npoints = 8\n' in rubric and '[steps."3.1"]\npoints = 8\n' in rubric
    changed = tmp_path / "rubric.toml"
    # 6 of 3.1's points (the data plane: not gradable without a tunnel) go to the network, 1.1.
    changed.write_text(rubric.replace('[steps."1.1"]\npoints = 8\n', '[steps."1.1"]\npoints = 14\n')
                       .replace('[steps."3.1"]\npoints = 8\n', '[steps."3.1"]\npoints = 2\n')
                       .replace('version = "2025.1"', 'version = "2025.1-heavier-network"'))
    result = _regrade("--evidence", str(reports / "evidence"), "--reports", str(tmp_path / "out"),
                      "--lab-rubric", str(changed))
    assert result.returncode == 0, result.stdout + result.stderr
    before, after = _grade(reports, FULL), _grade(tmp_path / "out", FULL)
    step = next(s for s in before["steps"] if s["step"] == "1.1")
    assert step["points"] == step["max_points"] == 8
    assert (after["score"], after["max_score"]) == (before["score"] + 6, before["max_score"] + 6)
    assert after["rubric_version"] == "2025.1-heavier-network"
    assert _grade(tmp_path / "out", EMPTY)["score"] == 0


def test_a_question_nothing_was_recorded_for_is_not_gradable_never_a_failure(graded, tmp_path):
    """As for a check added since the grade: its answers are not in the evidence."""
    reports, _ = graded
    evidence = tmp_path / "evidence" / FULL
    shutil.copytree(reports / "evidence" / FULL, evidence)
    manifest = json.loads((evidence / MANIFEST).read_text())
    gone = [file for file in manifest["files"] if file.endswith("-ec2-DescribeVpcAttribute.json")]
    assert gone
    for file in gone:
        (evidence / file).unlink()
        del manifest["files"][file]
    (evidence / MANIFEST).write_text(json.dumps(manifest))
    result = _regrade("--evidence", str(evidence), "--reports", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    before, after = _statuses(_grade(reports, FULL)), _statuses(_grade(tmp_path / "out", FULL))
    changed = {nodeid: after[nodeid] for nodeid in before if after[nodeid][0] != before[nodeid][0]}
    assert changed and {status for status, _, _ in changed.values()} == {"not_gradable"}, changed
    dns = next(value for nodeid, value in changed.items() if "test_vpc_has_dns_hostnames_enabled" in nodeid)
    assert "no recorded answer to ec2:DescribeVpcAttribute" in dns[2] and "grade the account again" in dns[2]


def test_a_manifest_rewritten_with_its_files_is_refused_by_the_digest_its_grade_kept(graded, tmp_path):
    reports, _ = graded
    copy = tmp_path / "reports"
    shutil.copytree(reports / "evidence", copy / "evidence")
    shutil.copytree(reports / "grades", copy / "grades")
    folder = copy / "evidence" / EMPTY
    manifest = json.loads((folder / MANIFEST).read_text())
    victim = sorted((folder / "aws").glob("*.json"))[0]
    victim.write_text(victim.read_text() + " ")  # still JSON, another digest
    manifest["files"][victim.relative_to(folder).as_posix()] = sha256_file(victim)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    result = _regrade("--evidence", str(copy / "evidence"), "--reports", str(tmp_path / "out"))
    assert result.returncode == 2 and not (tmp_path / "out").exists()
    assert result.stderr.strip() == (
        f"dblab regrade: {folder / MANIFEST}: its SHA-256 differs from the one {copy / 'grades' / (EMPTY + '.json')} "
        "recorded: the evidence was changed after the grade; refusing to regrade from it")


@pytest.mark.parametrize("make, message", [
    (lambda path: None, "no evidence here"),
    (lambda path: (path / "s1").mkdir() or (path / "s1" / MANIFEST).write_text("{}"), "not a dblab evidence manifest"),
])
def test_a_folder_that_is_not_evidence_is_one_line(tmp_path, make, message):
    make(tmp_path)
    result = _regrade("--evidence", str(tmp_path), offline=False)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) in (["s1"], [])

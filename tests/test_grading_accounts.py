"""Grading whole accounts end to end: an account is built in the emulator (by provisioning, as a
student following the lab would), then `pytest -m aws --lab-grade` grades it in a subprocess
through AWS_ENDPOINT_URL, exactly as an instructor grades a real account."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from grading.rubric import load_rubric
from lookups.inventory import lab_leftovers
from lookups.network import security_group
from provisioning import lab, naming
from provisioning.catalogue import load_steps
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.readonly import is_read
from provisioning.passwords import generate_password

from .conftest import REPO_ROOT

CONTROL_PLANE_STEPS = ("1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.2", "4.1", "4.2", "4.3", "5.1", "5.2")
DATA_PLANE_STEPS = ("2.3", "3.1", "3.2", "5.3")  # no tunnel given: not gradable

# Loaded into the grader with -p: records every AWS operation it attempts, before the
# read-only hook gets a say, so the test sees writes that were tried even if refused.
SPY = """
import json, os
import botocore.client

CALLS = []
_make_api_call = botocore.client.BaseClient._make_api_call

def _spy(self, operation_name, api_params):
    CALLS.append([self.meta.service_model.service_name, operation_name])
    return _make_api_call(self, operation_name, api_params)

botocore.client.BaseClient._make_api_call = _spy

def pytest_unconfigure(config):
    with open(os.environ["DBLAB_SPY_FILE"], "w") as file:
        json.dump(CALLS, file)
"""


@dataclass
class Graded:
    grade: dict
    steps: dict[str, dict]
    calls: list[tuple[str, str]]
    seconds: float
    reports: Path
    result: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def spy_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("spy")
    (directory / "dblab_api_spy.py").write_text(SPY)
    return directory


@pytest.fixture(scope="module")
def grade_account(moto_server, spy_dir, tmp_path_factory):
    def run(student: str, *args: str) -> Graded:
        reports = tmp_path_factory.mktemp(f"grade-{student}")
        environ = {k: v for k, v in os.environ.items() if k not in ("LOCALSTACK_HOST", "AWS_PROFILE")}
        environ.update(AWS_ENDPOINT_URL=moto_server.endpoint_url, PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{spy_dir}",
                       DBLAB_SPY_FILE=str(reports / "calls.json"))
        start = time.monotonic()
        # Options that take a path are given as --opt=PATH: a separate existing path would be taken
        # for a test path before conftest.py declares the option.
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", "aws", "--lab-grade", f"--lab-student={student}", "-q",
             "-p", "no:cacheprovider", "-p", "dblab_api_spy", f"--junitxml={reports / 'junit.xml'}",
             f"--lab-reports-dir={reports}", "--lab-timeout=10", *args],
            cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=300)
        seconds = time.monotonic() - start
        grade_file = reports / "grades" / f"{student}.json"
        assert grade_file.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
        grade = json.loads(grade_file.read_text())
        calls = [tuple(call) for call in json.loads((reports / "calls.json").read_text())]
        return Graded(grade, {s["step"]: s for s in grade["steps"]}, calls, seconds, reports, result)
    return run


def build_lab(clients, without: tuple[str, ...] = ()) -> None:
    ctx = ProvisionContext(clients=clients, run_id="student", dataplane=DataPlane(),
                           master_password=generate_password(), log=lambda message: None)
    steps = [step for step in lab.provisioning_steps() if step.step not in without]
    failed = [r for r in lab.provision(ctx, steps) if r.error]
    assert not failed, failed


@pytest.fixture(scope="module")
def reference(moto_server, session_aws_clients, grade_account, tmp_path_factory) -> Graded:
    """A student who did every step as the lab says."""
    moto_server.reset()
    build_lab(session_aws_clients)
    before = sorted(map(str, lab_leftovers(session_aws_clients)))
    allure_dir = tmp_path_factory.mktemp("allure")
    graded = grade_account("alice", f"--alluredir={allure_dir}")
    graded.allure_dir = allure_dir
    graded.inventory_unchanged = before == sorted(map(str, lab_leftovers(session_aws_clients)))
    return graded


@pytest.fixture(scope="module")
def ssh_open(reference, moto_server, session_aws_clients, grade_account) -> Graded:
    """The whole lab, but SSH to the bastion's group is open to the world."""
    build_lab(session_aws_clients)  # idempotent: adopts what the reference left, rebuilds after a reset
    ec2 = session_aws_clients("ec2")
    group = security_group(ec2, naming.EC2_SG)
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    return grade_account("bob")


@pytest.fixture(scope="module")
def skipped_step(reference, moto_server, session_aws_clients, grade_account) -> Graded:
    """A student who skipped 5.1 (the cache subnet group) and so could not do 5.2."""
    moto_server.reset()
    build_lab(session_aws_clients, without=("5.1", "5.2"))
    return grade_account("carol")


@pytest.fixture(scope="module")
def empty_account(moto_server, grade_account) -> Graded:
    """No lab at all: the wrong region or the wrong account."""
    moto_server.reset()
    return grade_account("dave")


@pytest.fixture(scope="module")
def wrong_region(reference, session_aws_clients, grade_account) -> Graded:
    """The lab is in us-east-1 (the reference account), but the grader looks in eu-west-1."""
    # Built again here: fixtures that ran since may have reset the emulator, and a grade of an empty
    # account would score zero even if --lab-region were ignored.
    build_lab(session_aws_clients)
    assert lab_leftovers(session_aws_clients), "the lab must exist in us-east-1 for this test to mean anything"
    return grade_account("erin", "--lab-region=eu-west-1")


# --- a student who followed the lab -----------------------------------------------------------

@pytest.mark.parametrize("step", CONTROL_PLANE_STEPS)
def test_a_student_who_followed_the_lab_gets_full_points_on_control_plane_step(reference, step):
    entry = reference.steps[step]
    assert (entry["status"], entry["points"]) == ("pass", entry["rubric_points"]), json.dumps(entry, indent=1)


def test_data_plane_steps_without_a_tunnel_are_not_gradable_and_name_the_option(reference):
    for step in DATA_PLANE_STEPS:
        entry = reference.steps[step]
        assert (entry["status"], entry["max_points"]) == ("not_gradable", 0), step
        assert "--lab-mysql-url" in entry["reason"] or "--lab-redis-url" in entry["reason"], entry["reason"]
    left_out = sum(reference.steps[step]["rubric_points"] for step in DATA_PLANE_STEPS)
    assert reference.grade["score"] == reference.grade["max_score"] == 100 - left_out


def test_the_grade_names_the_account_region_target_and_rubric(reference):
    grade = reference.grade
    assert (grade["student"], grade["account"], grade["region"], grade["target"]) == (
        "alice", "123456789012", naming.REGION, "emulator")
    assert grade["rubric_version"] == load_rubric().version
    assert grade["hint"] is None and grade["lab_resources_found"] > 0


def test_grading_reports_how_long_it_took(reference, request):
    # duration_seconds: from pytest's configure to the grade; the wall time adds Python's start-up.
    # Reported, never asserted: timing moves with the machine's load.
    request.node.user_properties.append(("grade_seconds", reference.grade["duration_seconds"]))
    print(f"grading took {reference.grade['duration_seconds']}s in pytest, {reference.seconds:.2f}s wall")
    assert reference.grade["duration_seconds"] > 0


def test_the_gradebook_and_the_scorecard_are_written(reference):
    rows = list(csv.DictReader((reference.reports / "gradebook.csv").open()))
    assert [(row["student"], float(row["score"])) for row in rows] == [("alice", reference.grade["score"])]
    assert rows[0]["2.3"] == "" and float(rows[0]["1.1"]) == reference.steps["1.1"]["points"]
    html = (reference.reports / "grades" / "alice.html").read_text()
    assert "<svg" in html and "<script" not in html


def test_junit_carries_each_checks_points_and_the_grade(reference):
    root = ET.parse(reference.reports / "junit.xml").getroot()
    earned, graded_cases = 0.0, 0
    for case in root.iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if props.get("step") in reference.steps:
            assert props["student"] == "alice" and "max_points" in props, props
            earned += float(props["points"])
            graded_cases += 1
    assert graded_cases > 100
    assert round(earned, 1) == round(reference.grade["score"], 1)
    suite = {p.get("name"): p.get("value") for p in root.find("testsuite/properties")}
    assert (suite["student"], float(suite["score"])) == ("alice", reference.grade["score"])


def test_allure_results_are_labelled_by_student_lab_and_step(reference):
    results = [json.loads(path.read_text()) for path in reference.allure_dir.glob("*-result.json")]
    vpc = next(r for r in results if r["name"].startswith("test_vpc_has_the_lab_cidr"))
    labels = {label["name"]: label["value"] for label in vpc["labels"]}
    assert labels["student"] == labels["parentSuite"] == "alice"
    assert labels["step"] == "1.1" and labels["lab"].startswith("Lab 1")
    assert labels["subSuite"] == f"1.1 {load_steps()['1.1'].title}"


# --- read-only ------------------------------------------------------------------------------------

def test_grading_never_calls_a_write_operation(reference, ssh_open, skipped_step, empty_account, wrong_region):
    for graded in (reference, ssh_open, skipped_step, empty_account, wrong_region):
        writes = sorted({call for call in graded.calls if not is_read(*call)})
        assert not writes, f"{graded.grade['student']}: the grader called {writes}"
        assert ("sts", "GetCallerIdentity") in graded.calls
    assert len(reference.calls) > 100, "the spy saw the grader's calls"
    assert reference.inventory_unchanged


# --- a wrong setting, a skipped step, no lab at all ------------------------------------------------

def test_ssh_open_to_the_world_loses_points_in_1_2_with_a_hint_naming_the_setting(ssh_open):
    step = ssh_open.steps["1.2"]
    assert step["status"] == "fail" and step["points"] < step["max_points"] == step["rubric_points"]
    hinted = [c for c in step["checks"] if c["hint"]]
    assert hinted and all("0.0.0.0/0" in c["message"] and "0.0.0.0/0" in c["hint"] for c in hinted), hinted


def test_a_wrong_setting_costs_nothing_outside_its_step(ssh_open, reference):
    for step_id, step in ssh_open.steps.items():
        if step_id != "1.2":
            expected = reference.steps[step_id]
            assert (step["status"], step["points"]) == (expected["status"], expected["points"]), step_id


def test_a_skipped_step_loses_its_points_and_blocks_its_dependents_only(skipped_step, reference):
    steps = skipped_step.steps
    assert (steps["5.1"]["status"], steps["5.1"]["points"]) == ("fail", 0)
    assert all(c["hint"] for c in steps["5.1"]["checks"])
    for dependent in ("5.2", "5.3"):
        assert steps[dependent]["status"] == "blocked" and steps[dependent]["points"] == 0, dependent
        assert steps[dependent]["blocked_by"] == ["5.1"]
        assert all(c["hint"] is None for c in steps[dependent]["checks"]), "no double penalty in the hints"
    for step_id, step in steps.items():
        if step_id not in ("5.1", "5.2", "5.3"):
            expected = reference.steps[step_id]
            assert (step["status"], step["points"]) == (expected["status"], expected["points"]), step_id


def test_an_account_without_the_lab_scores_zero_with_a_hint_not_a_stack_trace(empty_account):
    grade = empty_account.grade
    assert grade["score"] == 0 and grade["max_score"] > 0
    assert grade["lab_resources_found"] == 0
    assert "region us-east-1" in grade["hint"] and "--lab-region" in grade["hint"]
    assert {s["status"] for s in grade["steps"]} <= {"fail", "blocked", "not_gradable"}
    output = empty_account.result.stdout
    assert "hint: None of the lab's resources" in output
    assert "Traceback" not in output + empty_account.result.stderr


def test_grading_the_wrong_region_scores_zero_with_a_hint_naming_the_region(wrong_region):
    grade = wrong_region.grade
    assert (grade["score"], grade["region"], grade["lab_resources_found"]) == (0, "eu-west-1", 0)
    assert "region eu-west-1" in grade["hint"] and "--lab-region" in grade["hint"]

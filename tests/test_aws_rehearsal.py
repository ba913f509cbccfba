"""Issue 10, the rehearsal: the whole lab provisioned and torn down by the parallel plan against
the emulator made to behave like AWS (--lab-aws-realism), as `pytest -m local --lab-aws-realism=0.002`
runs it: every step succeeds through AWS's state sequences, refusals, eventual consistency and
throttling, independent steps overlap, AWS's orderings hold, and the run leaves its journal and
timeline. (The wall-time proof at a realistic scale is `make aws-proof`.)"""

from __future__ import annotations

import json

import pytest

from provisioning.aws import AwsTarget
from provisioning.environment import EnvironmentSpec, LabEnvironment
from provisioning.journal import journals, still_created

SCALE = 0.002


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory, moto_server):
    # Every embedded moto of this process shares moto's state, and the session's server is alive:
    # start from an empty emulator, whatever an earlier test file of this worker left in it.
    moto_server.reset()
    reports = tmp_path_factory.mktemp("reports")
    lines: list[str] = []
    environment = LabEnvironment(EnvironmentSpec(
        local=True, aws=AwsTarget(), provision=True, run_id="rehearsal", ssh_cidr="198.51.100.10/32", timeout=60,
        workdir=tmp_path_factory.mktemp("servers"), realism=SCALE, reports_dir=reports), log=lines.append)
    try:
        environment.start()
        stats = environment.realism_proxy.stats()
        environment.teardown()
    finally:
        environment.close()
    timeline = json.loads((reports / "runs" / "rehearsal" / "timeline.json").read_text())
    yield environment, {phase["phase"]: phase for phase in timeline["phases"]}, lines, stats, reports


def test_every_step_succeeds_against_aws_behaviour(rehearsal):
    environment, _, _, stats, _ = rehearsal
    assert [r.step for r in environment.provision_results if not r.ok] == []
    assert [r.step for r in environment.teardown_results if not r.ok] == []
    # The proxy did make it behave like AWS: states rewritten, and some calls throttled (retried).
    assert stats["rewritten"] > 0 and stats["requests"] > 100


def test_independent_steps_overlap_and_aws_orderings_hold(rehearsal):
    _, phases, _, _, _ = rehearsal
    steps = {step["step"]: step for step in phases["provisioning"]["steps"]}
    assert steps["4.1"]["started"] < steps["1.1"]["ended"]  # the table does not wait for the VPC
    assert steps["5.2"]["started"] < steps["1.4"]["ended"]  # the cache group does not wait for RDS
    assert steps["2.2"]["started"] >= steps["2.1"]["ended"]  # no replica of a modifying instance
    assert steps["3.2"]["started"] >= steps["2.3"]["ended"]
    teardown = {step["step"]: step for step in phases["teardown"]["steps"]}
    assert teardown["7.4"]["started"] >= max(teardown["7.1"]["ended"], teardown["7.3"]["ended"])
    assert phases["provisioning"]["critical_steps"][0] == "1.1"


def test_each_resource_reports_its_state_while_it_is_waited_for(rehearsal):
    _, _, lines, _, _ = rehearsal
    waits = [line for line in lines if line.startswith("waiting: ")]
    assert any(line.startswith("waiting: RDS instance database-lab-mysql: creating (") for line in waits)
    assert any("modifying, pending MultiAZ" in line for line in waits)
    assert any(line.startswith("waiting: replication group database-lab-redis: creating (") for line in waits)


def test_the_journal_holds_every_create_and_the_teardown_cancelled_them(rehearsal):
    _, _, _, _, reports = rehearsal
    entries = journals(reports)["rehearsal"]
    assert {e.kind for e in entries if e.event == "created"} >= {
        "VPC", "subnet", "security group", "RDS instance", "DynamoDB table", "ElastiCache replication group",
        "EC2 instance", "key pair"}
    # What moto cannot delete stays (the replication group is `deleting` forever, its subnet group).
    assert {e.kind for e in still_created(entries)} <= {"ElastiCache replication group", "cache subnet group"}
    assert (reports / "runs" / "rehearsal" / "timeline.html").is_file()

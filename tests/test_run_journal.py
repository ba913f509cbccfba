"""Issue 10, nothing left after a crash: every create is in the run's journal the moment AWS
answers it, and `dblab sweep` finds a run's resources by the journal and the lab's names, prices
them, and deletes a run by its id (never a lab that is not that run's)."""

from __future__ import annotations

import json

import pytest

from dblab.cli import main
from lookups.inventory import lab_leftovers
from provisioning import lab, naming
from provisioning.aws import AwsClients
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.journal import RunJournal, journals, read_journal, still_created
from provisioning.passwords import generate_password

RUN = "run-journal-test"
STEPS = ("1.1", "1.2", "1.3", "1.4", "4.1")


def _provision(clients: AwsClients, reports, run_id: str = RUN) -> tuple[list, str]:
    journal = RunJournal.for_run(reports, run_id, clients.target.region)
    journaled = AwsClients(clients.target, journal=journal)
    password = generate_password()
    ctx = ProvisionContext(clients=journaled, run_id=run_id, dataplane=DataPlane(), master_password=password,
                           timeout=20, log=lambda message: None)
    results = lab.provision(ctx, [s for s in lab.provisioning_steps() if s.step in STEPS], workers=None)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return read_journal(journal.path), str(password)


def test_every_create_is_journaled_before_and_after_and_no_secret_is(aws_clients, tmp_path):
    entries, password = _provision(aws_clients, tmp_path)
    created = {(e.kind, e.id) for e in entries if e.event == "created"}
    vpc_id = aws_clients("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [naming.VPC]}])["Vpcs"][0]["VpcId"]
    assert ("VPC", vpc_id) in created and ("RDS instance", naming.DB_INSTANCE) in created
    assert ("DynamoDB table", naming.ORDERS_TABLE) in created
    assert len([e for e in entries if e.kind == "security group" and e.event == "created"]) == 3
    # Written down before the call is sent, so a kill between sending and answering still names it.
    events = [(e.event, e.kind, e.id) for e in entries]
    assert events.index(("requested", "RDS instance", naming.DB_INSTANCE)) < \
        events.index(("created", "RDS instance", naming.DB_INSTANCE))
    rds = next(e for e in entries if e.event == "created" and e.kind == "RDS instance")
    assert rds.detail["DBInstanceClass"] == naming.DB_INSTANCE_CLASS
    text = (tmp_path / "runs" / RUN / "journal.jsonl").read_text()
    assert password not in text and "MasterUserPassword" not in text


def test_a_run_killed_without_teardown_is_found_priced_and_deleted_by_its_run_id(aws_clients, tmp_path, capsys):
    _provision(aws_clients, tmp_path)  # then "killed": no teardown
    endpoint = ["--endpoint-url", aws_clients.target.endpoint_url, "--reports", str(tmp_path)]
    assert main(["sweep", *endpoint]) == 1
    listing = capsys.readouterr().out
    assert "lab resources in" in listing and f"run {RUN}" in listing and "dry run: nothing deleted" in listing
    assert f"RDS instance {naming.DB_INSTANCE}" in listing and "/h;" in listing and "per hour" in listing
    assert main(["sweep", "--run-id", RUN, "--delete", "--timeout", "20", *endpoint]) == 0
    assert lab_leftovers(aws_clients) == []
    (entries,) = journals(tmp_path).values()
    assert still_created(entries) == []  # the sweeper's deletions went into the run's journal


def test_deleting_by_run_id_refuses_a_lab_that_is_not_only_that_runs(aws_clients, tmp_path, capsys):
    _provision(aws_clients, tmp_path)
    # Someone else's lab piece: found by the lab's name, in no journal of this run.
    aws_clients("ec2").create_key_pair(KeyName=naming.KEY_PAIR)
    with pytest.raises(SystemExit) as refused:
        main(["sweep", "--run-id", RUN, "--delete", "--endpoint-url", aws_clients.target.endpoint_url,
              "--reports", str(tmp_path)])
    message = str(refused.value)
    assert f"not only run {RUN}'s" in message and f"key pair {naming.KEY_PAIR}" in message and "\n" not in message
    assert any(item.kind == "RDS instance" for item in lab_leftovers(aws_clients))  # nothing deleted


def test_an_unknown_run_id_is_one_line(aws_clients, tmp_path):
    with pytest.raises(SystemExit) as refused:
        main(["sweep", "--run-id", "run-nobody", "--endpoint-url", aws_clients.target.endpoint_url,
              "--reports", str(tmp_path)])
    assert "no journal of run run-nobody" in str(refused.value) and "\n" not in str(refused.value)


def test_a_line_cut_short_by_a_kill_is_skipped(tmp_path):
    path = tmp_path / "runs" / RUN / "journal.jsonl"
    path.parent.mkdir(parents=True)
    good = {"run_id": RUN, "event": "created", "kind": "VPC", "id": "vpc-1", "region": "us-east-1", "at": 1, "detail": {}}
    path.write_text(json.dumps(good) + "\n" + '{"run_id": "' + RUN + '", "event": "crea')
    assert [e.id for e in read_journal(path)] == ["vpc-1"]

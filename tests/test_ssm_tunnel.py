"""SSM port forwarding to a student's data plane (provisioning/tunnel.py, `dblab grade --tunnel ssm`):
no key and no change to the student's security groups. It cannot reach a real bastion here: the
AWS CLI and the Session Manager plugin are stood in for by scripts that listen on the local port
(as a working session does) or answer as AWS does when the bastion is not managed by SSM."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from provisioning import lab, naming
from provisioning.context import ProvisionContext
from provisioning.dataplane import REDIS_PRIMARY, DataPlane
from provisioning.passwords import generate_password
from provisioning.tunnel import (
    SSM_DOCUMENT, Forward, TunnelError, find_ssm_client, plan_ssm_tunnel, ssm_command,
)

FAKE_AWS = """#!{python}
# Stands in for `aws ssm start-session`: listens on localPortNumber, as the Session Manager plugin
# does once the session is up, until killed; or answers as AWS does for an unmanaged bastion.
import json, os, socket, sys, time
args = sys.argv[1:]
with open(os.path.join({record!r}, "calls.jsonl"), "a") as record:
    record.write(json.dumps({{"args": args, "key": os.environ.get("AWS_ACCESS_KEY_ID")}}) + "\\n")
if "{fail}" == "yes":
    target = args[args.index("--target") + 1]
    print("", file=sys.stderr)
    print(f"An error occurred (TargetNotConnected) when calling the StartSession operation: {{target}} is not connected.",
          file=sys.stderr)
    sys.exit(254)
port = int(json.loads(args[args.index("--parameters") + 1])["localPortNumber"][0])
server = socket.socket(); server.bind(("127.0.0.1", port)); server.listen()
while True:
    time.sleep(1)
"""


def _stand_ins(directory: Path, *, fail: bool) -> str:
    """A PATH holding a fake `aws` and `session-manager-plugin`."""
    bin_dir = directory / ("bin-refused" if fail else "bin-ok")
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text(FAKE_AWS.format(python=sys.executable, record=str(directory), fail="yes" if fail else "no"))
    plugin = bin_dir / "session-manager-plugin"
    plugin.write_text("#!/bin/sh\nexit 0\n")
    for script in (aws, plugin):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(bin_dir)


def _build_lab(clients) -> None:
    ctx = ProvisionContext(clients=clients, run_id="ssm", dataplane=DataPlane(),
                           master_password=generate_password(), log=lambda message: None)
    failed = [r for r in lab.provision(ctx) if not r.ok]
    assert not failed, failed


def _student_env(path: str) -> dict[str, str]:
    return {"PATH": path, "AWS_ACCESS_KEY_ID": "ASIASTUDENT", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}


def test_ssm_command_forwards_one_endpoint_through_the_bastion_with_aws_s_document():
    forward = Forward(naming.DB_INSTANCE, "db.abc.us-west-2.rds.amazonaws.com", 3306, 41001)
    command = ssm_command("/usr/bin/aws", "i-0123456789abcdef0", forward, region="us-west-2")
    assert command[:3] == ["/usr/bin/aws", "ssm", "start-session"]
    option = {command[i]: command[i + 1] for i in range(3, len(command), 2)}
    assert option["--target"] == "i-0123456789abcdef0" and option["--document-name"] == SSM_DOCUMENT
    assert json.loads(option["--parameters"]) == {
        "host": ["db.abc.us-west-2.rds.amazonaws.com"], "portNumber": ["3306"], "localPortNumber": ["41001"]}
    assert option["--region"] == "us-west-2"


def test_a_missing_aws_cli_or_session_manager_plugin_is_one_line_naming_what_to_install(tmp_path):
    with pytest.raises(TunnelError, match=r"^aws not found: install the AWS CLI"):
        find_ssm_client(path=str(tmp_path))
    aws = tmp_path / "aws"
    aws.write_text("#!/bin/sh\n")
    aws.chmod(0o755)
    with pytest.raises(TunnelError, match=r"^session-manager-plugin not found: install the Session Manager plugin"):
        find_ssm_client(path=str(tmp_path))


def test_no_running_bastion_is_one_line(aws_clients, tmp_path):
    with pytest.raises(TunnelError, match=f"no EC2 instance tagged Name={naming.BASTION}"):
        plan_ssm_tunnel(aws_clients, region=naming.REGION, env=_student_env(_stand_ins(tmp_path, fail=False)))


def test_ssm_forwarding_opens_every_endpoint_with_the_students_credentials_and_binds_each(aws_clients, tmp_path):
    _build_lab(aws_clients)
    bastion_id = aws_clients("ec2").describe_instances(
        Filters=[{"Name": "tag:Name", "Values": [naming.BASTION]}])["Reservations"][0]["Instances"][0]["InstanceId"]
    tunnel = plan_ssm_tunnel(aws_clients, region=naming.REGION, env=_student_env(_stand_ins(tmp_path, fail=False)))
    with tunnel.open(timeout=10):
        plane = tunnel.dataplane(mysql_password=generate_password())
        assert set(plane.mysql) == {naming.DB_INSTANCE, naming.DB_REPLICA}
        assert plane.redis[REDIS_PRIMARY].port == next(f.local_port for f in tunnel.forwards if f.name == REDIS_PRIMARY)
        assert "SSM" in plane.engine_note
        processes = list(tunnel.processes)
    assert processes and all(process.poll() is not None for process in processes), "closed with the block"
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == len(tunnel.forwards), "one session per forwarded endpoint"
    assert {call["key"] for call in calls} == {"ASIASTUDENT"}, "the student's credentials, never the grader's"
    assert {call["args"][call["args"].index("--target") + 1] for call in calls} == {bastion_id}


def test_a_bastion_without_ssm_is_one_line_naming_the_instance_profile(aws_clients, tmp_path):
    _build_lab(aws_clients)
    tunnel = plan_ssm_tunnel(aws_clients, region=naming.REGION, env=_student_env(_stand_ins(tmp_path, fail=True)))
    with pytest.raises(TunnelError) as error:
        tunnel.open(timeout=10)
    assert str(error.value).startswith("aws ssm start-session failed: An error occurred (TargetNotConnected)")
    assert "AmazonSSMManagedInstanceCore" in str(error.value)
    assert tunnel.processes == []


class _Student:
    """What dblab grade's StudentAccess is to the tunnel: the student's clients by service, and their row."""

    def __init__(self, clients, student: str):
        self.clients = clients
        self.entry = SimpleNamespace(student=student, region=naming.REGION, bastion_key=None)

    def __call__(self, service: str):
        return self.clients(service)


def test_dblab_grade_s_ssm_path_hands_the_grading_run_each_endpoint(aws_clients, tmp_path):
    from dblab.grade_dataplane import open_data_plane

    _build_lab(aws_clients)
    tunnel, notes, env = open_data_plane(_Student(aws_clients, "lena"), tmp_path / "reports", timeout=10, mysql_password="pw", via="ssm",
                                         cli_env=_student_env(_stand_ins(tmp_path, fail=False)))
    try:
        assert {"LAB_MYSQL_URL", "LAB_MYSQL_REPLICA_URL", "LAB_REDIS_URL"} <= set(env)
        assert all("not graded" in note for note in notes)  # moto reports no reader endpoint: that one only
    finally:
        tunnel.close()


def test_dblab_grade_s_ssm_path_that_fails_is_a_note_and_the_control_plane_grades_anyway(aws_clients, tmp_path):
    from dblab.grade_dataplane import open_data_plane

    _build_lab(aws_clients)
    tunnel, notes, env = open_data_plane(_Student(aws_clients, "max"), tmp_path / "reports", timeout=10, mysql_password="pw", via="ssm",
                                         cli_env=_student_env(_stand_ins(tmp_path, fail=True)))
    assert tunnel is None and env == {}
    assert len(notes) == 1 and notes[0].startswith("data plane not reachable: aws ssm start-session failed"), notes


@pytest.mark.parametrize("tunnel, bastion_key, opened", [("ssm", None, "ssm"), ("ssh", None, None), ("ssh", "k.pem", "ssh")])
def test_dblab_grade_opens_ssm_for_every_student_and_ssh_only_with_a_key(monkeypatch, tmp_path, tunnel, bastion_key,
                                                                          opened):
    from dblab import grade_runner

    seen = {}

    def fake_open(access, reports, *, timeout, mysql_password, via, cli_env):
        seen.update(via=via, key=cli_env.get("AWS_ACCESS_KEY_ID"))
        return None, [], {}

    entry = SimpleNamespace(student="olga", region=naming.REGION, bastion_key=bastion_key)
    access = SimpleNamespace(entry=entry, env={"AWS_ACCESS_KEY_ID": "ASIASTUDENT"})
    monkeypatch.setattr(grade_runner, "student_access", lambda entry, endpoint: access)
    monkeypatch.setattr(grade_runner, "check_access", lambda access: None)
    monkeypatch.setattr(grade_runner, "open_data_plane", fake_open)
    monkeypatch.setattr(grade_runner.Runner, "_run", lambda self, entry, env, notes, start: "graded")
    args = SimpleNamespace(endpoint=None, timeout=5.0, mysql_password_env="LAB_MYSQL_PASSWORD", tunnel=tunnel)
    assert grade_runner.Runner(args, tmp_path).grade(entry) == "graded"
    assert seen.get("via") == opened
    if opened:
        assert seen["key"] == "ASIASTUDENT", "the tunnel runs with the student's credentials"

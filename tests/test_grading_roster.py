"""Grading a class: the roster, the SSH tunnel to a real account's data plane, and `dblab grade`
over 30 emulated accounts (moto serves each account through sts:AssumeRole)."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from grading.roster import RosterError, load_roster, parse_roster
from provisioning import lab, naming
from provisioning.aws import AwsClients, AwsTarget
from provisioning.context import ProvisionContext
from provisioning.dataplane import REDIS_PRIMARY, DataPlane
from provisioning.passwords import generate_password
from provisioning.tunnel import (
    Forward, TunnelError, bastion_address, check_key, discover_forwards, find_ssh, plan_tunnel, ssh_command,
)

from .conftest import REPO_ROOT

CONTROL_PLANE_STEPS = ("1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.2", "4.1", "4.2", "4.3", "5.1", "5.2")
ROLE = "arn:aws:iam::{account}:role/dblab-grader"


# --- the roster ----------------------------------------------------------------------------------

def test_roster_reads_roles_profiles_regions_and_keys_relative_to_the_file(tmp_path):
    roster = tmp_path / "class.csv"
    roster.write_text("student,credentials,region,bastion_key\n"
                      "# the first row is a header; comments and blank lines are ignored\n\n"
                      f"alice,{ROLE.format(account='111111111111')},us-east-1,keys/alice.pem\n"
                      "bob,bob-profile,eu-west-1,\n"
                      "carol,carol,us-east-1\n")
    alice, bob, carol = load_roster(roster)
    assert (alice.student, alice.role_arn, alice.profile, alice.region) == (
        "alice", ROLE.format(account="111111111111"), None, "us-east-1")
    assert alice.account_hint == "111111111111"
    assert alice.bastion_key == tmp_path / "keys" / "alice.pem"
    assert (bob.profile, bob.role_arn, bob.region, bob.bastion_key) == ("bob-profile", None, "eu-west-1", None)
    assert (carol.row, carol.bastion_key) == (6, None)


def test_roster_without_a_header_row_is_read_too():
    (entry,) = parse_roster("dave,dave-profile,us-east-1\n")
    assert entry.student == "dave"


@pytest.mark.parametrize("rows, message", [
    ("alice,p,us-east-1\nbob,p\n", "roster row 2: expected student,credentials,region[,bastion_key[,code]], got 2 column(s)"),
    ("alice,p,us-east-1\nalice,q,us-east-1\n", "roster row 2: student alice is already on row 1"),
    ("../etc,p,us-east-1\n", "roster row 1: student '../etc': use letters"),
    ("alice,arn:aws:iam::1234:role/x,us-east-1\n", "roster row 1: alice: 'arn:aws:iam::1234:role/x' is not a role ARN"),
    ("alice,,us-east-1\n", "roster row 1: alice: no credentials"),
    ("alice,p,useast1\n", "roster row 1: alice: region 'useast1' is not an AWS region"),
    ("alice,my profile,us-east-1\n", "roster row 1: alice: 'my profile' is neither a role ARN nor a profile name"),
    ("student,credentials,region\n", "roster: no students"),
])
def test_malformed_roster_is_one_line_naming_the_row_and_the_problem(rows, message):
    with pytest.raises(RosterError) as error:
        parse_roster(rows)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_dblab_grade_with_a_malformed_roster_exits_2_with_one_line(tmp_path):
    roster = tmp_path / "class.csv"
    roster.write_text("alice,alice-profile,us-east-1\nbob,bob-profile\n")
    result = _dblab_grade(roster, tmp_path / "reports", endpoint=None)
    assert result.returncode == 2
    assert result.stderr.strip() == f"dblab grade: {roster} row 2: expected student,credentials,region[,bastion_key[,code]], got 2 column(s)"
    assert not (tmp_path / "reports").exists()


def _custom_rubric(directory: Path, version: str) -> Path:
    rubric = directory / "rubric.toml"
    shipped = (REPO_ROOT / "grading" / "rubric.toml").read_text()
    rubric.write_text(re.sub(r'(?m)^version = .*$', f'version = "{version}"', shipped, count=1))
    return rubric


def test_lab_rubric_grades_a_not_gradable_row_too(tmp_path):
    rubric = _custom_rubric(tmp_path, "custom-7")
    roster = tmp_path / "class.csv"
    roster.write_text(f"nobody,no-such-profile,{naming.REGION}\n")
    result = _dblab_grade(roster, tmp_path / "reports", endpoint=None, env={"LAB_RUBRIC": str(rubric)})
    assert "nobody: not gradable: profile no-such-profile" in result.stdout, result.stdout + result.stderr
    grade = _grade(tmp_path / "reports", "nobody")
    assert (grade["rubric_version"], grade["rubric_file"]) == ("custom-7", str(rubric))


def test_graded_and_not_gradable_rows_share_the_rubric_command_line_first(tmp_path, monkeypatch):
    from argparse import Namespace

    from dblab.grade import grading_rubric
    from dblab.grade_runner import grade_command

    here = tmp_path.resolve()
    monkeypatch.chdir(here)
    monkeypatch.setenv("LAB_RUBRIC", "env.toml")
    assert grading_rubric([]) == here / "env.toml"
    assert grading_rubric(["--lab-rubric", "cli.toml"]) == here / "cli.toml"
    assert grading_rubric(["--lab-rubric=a.toml", "--lab-rubric=b.toml"]) == here / "b.toml"  # the last, as pytest
    (entry,) = parse_roster(f"alice,alice-profile,{naming.REGION}\n")
    args = Namespace(rubric=grading_rubric(["--lab-rubric=cli.toml"]), timeout=5.0, pytest_args=["--lab-rubric=cli.toml"])
    assert grade_command(entry, args, here / "reports")[-1] == f"--lab-rubric={here / 'cli.toml'}"


def test_a_missing_rubric_stops_dblab_grade_with_one_line(tmp_path):
    roster = tmp_path / "class.csv"
    roster.write_text(f"nobody,no-such-profile,{naming.REGION}\n")
    result = _dblab_grade(roster, tmp_path / "reports", endpoint=None, env={"LAB_RUBRIC": str(tmp_path / "none.toml")})
    assert result.returncode == 2
    assert result.stderr.strip() == f"dblab grade: rubric {tmp_path / 'none.toml'}: no such file " \
                                    "(--lab-rubric takes a path to a rubric .toml)"


def test_grading_runs_get_no_lab_setting_from_the_instructors_shell():
    from dblab.grade_runner import SCRUBBED_ENV
    from provisioning.settings import ENV_NAMES

    assert set(ENV_NAMES) <= set(SCRUBBED_ENV) and {"LAB_RUBRIC", "LAB_MYSQL_URL", "AWS_PROFILE"} <= set(SCRUBBED_ENV)


# --- the tunnel ----------------------------------------------------------------------------------

PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture
def key_file(tmp_path) -> Path:
    key = tmp_path / "database-lab-key.pem"
    key.write_text(PRIVATE_KEY)
    key.chmod(0o400)
    return key


def test_ssh_command_forwards_each_endpoint_without_a_shell_or_a_prompt(key_file):
    forwards = [Forward(naming.DB_INSTANCE, "db.abc.us-east-1.rds.amazonaws.com", 3306, 41001),
                Forward(REDIS_PRIMARY, "master.redis.cache.amazonaws.com", 6379, 41002)]
    command = ssh_command("/usr/bin/ssh", key_file, "203.0.113.5", forwards)
    assert command[:2] == ["/usr/bin/ssh", "-N"]  # forward only, never a remote command
    assert command[command.index("-i") + 1] == str(key_file)
    options = {command[i + 1] for i, arg in enumerate(command) if arg == "-o"}
    assert {"BatchMode=yes", "ExitOnForwardFailure=yes", "IdentitiesOnly=yes", "StrictHostKeyChecking=accept-new"} <= options
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "-L"] == [
        "127.0.0.1:41001:db.abc.us-east-1.rds.amazonaws.com:3306", "127.0.0.1:41002:master.redis.cache.amazonaws.com:6379"]
    assert command[-1] == "ec2-user@203.0.113.5"


def test_missing_ssh_is_one_line_naming_the_package():
    with pytest.raises(TunnelError, match=r"^no-such-ssh not found: install the OpenSSH client"):
        find_ssh("no-such-ssh")


def test_unreadable_key_is_one_line(tmp_path):
    with pytest.raises(TunnelError, match=r"bastion key .*missing.pem is unreadable \(No such file or directory\)$"):
        check_key(tmp_path / "missing.pem")


def test_a_file_that_is_not_a_private_key_is_refused(tmp_path):
    public = tmp_path / "database-lab-key.pub"
    public.write_text("ssh-ed25519 AAAA... instructor\n")
    with pytest.raises(TunnelError, match="is not a private key"):
        check_key(public)


def _build_lab(clients) -> None:
    ctx = ProvisionContext(clients=clients, run_id="roster", dataplane=DataPlane(),
                           master_password=generate_password(), log=lambda message: None)
    failed = [r for r in lab.provision(ctx) if not r.ok]
    assert not failed, failed


def test_tunnel_finds_the_bastion_and_the_lab_endpoints_by_name(aws_clients):
    with pytest.raises(TunnelError, match=f"no EC2 instance tagged Name={naming.BASTION}"):
        bastion_address(aws_clients("ec2"))
    _build_lab(aws_clients)
    assert bastion_address(aws_clients("ec2"))  # the public IP of the running bastion
    forwards = {f.name: f for f in discover_forwards(aws_clients("rds"), aws_clients("elasticache"))}
    primary = aws_clients("rds").describe_db_instances(DBInstanceIdentifier=naming.DB_INSTANCE)["DBInstances"][0]
    assert (forwards[naming.DB_INSTANCE].remote_host, forwards[naming.DB_INSTANCE].remote_port) == (
        primary["Endpoint"]["Address"], primary["Endpoint"]["Port"])
    assert naming.DB_REPLICA in forwards and REDIS_PRIMARY in forwards
    # moto reports no ReaderEndpoint for a replication group (local-engines.md), so no Redis
    # replica forward here; AWS reports one for every group with a replica.


FAKE_SSH = """#!{python}
# Stands in for ssh: listens on every -L local port, as a working tunnel would, until killed.
import socket, sys, time
args = sys.argv[1:]
if "{fail}" == "yes":
    print("ec2-user@203.0.113.5: Permission denied (publickey).", file=sys.stderr)
    sys.exit(255)
listeners = []
for i, arg in enumerate(args):
    if arg == "-L":
        host, port = args[i + 1].split(":")[:2]
        server = socket.socket(); server.bind((host, int(port))); server.listen(); listeners.append(server)
while True:
    time.sleep(1)
"""


def _fake_ssh(tmp_path: Path, *, fail: bool) -> str:
    script = tmp_path / ("ssh-refused" if fail else "ssh-ok")
    script.write_text(FAKE_SSH.format(python=sys.executable, fail="yes" if fail else "no"))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_tunnel_opens_when_every_forwarded_port_answers_and_binds_the_data_plane(aws_clients, tmp_path, key_file):
    _build_lab(aws_clients)
    tunnel = plan_tunnel(aws_clients, key_file, ssh=_fake_ssh(tmp_path, fail=False))
    with tunnel.open(timeout=10):
        plane = tunnel.dataplane(mysql_password=generate_password())
        assert set(plane.mysql) == {naming.DB_INSTANCE, naming.DB_REPLICA}
        assert {(e.host, e.user) for e in plane.mysql.values()} == {("127.0.0.1", naming.DB_MASTER_USER)}
        assert plane.redis[REDIS_PRIMARY].port == next(f.local_port for f in tunnel.forwards if f.name == REDIS_PRIMARY)
        process = tunnel.process
    assert process.poll() is not None  # closed with the block


def test_tunnel_without_the_master_password_binds_redis_only(aws_clients, tmp_path, key_file):
    _build_lab(aws_clients)
    tunnel = plan_tunnel(aws_clients, key_file, ssh=_fake_ssh(tmp_path, fail=False))
    assert tunnel.dataplane(mysql_password=None).mysql == {}


def test_ssh_refused_by_the_bastion_is_one_line_with_ssh_s_reason(aws_clients, tmp_path, key_file):
    _build_lab(aws_clients)
    tunnel = plan_tunnel(aws_clients, key_file, ssh=_fake_ssh(tmp_path, fail=True))
    with pytest.raises(TunnelError) as error:
        tunnel.open(timeout=10)
    assert str(error.value) == "ssh to the bastion failed: ec2-user@203.0.113.5: Permission denied (publickey)."
    assert tunnel.process is None


class _Forwarded:
    """A tunnel whose ports are open (what tunnel_env sees of a real one)."""

    def __init__(self, forwards):
        from provisioning.tunnel import Tunnel

        self._tunnel = Tunnel(["ssh"], forwards)

    def dataplane(self, **kwargs):
        return self._tunnel.dataplane(**kwargs)


def test_tunnelled_endpoints_reach_the_grading_run_as_url_pairs_with_the_password_quoted():
    from dblab.grade_dataplane import tunnel_env
    from provisioning.dataplane import REDIS_REPLICA, parse_mysql_url

    forwards = [Forward(naming.DB_INSTANCE, "p.rds", 3306, 41001), Forward(naming.DB_REPLICA, "r.rds", 3306, 41002),
                Forward(REDIS_PRIMARY, "m.cache", 6379, 41003), Forward(REDIS_REPLICA, "r.cache", 6379, 41004)]
    env, notes = tunnel_env(_Forwarded(forwards), "p@ss/w:rd")
    assert notes == []
    assert parse_mysql_url(env["LAB_MYSQL_URL"]).password == "p@ss/w:rd"  # survives the URL
    assert (parse_mysql_url(env["LAB_MYSQL_REPLICA_URL"]).port, env["LAB_REDIS_URL"], env["LAB_REDIS_REPLICA_URL"]) == (
        41002, "redis://127.0.0.1:41003", "redis://127.0.0.1:41004")


def test_without_a_redis_reader_or_the_password_those_checks_stay_not_gradable_with_a_note():
    from dblab.grade_dataplane import tunnel_env

    forwards = [Forward(naming.DB_INSTANCE, "p.rds", 3306, 41001), Forward(naming.DB_REPLICA, "r.rds", 3306, 41002),
                Forward(REDIS_PRIMARY, "m.cache", 6379, 41003)]
    env, notes = tunnel_env(_Forwarded(forwards), None)
    assert env == {"LAB_REDIS_URL": "redis://127.0.0.1:41003"}, "the Redis primary is graded without its reader"
    assert notes == ["MySQL not graded: set the master password in the variable --mysql-password-env names",
                     "Redis replica not graded: the replication group has no reader endpoint"]


# --- a class of 30 emulated accounts -------------------------------------------------------------

PROVISIONED = 3  # accounts with the whole lab; the others are empty (a student who did nothing)
CLASS_SIZE = 30


def _account(number: int) -> str:
    return f"{210000000000 + number}"


class AccountClients(AwsClients):
    """Clients acting in one emulated account, through credentials from sts:AssumeRole."""

    def __init__(self, target: AwsTarget, credentials: dict):
        super().__init__(target)
        self._credentials = credentials

    def session(self):
        if self._session is None:
            self._session = boto3.Session(region_name=self.target.region, **self._credentials)
        return self._session


def _assumed(endpoint: str, role_arn: str) -> dict:
    sts = boto3.client("sts", endpoint_url=endpoint, region_name=naming.REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="student")["Credentials"]
    return {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}


def _dblab_grade(roster: Path, reports: Path, *, endpoint: str | None, extra: tuple[str, ...] = (),
                 env: dict | None = None):
    environ = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST", "AWS_PROFILE")}
    environ["AWS_CONFIG_FILE"] = os.devnull  # no instructor profiles: "no-such-profile" must be missing
    environ.update(env or {})
    command = [sys.executable, "-m", "dblab", "grade", "--roster", str(roster), "--reports", str(reports),
               "--timeout", "5", *extra]
    if endpoint:
        command += ["--endpoint-url", endpoint]
    return subprocess.run(command, cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def graded_class(moto_server, tmp_path_factory):
    """30 students in 30 emulated accounts (3 built the lab), plus one whose profile does not exist."""
    moto_server.reset()
    directory = tmp_path_factory.mktemp("class")
    for number in range(PROVISIONED):
        role = ROLE.format(account=_account(number))
        _build_lab(AccountClients(AwsTarget(endpoint_url=moto_server.endpoint_url), _assumed(moto_server.endpoint_url, role)))
    rows = ["student,credentials,region,bastion_key"]
    rows += [f"s{n:02d},{ROLE.format(account=_account(n))},{naming.REGION}," for n in range(CLASS_SIZE)]
    # s03 passes a bastion key, but their account has no bastion: graded all the same, data plane aside.
    (directory / "s03.pem").write_text(PRIVATE_KEY)
    rows[1 + PROVISIONED] += "s03.pem"
    rows.append(f"nobody,no-such-profile,{naming.REGION},")
    roster = directory / "roster.csv"
    roster.write_text("\n".join(rows) + "\n")
    reports = directory / "reports"
    start = time.monotonic()
    result = _dblab_grade(roster, reports, endpoint=moto_server.endpoint_url)
    seconds = time.monotonic() - start
    return roster, reports, result, seconds


def _grade(reports: Path, student: str) -> dict:
    return json.loads((reports / "grades" / f"{student}.json").read_text())


def test_class_of_30_accounts_is_graded(graded_class, request):
    roster, reports, result, seconds = graded_class
    # Timing is reported (JUnit property, README), not asserted: it moves with the machine's load.
    request.node.user_properties.append(("seconds", round(seconds, 1)))
    print(f"grading 31 students took {seconds:.1f}s")
    assert (reports / "grades" / "s29.json").is_file(), result.stdout[-3000:] + result.stderr[-3000:]


def test_each_student_is_graded_in_their_own_account(graded_class):
    _, reports, result, _ = graded_class
    for number in (0, PROVISIONED - 1):
        grade = _grade(reports, f"s{number:02d}")
        assert grade["account"] == _account(number), (
            f"s{number:02d} was graded in account {grade['account']}, not their own {_account(number)}: on an "
            "emulator the grading run must act with the assumed role's credentials from its environment")
        steps = {s["step"]: s for s in grade["steps"]}
        assert [s for s in CONTROL_PLANE_STEPS if steps[s]["points"] != steps[s]["rubric_points"]] == [], grade["summary"]
    empty = _grade(reports, f"s{PROVISIONED:02d}")
    assert (empty["account"], empty["score"], empty["lab_resources_found"]) == (_account(PROVISIONED), 0, 0)


def test_bad_credentials_give_a_not_gradable_row_and_the_others_go_on(graded_class):
    _, reports, result, _ = graded_class
    grade = _grade(reports, "nobody")
    assert {s["status"] for s in grade["steps"]} == {"not_gradable"}
    assert "no-such-profile" in grade["steps"][0]["reason"] and "could not be found" in grade["steps"][0]["reason"]
    assert grade["max_score"] == 0
    assert result.returncode == 1  # someone could not be graded
    assert "nobody: not gradable: profile no-such-profile" in result.stdout


def test_one_line_per_student_and_the_total_time(graded_class):
    _, reports, result, _ = graded_class
    lines = result.stdout.strip().splitlines()
    students = {line.split(":", 1)[0] for line in lines[:-1]}
    assert students == {f"s{n:02d}" for n in range(CLASS_SIZE)} | {"nobody"}
    assert lines[-1].startswith(f"graded {CLASS_SIZE + 1} student(s) in ")
    assert "(1 not gradable, 0 already graded)" in lines[-1]
    assert "SessionToken" not in result.stdout + result.stderr and "ASIA" not in result.stdout


def test_a_tunnel_that_cannot_open_leaves_the_rest_of_the_grade(graded_class):
    _, reports, result, _ = graded_class
    line = next(line for line in result.stdout.splitlines() if line.startswith(f"s{PROVISIONED:02d}:"))
    assert f"data plane not reachable: no EC2 instance tagged Name={naming.BASTION}" in line
    assert _grade(reports, f"s{PROVISIONED:02d}")["lab_resources_found"] == 0


def test_gradebook_collects_every_student(graded_class):
    _, reports, _, _ = graded_class
    with open(reports / "gradebook.csv", newline="") as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    assert len(rows) == CLASS_SIZE + 1
    assert rows["s00"]["account"] == _account(0) and float(rows["s00"]["score"]) > 0, rows["s00"]
    assert rows["nobody"]["1.1"] == ""  # not gradable: an empty cell, not a zero


def test_rerun_skips_students_already_graded_unless_forced(graded_class, moto_server):
    roster, reports, _, _ = graded_class
    before = (reports / "grades" / "s05.json").stat().st_mtime_ns
    again = _dblab_grade(roster, reports, endpoint=moto_server.endpoint_url)
    assert "s05: already graded" in again.stdout and "--force grades again" in again.stdout
    assert (reports / "grades" / "s05.json").stat().st_mtime_ns == before
    assert again.stdout.strip().splitlines()[-1].endswith(f"already graded); gradebook: {reports / 'gradebook.csv'}")
    one = reports.parent / "one.csv"
    one.write_text(f"s05,{ROLE.format(account=_account(5))},{naming.REGION}\n")
    forced = _dblab_grade(one, reports, endpoint=moto_server.endpoint_url, extra=("--force",))
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert (reports / "grades" / "s05.json").stat().st_mtime_ns != before
    with open(reports / "gradebook.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == CLASS_SIZE + 1  # rebuilt from every grade file

"""Every lab setting in one table, resolved and validated without pytest.

pytest (fixtures/config.py), `dblab sweep` and `dblab grade` declare their options from OPTIONS
and resolve them here, so a setting has one environment variable, one default and one message
for a bad value however it is given. Precedence: command line, environment, ini, default.
The region has one more source, boto3's own chain, between the ini and the default: command line
(--lab-region), LAB_REGION, ini (lab_region), then AWS_REGION, AWS_DEFAULT_REGION and the
profile's `region` (as boto3 and the AWS CLI find it), then the lab's us-east-1. The chain is
asked when the lab is in an account (-m aws, dblab sweep), never for the local lab, whose
emulator is the suite's own.
A bad value raises SettingsError, one line that names the fix.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from . import naming
from .local.ports import EXAMPLE_PORTS, PORT_KEYS

if TYPE_CHECKING:  # imported when resolving: the table itself needs no boto3
    from .aws import AwsTarget

TARGETS = ("local", "aws")
COMMAND_LINE, ENVIRONMENT, INI, DEFAULT = "command line", "environment", "ini", "default"


class SettingsError(ValueError):
    """A bad setting; the message is one line that names the fix."""


@dataclass(frozen=True)
class Option:
    name: str  # the part after --lab-
    help: str
    default: object = None
    env: str | None = None
    flag: bool = False
    shown_default: str | None = None  # the help's "(default: …)" when it is not just `default`

    @property
    def dest(self) -> str:
        return "lab_" + self.name.replace("-", "_")

    @property
    def cli(self) -> str:
        return f"--lab-{self.name}"

    def help_text(self, shown_default: str | None = None) -> str:
        default = shown_default or self.shown_default or (self.default if self.default is not False else None)
        return (self.help + (f" [env {self.env}]" if self.env else "")
                + (f" (default: {default})" if default is not None else ""))


OPTIONS = (
    Option("target", "where the lab runs: local (emulated AWS plus local MySQL and Redis) or aws; "
           "follows -m when not given", None, "LAB_TARGET"),
    Option("region", "AWS region of the lab", naming.REGION, "LAB_REGION",
           shown_default=f"for an account, AWS_REGION, AWS_DEFAULT_REGION or the profile's region; else {naming.REGION}"),
    Option("endpoint-url", "AWS API endpoint of an emulator (LocalStack or moto)",
           shown_default="AWS_ENDPOINT_URL or LOCALSTACK_HOST; else an embedded moto locally, real AWS otherwise"),
    Option("profile", "AWS profile of the account", shown_default="boto3's standard credential chain"),
    Option("provision", "with -m aws: create the whole lab in the account, check it, delete it", False, flag=True),
    Option("account", "with -m aws --lab-provision: the AWS account (12 digits) provisioning may write to; it must be "
           "the account the credentials are in", None, "LAB_ACCOUNT"),
    Option("keep", "with --lab-provision: leave the lab up after the run (check it again with -m aws, delete it "
           "with `dblab sweep --run-id RUN --delete`)", False, "LAB_KEEP", flag=True),
    Option("aws-realism", "make the emulator behave like AWS, its typical durations multiplied by SCALE "
           "(state sequences, eventual consistency, throttling, refusals; provisioning/realism/durations.toml); "
           "0 is moto as it is. Emulators only, e.g. 0.002 to rehearse an AWS run in a minute", 0.0,
           "LAB_AWS_REALISM"),
    Option("mysql-url", "use this running MySQL as the RDS primary instead of starting MariaDB "
           "(mysql://USER:PASSWORD@HOST:PORT/labdb)", None, "LAB_MYSQL_URL"),
    Option("mysql-replica-url", "the read replica that goes with --lab-mysql-url", None, "LAB_MYSQL_REPLICA_URL"),
    Option("redis-url", "use this running Redis as the replication group's primary (redis://HOST:PORT)",
           None, "LAB_REDIS_URL"),
    Option("redis-replica-url", "the replica that goes with --lab-redis-url", None, "LAB_REDIS_REPLICA_URL"),
    Option("ssh-cidr", "the one /32 allowed to SSH to the bastion (step 1.2)", "198.51.100.10/32", "LAB_SSH_CIDR",
           shown_default="provisioning on AWS: this machine's address from checkip.amazonaws.com; else 198.51.100.10/32"),
    Option("grader-cidr", "grading: the grader's own address range, which the instructor added to database-lab-ec2-sg "
           "for the SSH tunnel over the bastion; step 1.2's checks do not count a rule from exactly it "
           "(never 0.0.0.0/0)", None, "LAB_GRADER_CIDR"),
    Option("timeout", "seconds a wait may take (a provisioning wait, a convergence poll); grading: the one "
           "window from the run's start that all its convergence polls share", None, "LAB_TIMEOUT",
           shown_default="60 local, 5 grading (one window all convergence waits share), 1800 provisioning on AWS"),
    Option("workdir", "where local servers keep their data (a fresh temporary directory when unset)",
           None, "LAB_WORKDIR"),
    Option("run-id", "tag value that marks this run's resources for the sweeper", None, "LAB_RUN_ID"),
    Option("ports", "fixed ports for the local servers instead of free ones, e.g. "
           + ",".join(f"{key}={port}" for key, port in EXAMPLE_PORTS.items()), None, "LAB_PORTS"),
    Option("grade", "grade an existing account read-only (nothing is provisioned or deleted)", False, flag=True),
    Option("student", "the student whose account is graded (names the report files)", None, "LAB_STUDENT"),
    Option("rubric", "a rubric file to grade with instead of the shipped one", None, "LAB_RUBRIC"),
    Option("reports-dir", "where grading writes grades/<student>.json and .html, gradebook.csv, class.html and "
           "evidence/ (dblab grade also logs/, junit/ and allure-results/; a provisioning run its journal and "
           "timeline, under runs/)",
           "reports", "LAB_REPORTS_DIR", shown_default="reports under the rootdir"),
    Option("evidence", "with --lab-grade: grade from the answers recorded in this student's evidence folder "
           "(reports/evidence/STUDENT) instead of the account: no credentials, no network (dblab regrade runs it)"),
    Option("bench", "run the Lab 6 benchmarks (pytest-benchmark) before teardown", False, flag=True),
    Option("student-code", "students' submitted code: a directory holding the lab's app.py, dynamodb_app.py and "
           "cache_app.py, or folders that do (one per student); the checks that exercise the apps run each "
           "submission's classes (sandboxed) instead of the suite's",
           None, "LAB_STUDENT_CODE"),
)
OPTION = {option.name: option for option in OPTIONS}
ENV_NAMES = tuple(option.env for option in OPTIONS if option.env)


@dataclass(frozen=True)
class LabConfig:
    target: str
    aws: AwsTarget
    provision: bool
    mysql_url: str | None
    mysql_replica_url: str | None
    redis_url: str | None
    redis_replica_url: str | None
    ssh_cidr: str | None  # None: provisioning on AWS finds the runner's own address (provisioning/run_tunnel.py)
    timeout: float
    workdir: Path | None
    run_id: str
    ports: dict[str, int]
    grade: bool
    student: str | None
    rubric: Path | None
    bench: bool
    reports_dir: Path
    grader_cidr: str | None = None  # ignored by 1.2's checks: the grader's tunnel, not the student's rule
    student_code: Path | None = None  # a submission's directory: the app checks run its classes
    account: str | None = None  # -m aws --lab-provision: the account provisioning may write to
    keep: bool = False  # --lab-keep: no teardown; the lab stays for later checks and `dblab sweep --run-id`
    aws_realism: float = 0.0  # the emulator's AWS-like durations, scaled (0: moto as it is)
    evidence: Path | None = None  # a regrade: the recorded answers are served instead of the account's

    @property
    def read_only(self) -> bool:
        """Grading, and -m aws on a lab that exists (no --lab-provision): no write reaches the account."""
        return self.grade or (self.target == "aws" and not self.provision)

    @property
    def local(self) -> bool:
        return self.target == "local"

    @property
    def external_mysql(self) -> bool:
        return bool(self.mysql_url)

    @property
    def external_redis(self) -> bool:
        return bool(self.redis_url)

    @property
    def start_moto(self) -> bool:
        return self.local and self.aws.endpoint_url is None


# --- raw values: where each setting came from ---------------------------------------------------

@dataclass(frozen=True)
class Raw:
    """Each option's value before validation, where it came from, and how this command spells it
    (a message names what the user typed: --lab-timeout to pytest, --timeout to dblab, LAB_TIMEOUT)."""

    values: dict[str, object]
    sources: dict[str, str] = field(default_factory=dict)
    flags: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str):
        return self.values.get(name, OPTION[name].default)

    def source(self, name: str) -> str:
        return self.sources.get(name, DEFAULT)

    def flag(self, name: str) -> str:
        """How the user gave this option (or would type it), for a message that names the fix."""
        option, source = OPTION[name], self.source(name)
        if source == ENVIRONMENT:
            return option.env
        if source == INI:
            return f"{option.dest} (ini)"
        return self.flags.get(name) or option.cli


def lookup(option: Option, given=None, environ: Mapping[str, str] = os.environ, ini=None) -> tuple[object, str]:
    """The value and its source; an empty value counts as not given."""
    env_value = environ.get(option.env, "").strip() if option.env else ""
    for value, source in ((given, COMMAND_LINE), (env_value, ENVIRONMENT), (ini, INI)):
        if value not in (None, ""):
            return value, source
    return option.default, DEFAULT


def gather(given: Callable[[Option], object], environ: Mapping[str, str] = os.environ,
           ini: Callable[[Option], object] = lambda option: None, *, options=OPTIONS,
           flags: Mapping[str, str] | None = None) -> Raw:
    found = {option.name: lookup(option, given(option), environ, ini(option)) for option in options}
    return Raw({name: value for name, (value, _) in found.items()},
               {name: source for name, (_, source) in found.items()}, flags or {})


def given_in(argv: list[str], option: Option) -> str | None:
    """The value a pytest command line gives an option (`--lab-rubric=FILE` or `--lab-rubric FILE`;
    the last one wins, as in pytest)."""
    value = None
    for index, arg in enumerate(argv):
        if arg.startswith(option.cli + "="):
            value = arg.split("=", 1)[1]
        elif arg == option.cli and index + 1 < len(argv):
            value = argv[index + 1]
    return value


# --- argparse (dblab sweep, dblab grade) --------------------------------------------------------

def add_arguments(parser, flags: Mapping[str, str], shown_defaults: Mapping[str, str] | None = None) -> None:
    """argparse twins of table options, spelled as the command spells them (name -> flag). Nothing
    is defaulted here: from_arguments() applies the environment and the table's default."""
    for name, flag in flags.items():
        option = OPTION[name]
        kind = {"action": "store_true"} if option.flag else {"metavar": option.name.upper().replace("-", "_")}
        parser.add_argument(flag, dest=option.dest, default=None, **kind,
                            help=option.help_text((shown_defaults or {}).get(name)).replace("%", "%%"))


def from_arguments(args, flags: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> Raw:
    return gather(lambda option: getattr(args, option.dest, None), environ,
                  options=[OPTION[name] for name in flags], flags=flags)


# --- resolving and validating -------------------------------------------------------------------

def resolve_endpoint(raw: Raw, environ: Mapping[str, str] = os.environ) -> str | None:
    from .aws import endpoint_from_environment

    return raw["endpoint-url"] or endpoint_from_environment(environ)


REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def profile_region(profile: str | None) -> str | None:
    """The `region` of the profile (given, or AWS_PROFILE, or default) in the AWS config file, as
    botocore reads it; None when there is none or the profile does not exist (the clients then
    name that profile problem themselves)."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        return botocore.session.Session(profile=profile).get_scoped_config().get("region") or None
    except BotoCoreError:
        return None


def resolve_region(raw: Raw, environ: Mapping[str, str] = os.environ, *, aws_chain: bool = True) -> str:
    """--lab-region, LAB_REGION or the ini; else boto3's chain when the lab is in an account
    (AWS_REGION, AWS_DEFAULT_REGION, the profile's region); else the lab's default."""
    if raw.source("region") != DEFAULT or not aws_chain:
        return raw["region"]
    for variable in REGION_VARIABLES:
        if environ.get(variable, "").strip():
            return environ[variable].strip()
    return profile_region(raw["profile"]) or raw["region"]


def resolve_aws(raw: Raw, environ: Mapping[str, str] = os.environ, *, aws_chain: bool = True):
    from .aws import AwsTarget

    return AwsTarget(region=resolve_region(raw, environ, aws_chain=aws_chain),
                     endpoint_url=resolve_endpoint(raw, environ), profile=raw["profile"])


def resolve_grader_cidr(raw: Raw) -> str | None:
    """The grader's declared range, normalised (198.51.100.7 -> 198.51.100.7/32); never the world:
    a rule from it is not counted against the student, so a /0 would excuse SSH open to everyone."""
    import ipaddress

    value = raw["grader-cidr"]
    if not value:
        return None
    try:
        network = ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        raise SettingsError(f"{raw.flag('grader-cidr')} takes the grader's address range (e.g. 203.0.113.7/32), "
                            f"not {value!r}") from None
    if network.prefixlen == 0:
        raise SettingsError(f"{raw.flag('grader-cidr')} must not be the whole internet ({network}): "
                            "give the grader's own address, e.g. 203.0.113.7/32")
    return str(network)


def timeout_default(target: str, grade: bool) -> float:
    # Provisioning real RDS takes ~30 min. Grading reads an account whose writes are done, and its
    # convergence polls share one window from the session's start (fixtures/lab.py): AWS documents
    # a GSI's propagation and a stream's records as typically within a second, a read replica's lag
    # as seconds, so the window only guards a student who wrote seconds before grading, and an
    # account missing the data must not keep the grader. --timeout (dblab grade) raises it.
    return 60.0 if target == "local" else (5.0 if grade else 1800.0)


def resolve_timeout(raw: Raw, *, target: str, grade: bool) -> float:
    value = raw["timeout"]
    if value is None:
        return timeout_default(target, grade)
    try:
        timeout = float(value)
    except ValueError:
        raise SettingsError(f"{raw.flag('timeout')} takes seconds, not {value!r}") from None
    if not timeout > 0:
        raise SettingsError(f"{raw.flag('timeout')} must be positive")
    return timeout


def resolve_reports_dir(raw: Raw, *, invocation_dir: Path, rootdir: Path) -> Path:
    """Given on the command line or in the environment: relative to where the command was run;
    in the ini file or by default: relative to the rootdir."""
    base = invocation_dir if raw.source("reports-dir") in (COMMAND_LINE, ENVIRONMENT) else rootdir
    return Path(base, raw["reports-dir"]).resolve()


def parse_ports(value: str | None, flag: str = OPTION["ports"].cli) -> dict[str, int]:
    if not value:
        return {}
    ports = {}
    for part in value.split(","):
        key, _, number = part.partition("=")
        key = key.strip()
        if key not in PORT_KEYS or not number.strip().isdigit() or not 0 < int(number) < 65536:
            raise SettingsError(f"{flag} takes NAME=PORT pairs with NAME one of {', '.join(PORT_KEYS)}, "
                                f"not {part.strip()!r}")
        ports[key] = int(number)
    return ports


def resolve(raw: Raw, *, markexpr_target: str | None, environ: Mapping[str, str] = os.environ,
            invocation_dir: Path, rootdir: Path) -> LabConfig:
    """Every setting of a pytest run, validated; markexpr_target is the target -m selects."""
    target = raw["target"] or markexpr_target or "local"
    if target not in TARGETS:
        raise SettingsError(f"{raw.flag('target')} must be one of {', '.join(TARGETS)}, not {target!r}")

    grade = bool(raw["grade"])
    if grade and raw["provision"]:
        raise SettingsError(f"{raw.flag('grade')} reads an account and {raw.flag('provision')} writes one: "
                            "use one of them")
    if grade:
        target = "aws"  # grading reads an account someone built; it never starts local stand-ins

    aws = resolve_aws(raw, environ, aws_chain=target == "aws")
    # -m aws without --lab-provision checks the lab that exists (a kept one, say) through read-only
    # clients (LabConfig.read_only): nothing is created, changed or deleted.
    timeout = resolve_timeout(raw, target=target, grade=grade)

    ssh_cidr = raw["ssh-cidr"]
    if raw.source("ssh-cidr") == DEFAULT and target == "aws" and raw["provision"] and not aws.emulated:
        ssh_cidr = None  # the bastion must admit this machine, so that the run reaches its data plane
    elif not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}/32", ssh_cidr):
        raise SettingsError(f"{raw.flag('ssh-cidr')} must be a single address /32 (e.g. 203.0.113.7/32), "
                            f"not {raw['ssh-cidr']!r}")
    for primary, replica in (("mysql-url", "mysql-replica-url"), ("redis-url", "redis-replica-url")):
        # Grading binds each server on its own (a student without a replica is still graded).
        if bool(raw[primary]) != bool(raw[replica]) and not grade:
            raise SettingsError(f"{raw.flag(primary)} and {raw.flag(replica)} go together: "
                                "the lab needs a primary and a replica")

    return LabConfig(
        target=target,
        aws=aws,
        provision=not grade and (bool(raw["provision"]) or target == "local"),
        mysql_url=raw["mysql-url"],
        mysql_replica_url=raw["mysql-replica-url"],
        redis_url=raw["redis-url"],
        redis_replica_url=raw["redis-replica-url"],
        ssh_cidr=ssh_cidr,
        timeout=timeout,
        workdir=Path(raw["workdir"]) if raw["workdir"] else None,
        run_id=raw["run-id"] or f"run-{secrets.token_hex(4)}",
        ports=parse_ports(raw["ports"], raw.flag("ports")),
        grade=grade,
        student=raw["student"],
        rubric=Path(raw["rubric"]) if raw["rubric"] else None,
        bench=bool(raw["bench"]),
        reports_dir=resolve_reports_dir(raw, invocation_dir=invocation_dir, rootdir=rootdir),
        grader_cidr=resolve_grader_cidr(raw),
        student_code=resolve_student_code(raw, target=target, invocation_dir=invocation_dir),
        account=resolve_account(raw),
        keep=resolve_keep(raw, target=target),
        aws_realism=resolve_realism(raw, emulated=target == "local" or aws.emulated),
        evidence=resolve_evidence(raw, grade=grade, invocation_dir=invocation_dir),
    )


def resolve_evidence(raw: Raw, *, grade: bool, invocation_dir: Path) -> Path | None:
    value = raw["evidence"]
    if not value:
        return None
    flag = raw.flag("evidence")
    if not grade:
        raise SettingsError(f"{flag} regrades a student from recorded answers: use it with {raw.flag('grade')}")
    directory = (invocation_dir / value).resolve()
    if not directory.is_dir():
        raise SettingsError(f"{flag}: {directory} is not a folder (give reports/evidence/STUDENT)")
    return directory


def resolve_keep(raw: Raw, *, target: str) -> bool:
    keep = bool(raw["keep"])
    if keep and not (target == "aws" and raw["provision"]):
        # A local lab's emulator and servers end with the run: there is nothing to keep.
        raise SettingsError(f"{raw.flag('keep')} keeps the lab a run creates in an account: use it with "
                            f"-m aws {raw.flag('provision')}")
    return keep


def resolve_realism(raw: Raw, *, emulated: bool) -> float:
    value = raw["aws-realism"]
    flag = raw.flag("aws-realism")
    try:
        scale = float(value or 0)
    except (TypeError, ValueError):
        raise SettingsError(f"{flag} takes a number (a scale of AWS's typical durations, e.g. 0.002), "
                            f"not {value!r}") from None
    if scale < 0 or scale != scale or scale > 10:
        raise SettingsError(f"{flag} takes a scale between 0 and 10, not {value!r}")
    if scale and not emulated:
        raise SettingsError(f"{flag} slows an emulator down to AWS's pace; real AWS has its own: "
                            "drop it, or point AWS_ENDPOINT_URL at an emulator")
    return scale


def resolve_account(raw: Raw) -> str | None:
    value = str(raw["account"]).strip() if raw["account"] else None
    if value is not None and not re.fullmatch(r"\d{12}", value):
        raise SettingsError(f"{raw.flag('account')} takes an AWS account id (12 digits), not {value!r}")
    return value


def resolve_student_code(raw: Raw, *, target: str, invocation_dir: Path) -> Path | None:
    """The submission's directory. Its code runs against the suite's local stand-ins only: never
    against an account (the student's code is untrusted, an account's data is not the grader's to change)."""
    value = raw["student-code"]
    if not value:
        return None
    flag = raw.flag("student-code")
    if target != "local":
        raise SettingsError(f"{flag} runs a student's code against the local stand-ins: use it with -m local")
    directory = Path(invocation_dir, os.path.expanduser(str(value))).resolve()
    if not directory.is_dir():
        raise SettingsError(f"{flag}: {directory} is not a directory (give the folder that holds the student's "
                            "app.py, dynamodb_app.py and cache_app.py)")
    if not submissions_in(directory):
        files = ", ".join(naming.APP_FILES.values())
        raise SettingsError(f"{flag}: {directory} holds none of the lab's files ({files}), nor folders that do")
    return directory


def submissions_in(directory: Path) -> dict[str, Path]:
    """The submissions a --lab-student-code directory holds, by name: itself, when it holds one
    of the lab's files, else each of its folders that does (a class, one folder per student)."""
    def holds_files(folder: Path) -> bool:
        return any((folder / name).is_file() for name in naming.APP_FILES.values())

    if holds_files(directory):
        return {directory.name: directory}
    return {folder.name: folder for folder in sorted(directory.iterdir()) if folder.is_dir() and holds_files(folder)}

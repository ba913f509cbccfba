"""Least privilege, checked up front: can the grader read what the checks read?

grading/iam-policy.json is the grader's policy: exactly the read actions a grade run calls,
one statement per lab step (its Sid names the step), plus the account summary's. A self-test
(tests/test_grading_iam_policy.py) records the operations of real grade runs and keeps the
file equal to them.

`run_preflight(clients)` calls one cheap read per action of the policy (EC2 with DryRun, the
others on the lab's names, where "not found" proves the permission as well as success does)
and returns which actions are denied and which steps need them:

    missing permission ec2:DescribeVpcs: add it from grading/iam-policy.json

Credentials that are rejected outright (expired, unknown key), or missing, raise
CredentialsRejected with the fix; the grading plugin then stops the run before the first check.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from provisioning import naming
from provisioning.errors import (
    DENIED, NO_CREDENTIALS_ERRORS, NO_CREDENTIALS_FIX, REJECTED, REJECTED_FIX, THROTTLED_CODES, THROTTLED_FIX,
    UNREACHABLE_ERRORS, UNREACHABLE_FIX, NotInEvidence, access_problem, error_code, error_message,
)

POLICY_FILE = Path(__file__).with_name("iam-policy.json")
SUMMARY_SID = "GradeAccountSummary"  # the plugin's account id and resource census, not a step
# Callable by every identity, so never in a policy (and never denied).
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})


PROFILE_FIX = "name a profile of your AWS config (aws configure list-profiles)"


class CredentialsRejected(RuntimeError):
    """The credentials themselves do not work: nothing in the account can be graded. The message
    says what AWS (or botocore) answered; `fix` what the grader should do about it."""

    def __init__(self, message: str, fix: str = REJECTED_FIX):
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True)
class Policy:
    statements: dict[str, tuple[str, ...]]  # Sid -> actions

    @property
    def actions(self) -> set[str]:
        return {action for actions in self.statements.values() for action in actions}

    def steps_needing(self, action: str) -> list[str]:
        return [step for sid, actions in self.statements.items() if action in actions
                for step in [step_of_sid(sid)] if step]

    def summary_actions(self) -> set[str]:
        return set(self.statements.get(SUMMARY_SID, ()))


def step_of_sid(sid: str) -> str | None:
    """"Step1dot4" -> "1.4"."""
    match = re.fullmatch(r"Step(\d+)dot(\d+)", sid)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def sid_for(step: str | None) -> str:
    """"1.4" -> "Step1dot4" (a Sid is alphanumeric). The step alone: its title lives in
    provisioning/catalogue.toml only, so renaming a step does not change the policy."""
    return SUMMARY_SID if step is None else "Step" + step.replace(".", "dot")


@lru_cache(maxsize=None)
def load_policy(path: Path = POLICY_FILE) -> Policy:
    document = json.loads(Path(path).read_text())
    statements = {}
    for statement in document["Statement"]:
        actions = statement["Action"]
        statements[statement["Sid"]] = tuple([actions] if isinstance(actions, str) else actions)
    return Policy(statements)


def policy_document(step_actions: dict[str | None, set[str]]) -> dict:
    """The policy for recorded (step -> actions); what iam-policy.json must equal."""
    from provisioning.catalogue import step_sort_key

    statements = []
    steps = sorted((s for s in step_actions if s is not None), key=step_sort_key)
    for step in steps + ([None] if step_actions.get(None) else []):
        actions = sorted(set(step_actions[step]) - ALWAYS_ALLOWED)
        if actions:
            statements.append({"Sid": sid_for(step), "Effect": "Allow",
                               "Action": actions, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


# --- one cheap read per action ------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    account: str
    region: str

    def table_arn(self) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{naming.ORDERS_TABLE}"

    def stream_arn(self) -> str:
        return self.table_arn() + "/stream/1970-01-01T00:00:00.000"  # no such stream: NotFound proves the permission


def _ec2(name: str, **params) -> Callable:
    # DryRun: AWS answers DryRunOperation when the call is allowed, UnauthorizedOperation when not.
    return lambda clients, who: getattr(clients("ec2"), name)(DryRun=True, **params)


def _stream_shard(clients) -> tuple[str, str] | None:
    """The orders table's stream and its first shard, when both exist (errors: None; the
    probes of DescribeTable and DescribeStream report their own denials)."""
    try:
        arn = clients("dynamodb").describe_table(TableName=naming.ORDERS_TABLE)["Table"].get("LatestStreamArn")
        shards = clients("dynamodbstreams").describe_stream(StreamArn=arn)["StreamDescription"].get("Shards", []) \
            if arn else []
    except ClientError:
        return None
    return (arn, shards[0]["ShardId"]) if shards else None


def _get_shard_iterator(clients, who: "Identity"):
    # On a real shard when there is one: moto answers a made-up shard of an existing stream with HTTP 500.
    arn, shard = _stream_shard(clients) or (who.stream_arn(), "shardId-00000000000000000000-00000000")
    return clients("dynamodbstreams").get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")


def _get_records(clients, who: "Identity") -> None:
    """GetRecords needs a real shard iterator (AWS may check a made-up one before permissions;
    moto answers HTTP 500). Without a stream there is nothing the checks could read either."""
    found = _stream_shard(clients)
    if found is None:
        return
    try:
        iterator = clients("dynamodbstreams").get_shard_iterator(
            StreamArn=found[0], ShardId=found[1], ShardIteratorType="LATEST")["ShardIterator"]
    except ClientError:
        return  # the GetShardIterator probe reports its own denial
    clients("dynamodbstreams").get_records(ShardIterator=iterator, Limit=1)


_NO_KEY = {":c": {"S": "dblab-preflight"}}
PROBES: dict[str, Callable] = {
    "ec2:DescribeVpcs": _ec2("describe_vpcs", Filters=[{"Name": "tag:Name", "Values": [naming.VPC]}]),
    "ec2:DescribeVpcAttribute": _ec2("describe_vpc_attribute", VpcId="vpc-00000000000000000",
                                     Attribute="enableDnsHostnames"),
    "ec2:DescribeSubnets": _ec2("describe_subnets", Filters=[{"Name": "tag:Name", "Values": [naming.PUBLIC_SUBNET_A]}]),
    "ec2:DescribeRouteTables": _ec2("describe_route_tables",
                                    Filters=[{"Name": "tag:Name", "Values": [naming.PUBLIC_ROUTE_TABLE]}]),
    "ec2:DescribeInternetGateways": _ec2("describe_internet_gateways",
                                         Filters=[{"Name": "tag:Name", "Values": [naming.IGW]}]),
    "ec2:DescribeSecurityGroups": _ec2("describe_security_groups",
                                       Filters=[{"Name": "group-name", "Values": [naming.EC2_SG]}]),
    "ec2:DescribeInstances": _ec2("describe_instances", Filters=[{"Name": "tag:Name", "Values": [naming.BASTION]}]),
    "ec2:DescribeKeyPairs": _ec2("describe_key_pairs", KeyNames=[naming.KEY_PAIR]),
    "rds:DescribeDBInstances": lambda c, who: c("rds").describe_db_instances(DBInstanceIdentifier=naming.DB_INSTANCE),
    "rds:DescribeDBSubnetGroups": lambda c, who: c("rds").describe_db_subnet_groups(DBSubnetGroupName=naming.DB_SUBNET_GROUP),
    "dynamodb:ListTables": lambda c, who: c("dynamodb").list_tables(Limit=1),
    "dynamodb:DescribeTable": lambda c, who: c("dynamodb").describe_table(TableName=naming.ORDERS_TABLE),
    "dynamodb:ListTagsOfResource": lambda c, who: c("dynamodb").list_tags_of_resource(ResourceArn=who.table_arn()),
    "dynamodb:Query": lambda c, who: c("dynamodb").query(
        TableName=naming.ORDERS_TABLE, KeyConditionExpression="customer_id = :c", ExpressionAttributeValues=_NO_KEY,
        Limit=1),
    "dynamodb:DescribeStream": lambda c, who: c("dynamodbstreams").describe_stream(StreamArn=who.stream_arn()),
    "dynamodb:GetShardIterator": _get_shard_iterator,
    "dynamodb:GetRecords": _get_records,
    "elasticache:DescribeReplicationGroups": lambda c, who: c("elasticache").describe_replication_groups(
        ReplicationGroupId=naming.REPLICATION_GROUP),
    "elasticache:DescribeCacheSubnetGroups": lambda c, who: c("elasticache").describe_cache_subnet_groups(
        CacheSubnetGroupName=naming.CACHE_SUBNET_GROUP),
    "elasticache:DescribeCacheClusters": lambda c, who: c("elasticache").describe_cache_clusters(
        CacheClusterId=f"{naming.REPLICATION_GROUP}-001"),
}


def probe(action: str, clients, who: Identity) -> str | None:
    """None when allowed, else the error code that denied it."""
    try:
        PROBES[action](clients, who)
    except NotInEvidence:
        return None  # a regrade, and a probe added since: the checks that need it say so themselves
    except ClientError as error:
        problem = access_problem(error)
        if problem == REJECTED:
            raise CredentialsRejected(f"{action}: {error_code(error)}: {error_message(error)}") from None
        if problem == DENIED:
            return error_code(error)
    return None  # success, NotFound, DryRunOperation, a validation error: the call was allowed


# --- the result ----------------------------------------------------------------------------------

@dataclass
class Preflight:
    account: str
    policy: Policy
    missing: dict[str, str] = field(default_factory=dict)  # action -> the error code that denied it

    @property
    def ok(self) -> bool:
        return not self.missing

    def step_reasons(self) -> dict[str, str]:
        """step -> why its checks cannot be graded: the actions it needs that were denied."""
        by_step: dict[str, list[str]] = {}
        for action in sorted(self.missing):
            for step in self.policy.steps_needing(action):
                by_step.setdefault(step, []).append(action)
        return {step: missing_message(actions) for step, actions in by_step.items()}

    def reason_for(self, step: str | None) -> str | None:
        return self.step_reasons().get(step) if step else None

    def summary_problems(self) -> list[str]:
        denied = sorted(self.policy.summary_actions() & set(self.missing))
        return [missing_message(denied) + " (the grade's account summary needs it)"] if denied else []

    def lines(self) -> list[str]:
        return [f"{missing_message([action])} (steps {', '.join(self.policy.steps_needing(action)) or 'none'}; "
                f"{self.missing[action]})" for action in sorted(self.missing)]


def missing_message(actions: list[str]) -> str:
    noun = "permission" if len(actions) == 1 else "permissions"
    return f"missing {noun} {', '.join(actions)}: add it from grading/iam-policy.json"


def check_credentials(clients) -> str:
    """The account the credentials act in (sts:GetCallerIdentity, which no policy can deny);
    CredentialsRejected when they do not work at all."""
    try:
        return clients("sts").get_caller_identity()["Account"]
    except ClientError as error:
        fix = THROTTLED_FIX if error_code(error) in THROTTLED_CODES else REJECTED_FIX
        raise CredentialsRejected(f"sts:GetCallerIdentity: {error_code(error)}: {error_message(error)}", fix) from None
    except BotoCoreError as error:
        raise CredentialsRejected(f"{type(error).__name__}: {error}", _botocore_fix(error)) from None


def _botocore_fix(error: BotoCoreError) -> str:
    if isinstance(error, NO_CREDENTIALS_ERRORS):
        return NO_CREDENTIALS_FIX
    if isinstance(error, ProfileNotFound):
        return PROFILE_FIX
    if isinstance(error, UNREACHABLE_ERRORS):
        return UNREACHABLE_FIX
    return "check the grader's AWS configuration (aws configure list)"


def run_preflight(clients, *, region: str | None = None, policy: Policy | None = None, workers: int = 8) -> Preflight:
    """Probe every action of the grader's policy with the given clients (an AwsClients, or any
    callable returning a boto3 client per service). Raises CredentialsRejected when the
    credentials do not work at all."""
    policy = policy or load_policy()
    account = check_credentials(clients)
    who = Identity(account, region or clients("sts").meta.region_name or naming.REGION)
    unknown = policy.actions - PROBES.keys()
    if unknown:
        raise KeyError(f"grading/preflight.py has no probe for {', '.join(sorted(unknown))}: add one to PROBES")
    actions = sorted(policy.actions)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        denied = dict(zip(actions, pool.map(lambda action: probe(action, clients, who), actions)))
    return Preflight(account, policy, {action: code for action, code in denied.items() if code})

"""The run journal: every resource a provisioning run asks AWS for, on disk before and after.

A run killed at any moment (SIGKILL included: no teardown, no finally) must still be cleaned
up, so each create is written down twice, by botocore event hooks on the run's clients:
`requested` (with the name it will carry) before the call is sent, and `created` (with the id
AWS returned) the moment the answer is parsed, each line flushed and fsynced. A deletion that
succeeded is written down as `deleted`. `dblab sweep` reads the journals (and the lab's names
and tags, for a create killed between sending and answering) to find what is left.

One JSON object per line, in reports/runs/<run-id>/journal.jsonl; never a secret (the hooks copy
only the fields named below, never the request's parameters as a whole).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

JOURNAL_NAME = "journal.jsonl"
RUNS_DIR = "runs"

# (service, operation) -> (kind, the request parameter naming it, the answer's path to its id).
# Kinds are lookups.inventory's Leftover kinds, so the sweeper lists both alike.
CREATES = {
    ("ec2", "CreateVpc"): ("VPC", None, ("Vpc", "VpcId")),
    ("ec2", "CreateSubnet"): ("subnet", None, ("Subnet", "SubnetId")),
    ("ec2", "CreateInternetGateway"): ("internet gateway", None, ("InternetGateway", "InternetGatewayId")),
    ("ec2", "CreateRouteTable"): ("route table", None, ("RouteTable", "RouteTableId")),
    ("ec2", "CreateSecurityGroup"): ("security group", "GroupName", ("GroupId",)),
    ("ec2", "CreateKeyPair"): ("key pair", "KeyName", ("KeyName",)),
    ("ec2", "RunInstances"): ("EC2 instance", None, ("Instances", "*", "InstanceId")),
    ("rds", "CreateDBSubnetGroup"): ("DB subnet group", "DBSubnetGroupName", ("DBSubnetGroup", "DBSubnetGroupName")),
    ("rds", "CreateDBInstance"): ("RDS instance", "DBInstanceIdentifier", ("DBInstance", "DBInstanceIdentifier")),
    ("rds", "CreateDBInstanceReadReplica"): ("RDS instance", "DBInstanceIdentifier",
                                             ("DBInstance", "DBInstanceIdentifier")),
    ("dynamodb", "CreateTable"): ("DynamoDB table", "TableName", ("TableDescription", "TableName")),
    ("elasticache", "CreateCacheSubnetGroup"): ("cache subnet group", "CacheSubnetGroupName",
                                                ("CacheSubnetGroup", "CacheSubnetGroupName")),
    ("elasticache", "CreateReplicationGroup"): ("ElastiCache replication group", "ReplicationGroupId",
                                                ("ReplicationGroup", "ReplicationGroupId")),
}
# (service, operation) -> (kind, the request parameter holding the id(s) deleted).
DELETES = {
    ("ec2", "DeleteVpc"): ("VPC", "VpcId"),
    ("ec2", "DeleteSubnet"): ("subnet", "SubnetId"),
    ("ec2", "DeleteInternetGateway"): ("internet gateway", "InternetGatewayId"),
    ("ec2", "DeleteRouteTable"): ("route table", "RouteTableId"),
    ("ec2", "DeleteSecurityGroup"): ("security group", "GroupId"),
    ("ec2", "DeleteKeyPair"): ("key pair", "KeyName"),
    ("ec2", "TerminateInstances"): ("EC2 instance", "InstanceIds"),
    ("rds", "DeleteDBSubnetGroup"): ("DB subnet group", "DBSubnetGroupName"),
    ("rds", "DeleteDBInstance"): ("RDS instance", "DBInstanceIdentifier"),
    ("dynamodb", "DeleteTable"): ("DynamoDB table", "TableName"),
    ("elasticache", "DeleteCacheSubnetGroup"): ("cache subnet group", "CacheSubnetGroupName"),
    ("elasticache", "DeleteReplicationGroup"): ("ElastiCache replication group", "ReplicationGroupId"),
}
# What the cost of a resource depends on, copied from its create request (never anything else).
COST_FIELDS = ("DBInstanceClass", "MultiAZ", "AllocatedStorage", "CacheNodeType", "NumCacheClusters",
               "InstanceType")


def _dig(answer, path: tuple[str, ...]) -> list[str]:
    values = [answer]
    for key in path:
        if key == "*":
            values = [item for value in values for item in (value or [])]
        else:
            values = [value.get(key) for value in values if isinstance(value, dict)]
    return [str(value) for value in values if value]


@dataclass(frozen=True)
class Entry:
    run_id: str
    event: str  # requested, created, deleted
    kind: str
    id: str | None  # None for `requested` when the resource has no name of its own (a VPC)
    region: str
    at: float
    detail: dict


class RunJournal:
    def __init__(self, path: Path, run_id: str, region: str):
        self.path, self.run_id, self.region = Path(path), run_id, region
        self._lock = threading.Lock()

    @classmethod
    def for_run(cls, reports_dir: Path, run_id: str, region: str) -> "RunJournal":
        return cls(Path(reports_dir) / RUNS_DIR / run_id / JOURNAL_NAME, run_id, region)

    def record(self, event: str, kind: str, resource_id: str | None, **detail) -> None:
        line = json.dumps({"run_id": self.run_id, "event": event, "kind": kind, "id": resource_id,
                           "region": self.region, "at": round(time.time(), 3), "detail": detail})
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())  # on disk before the next call: a SIGKILL loses nothing

    # -- the botocore hooks ------------------------------------------------------------------
    def attach(self, client) -> None:
        client.meta.events.register("provide-client-params", self._remember_name)
        client.meta.events.register("before-call", self._before_call)
        client.meta.events.register("after-call", self._after_call)

    @staticmethod
    def _key(model) -> tuple[str, str]:
        return model.service_model.endpoint_prefix, model.name

    def _remember_name(self, params, model, context, **_) -> None:
        # Only the one parameter that names the subject is kept (never a password or user data).
        key = self._key(model)
        param = CREATES[key][1] if key in CREATES else DELETES[key][1] if key in DELETES else None
        if param is not None:
            context["dblab_subject"] = params.get(param)

    def _before_call(self, model, context=None, **_) -> None:
        spec = CREATES.get(self._key(model))
        if spec is not None:
            name = (context or {}).get("dblab_subject")
            self.record("requested", spec[0], str(name) if name else None, operation=model.name)

    def _after_call(self, model, parsed, http_response=None, context=None, **_) -> None:
        if http_response is not None and http_response.status_code >= 300:
            return
        key = self._key(model)
        if key in CREATES:
            kind, _name, path = CREATES[key]
            cost = _cost_detail(parsed)
            for resource_id in _dig(parsed, path):
                self.record("created", kind, resource_id, operation=model.name, **cost)
        elif key in DELETES:
            subject = (context or {}).get("dblab_subject")
            for resource_id in subject if isinstance(subject, list) else [subject]:
                if resource_id:
                    self.record("deleted", DELETES[key][0], str(resource_id), operation=model.name)


def _cost_detail(parsed: dict) -> dict:
    """The fields a price depends on, from a create's answer (DBInstance, ReplicationGroup, ...)."""
    found: dict = {}
    for value in parsed.values():
        records = value if isinstance(value, list) else [value]
        for record in records:
            if isinstance(record, dict):
                found.update({field: record[field] for field in COST_FIELDS if field in record})
    if "MemberClusters" in (parsed.get("ReplicationGroup") or {}):
        found["NumCacheClusters"] = len(parsed["ReplicationGroup"]["MemberClusters"])
    return found


def read_journal(path: Path) -> list[Entry]:
    entries = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill mid-write
        entries.append(Entry(data["run_id"], data["event"], data["kind"], data.get("id"), data.get("region", ""),
                             data.get("at", 0.0), data.get("detail") or {}))
    return entries


def journals(reports_dir: Path) -> dict[str, list[Entry]]:
    """Every run's journal under reports_dir/runs, by run id."""
    found = {}
    for path in sorted((Path(reports_dir) / RUNS_DIR).glob(f"*/{JOURNAL_NAME}")):
        entries = read_journal(path)
        if entries:
            found[path.parent.name] = entries
    return found


def still_created(entries: list[Entry]) -> list[Entry]:
    """The `created` entries not followed by a `deleted` of the same resource."""
    alive: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        if entry.id is None:
            continue
        key = (entry.kind, entry.id)
        if entry.event == "created":
            alive[key] = entry
        elif entry.event == "deleted":
            alive.pop(key, None)
    return list(alive.values())

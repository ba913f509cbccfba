"""The provisioner's IAM policy (provisioning/iam-policy.json), generated from the calls a run makes.

`pytest -m aws --lab-provision` and `dblab sweep --delete` write to an account; this policy is
exactly what they call, one statement per lab step (Sid "Step1dot4", as the grader's policy),
plus "Guard" (the account guard's sts:GetCallerIdentity), "Sweep" (the reads only the sweeper
makes) and "ServiceLinkedRoles" (see below). Regenerate it with

    .venv/bin/python -m dblab.iam_policy --write

which starts an embedded moto server and records, with a botocore hook on every client created
meanwhile, the IAM action (signing name:operation) of every call of: the account guard; a full
provision; a second provision that adopts what the first made; a sweep dry run and a sweep
--delete (the lab's teardown); a teardown of the now empty account. tests/test_provisioner_iam_policy.py
keeps the shipped file equal to a fresh recording.

How a call is tied to its step: the recorder replaces provisioning.lab's `provisioning_steps` and
`teardown_steps` for the duration of the recording with the same Steps whose function is wrapped
to set a context variable (CURRENT_STEP) while it runs. provisioning.lab looks both names up when
it runs, so every caller (lab.provision, lab.teardown, dblab sweep) is recorded without editing it,
and the variable follows a step into a worker thread (provisioning/plan.py runs steps in threads,
each in a copy of the context, and the wrapper sets it inside the worker). Calls outside any step
belong to the phase being recorded (Guard, Sweep).

Calls the recording cannot see, added from AWS's documentation:
- Tag on create. Every create the lab makes passes Tags/TagSpecifications, and AWS then also
  authorizes the service's tagging action: ec2:CreateTags (EC2 "Grant permission to tag resources
  during creation"), rds:AddTagsToResource ("If tags are specified in the create action, RDS performs
  additional authorization on the rds:AddTagsToResource action", docs.aws.amazon.com/AmazonRDS/latest/
  UserGuide/security_iam_id-based-policy-examples-grant-permissions-tags-on-create.html),
  elasticache:AddTagsToResource and dynamodb:TagResource likewise. The hook sees the parameters,
  so a create with tags adds its service's tagging action to the same step.
- Service-linked roles. The first RDS instance and the first ElastiCache cluster of an account make
  AWS create AWSServiceRoleForRDS / AWSServiceRoleForElastiCache, with the caller's permission
  iam:CreateServiceLinkedRole (docs.aws.amazon.com/AmazonElastiCache/latest/dg/using-service-linked-roles.html:
  the entity needs iam:CreateServiceLinkedRole on arn:aws:iam::*:role/aws-service-role/
  elasticache.amazonaws.com/AWSServiceRoleForElastiCache* with iam:AWSServiceName
  elasticache.amazonaws.com; RDS's "Using service-linked roles for Amazon RDS" says the same for
  AWSServiceRoleForRDS). A lab account is often a fresh one, so the statement is included, limited
  to those two roles by Resource and by iam:AWSServiceName. The docs' iam:PutRolePolicy is left
  out: that condition key is absent from a PutRolePolicy request, so the docs' own statement never
  grants it.

Region: every regional statement is conditioned on aws:RequestedRegion = the lab's region.
IAM and STS are global services (their requests carry us-east-1, or the STS endpoint's region,
whatever the lab's region is), so their actions go in statements without that condition: Guard
(sts:GetCallerIdentity) and ServiceLinkedRoles (iam:CreateServiceLinkedRole). The lab calls no
other global service.

Not covered: the checks that `pytest -m aws --lab-provision` runs between provisioning and
teardown read with the same credentials: attach grading/iam-policy.json too. A tunnel to the
data plane (SSM) is not part of provisioning.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import functools
import io
import json
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterator

import botocore.session

from provisioning import lab, naming
from provisioning.aws import AwsClients, AwsTarget
from provisioning.catalogue import step_sort_key
from provisioning.context import ProvisionContext, Step
from provisioning.dataplane import DataPlane
from provisioning.passwords import generate_password

POLICY_FILE = Path(__file__).resolve().parent.parent / "provisioning" / "iam-policy.json"
REGENERATE = ".venv/bin/python -m dblab.iam_policy --write"

GUARD, SWEEP, SERVICE_LINKED_ROLES = "Guard", "Sweep", "ServiceLinkedRoles"
# Global services: aws:RequestedRegion is not the lab's region for them, so never region-conditioned.
GLOBAL_PREFIXES = frozenset({"iam", "sts"})
# The action AWS also authorizes when a create passes tags (see the module docstring).
TAG_ON_CREATE = {"ec2": "ec2:CreateTags", "rds": "rds:AddTagsToResource",
                 "elasticache": "elasticache:AddTagsToResource", "dynamodb": "dynamodb:TagResource"}
TAG_PARAMETERS = ("Tags", "TagSpecifications")
SERVICE_LINKED = {  # service principal -> the role AWS creates on the first use in an account
    "rds.amazonaws.com": "AWSServiceRoleForRDS",
    "elasticache.amazonaws.com": "AWSServiceRoleForElastiCache",
}

# The lab step whose function is running (set in the step's own thread/context), else None.
CURRENT_STEP: contextvars.ContextVar[str | None] = contextvars.ContextVar("dblab_iam_step", default=None)


class UnknownTaggingService(RuntimeError):
    """A create with tags on a service TAG_ON_CREATE does not know: say which action it needs."""


class Recorder:
    """step or phase -> IAM actions, from every botocore client created while `recording()` is active."""

    def __init__(self) -> None:
        self.actions: dict[str, set[str]] = defaultdict(set)
        self.phase = "unattributed"  # calls made outside any step
        self._lock = threading.Lock()

    def _where(self) -> str:
        return CURRENT_STEP.get() or self.phase

    def add(self, action: str) -> None:
        with self._lock:
            self.actions[self._where()].add(action)

    def _instrument(self, client) -> None:
        prefix = client.meta.service_model.signing_name
        client.meta.events.register("before-call", lambda model, **_: self.add(f"{prefix}:{model.name}"))

        def tags_passed(params, model, **_):
            if model.name.startswith(("Create", "Run")) and any(params.get(p) for p in TAG_PARAMETERS):
                if prefix not in TAG_ON_CREATE:
                    raise UnknownTaggingService(f"{prefix}:{model.name} passes tags: add {prefix}'s tagging "
                                                "action to TAG_ON_CREATE in dblab/iam_policy.py")
                self.add(TAG_ON_CREATE[prefix])
        client.meta.events.register("before-parameter-build", tags_passed)

    @contextlib.contextmanager
    def in_phase(self, phase: str) -> Iterator[None]:
        before, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = before


def _attributed(step: Step) -> Step:
    function = step.run

    @functools.wraps(function)  # keeps __module__ and __name__: lab.steps_of and the tests read them
    def run(ctx):
        token = CURRENT_STEP.set(step.step)
        try:
            return function(ctx)
        finally:
            CURRENT_STEP.reset(token)

    return Step(step.step, step.title, run)


@contextlib.contextmanager
def recording() -> Iterator[Recorder]:
    """Record the IAM action of every call of every botocore client created inside the block
    (make the AwsClients inside it: clients made before are not hooked), by lab step."""
    recorder = Recorder()
    create_client = botocore.session.Session.create_client
    provisioning_steps, teardown_steps = lab.provisioning_steps, lab.teardown_steps

    def create(session, *args, **kwargs):
        client = create_client(session, *args, **kwargs)
        recorder._instrument(client)
        return client

    botocore.session.Session.create_client = create
    lab.provisioning_steps = lambda: [_attributed(s) for s in provisioning_steps()]
    lab.teardown_steps = lambda: [_attributed(s) for s in teardown_steps()]
    try:
        yield recorder
    finally:
        botocore.session.Session.create_client = create_client
        lab.provisioning_steps, lab.teardown_steps = provisioning_steps, teardown_steps


# --- the recorded run -------------------------------------------------------------------------

class RecordedRunFailed(RuntimeError):
    """A pass of the recorded run failed: its calls would not be the lab's; the message says which."""


def _check(what: str, results) -> None:
    failed = {r.step: (r.error or r.skipped) for r in results if not r.ok}
    if failed:
        raise RecordedRunFailed(f"{what}: " + "; ".join(f"step {s}: {e}" for s, e in failed.items()))


def _sweep(endpoint_url: str, region: str, reports: str, *, delete: bool) -> tuple[int, str]:
    from .cli import build_parser
    from .sweep import run

    # With the run's journal, as after a crash: the sweeper also looks up each journaled id.
    arguments = ["sweep", f"--endpoint-url={endpoint_url}", f"--region={region}", "--timeout=30",
                 f"--reports={reports}"]
    args = build_parser().parse_args(arguments + (["--delete"] if delete else []))
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = run(args)
    return code, output.getvalue()


def record_lab_run(endpoint_url: str, region: str = naming.REGION, log: Callable[[str], None] = lambda m: None
                   ) -> dict[str, set[str]]:
    """Every pass the provisioner and the sweeper make, against an emulator at `endpoint_url` that
    holds no lab (reset it first); returns step or phase -> IAM actions."""
    import tempfile

    from provisioning.account_guard import caller_account, guard_account
    from provisioning.journal import RunJournal

    with recording() as recorder, tempfile.TemporaryDirectory(prefix="dblab-policy-") as reports:
        journal = RunJournal.for_run(Path(reports), "iam-policy", region)
        clients = AwsClients(AwsTarget(region=region, endpoint_url=endpoint_url), journal=journal)
        with recorder.in_phase(GUARD):
            guard_account(clients, caller_account(clients), where=clients.target.describe())
        ctx = ProvisionContext(clients=clients, run_id="iam-policy", dataplane=DataPlane(),
                               master_password=generate_password(), timeout=30, log=log)
        with recorder.in_phase("provision"):
            _check("provisioning", lab.provision(ctx))
            _check("provisioning again (adopting)", lab.provision(ctx))
        with recorder.in_phase(SWEEP):
            code, output = _sweep(endpoint_url, region, reports, delete=False)
            if code != 1:
                raise RecordedRunFailed(f"the sweep dry run found no lab to list (exit {code}): {output}")
            # Exit 1 also when only what moto cannot delete is left (a replication group stays
            # `deleting`, a cache subnet group stays); a failed cleanup step is logged FAILED.
            code, output = _sweep(endpoint_url, region, reports, delete=True)
            if code not in (0, 1) or "FAILED" in output:
                raise RecordedRunFailed(f"dblab sweep --delete failed (exit {code}): {output}")
        with recorder.in_phase("teardown"):
            _check("teardown of an empty account", lab.teardown(ctx))
    actions = dict(recorder.actions)
    stray = {phase: sorted(found) for phase, found in actions.items() if phase in ("provision", "teardown", "unattributed")}
    if stray:
        raise RecordedRunFailed(f"calls outside any lab step, so no statement would grant them: {stray}")
    return actions


def record_with_embedded_moto(region: str = naming.REGION) -> dict[str, set[str]]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # one line per request; moto's 500s
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        return record_lab_run(f"http://{host}:{port}", region)
    finally:
        server.stop()


# --- the document -----------------------------------------------------------------------------

def _statement(sid: str, actions, region: str | None, resource="*", condition: dict | None = None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource}
    conditions = dict(condition or {})
    if region is not None:
        conditions.setdefault("StringEquals", {})["aws:RequestedRegion"] = region
    if conditions:
        statement["Condition"] = conditions
    return statement


def _sid(where: str) -> str:
    return where if where in (GUARD, SWEEP) else "Step" + where.replace(".", "dot")


def policy_document(recorded: dict[str, set[str]], region: str = naming.REGION) -> dict:
    """The provisioner's policy for recorded (step or phase -> actions): Guard, the steps in the
    lab's order, ServiceLinkedRoles, Sweep (only what no other statement grants)."""
    steps = sorted((w for w in recorded if w not in (GUARD, SWEEP)), key=step_sort_key)
    granted = {a for s in steps for a in recorded[s]}
    order = ([GUARD] if recorded.get(GUARD) else []) + steps
    statements = []
    for where in order:
        regional = {a for a in recorded[where] if a.split(":")[0] not in GLOBAL_PREFIXES}
        global_ = recorded[where] - regional
        if regional:
            statements.append(_statement(_sid(where), regional, region))
        if global_:
            statements.append(_statement(_sid(where) + ("" if not regional else "Global"), global_, None))
    statements.append(_statement(
        SERVICE_LINKED_ROLES, {"iam:CreateServiceLinkedRole"}, None,
        resource=[f"arn:aws:iam::*:role/aws-service-role/{principal}/{role}"
                  for principal, role in sorted(SERVICE_LINKED.items())],
        condition={"StringEquals": {"iam:AWSServiceName": sorted(SERVICE_LINKED)}}))
    sweep_only = set(recorded.get(SWEEP, ())) - granted
    if sweep_only:
        statements.append(_statement(SWEEP, sweep_only, region))
    return {"Version": "2012-10-17", "Statement": statements}


def render(document: dict) -> str:
    return json.dumps(document, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dblab.iam_policy", description=(
        "Record a provision (twice), a sweep and a teardown against an embedded moto and print the "
        "provisioner's IAM policy; --write replaces provisioning/iam-policy.json with it."))
    parser.add_argument("--write", action="store_true", help=f"write {POLICY_FILE.name} instead of printing it")
    parser.add_argument("--region", default=naming.REGION, help="the region the policy allows (default %(default)s)")
    args = parser.parse_args(argv)
    text = render(policy_document(record_with_embedded_moto(args.region), args.region))
    if args.write:
        POLICY_FILE.write_text(text)
        print(f"wrote {POLICY_FILE}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

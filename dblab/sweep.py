"""`dblab sweep`: find lab resources left in an account, what they cost, and, when asked, delete them.

Dry run by default: it lists what it would delete and what that costs per hour. What is left is
found two ways: by the lab's names (lookups/inventory.py, which also finds a lab a student or a
run killed mid-create left), and by the run journals under reports/runs/ (provisioning/journal.py:
every id a provisioning run was given, written the moment AWS returned it, even if the run was
then SIGKILLed). `--run-id RUN` narrows both to one run: a lab kept with --lab-keep is deleted by
its run id, and never a lab that is not that run's. `--delete` runs the lab's cleanup steps
(7.1-7.4, in parallel where they may be), then lists what is still there.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from lookups.by_id import still_there
from lookups.inventory import Leftover, lab_leftovers
from provisioning import lab, settings
from provisioning.aws import AwsClients, EndpointUnreachable, check_reachable
from provisioning.context import ProvisionContext
from provisioning.costs import leftover_hourly
from provisioning.dataplane import DataPlane
from provisioning.journal import RunJournal, journals, still_created
from provisioning.passwords import generate_password

# The lab settings dblab sweep takes, as it spells them (the table in provisioning/settings.py).
FLAGS = {"region": "--region", "profile": "--profile", "endpoint-url": "--endpoint-url", "timeout": "--timeout",
         "run-id": "--run-id", "reports-dir": "--reports"}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="list (or delete) lab resources left in an account, with their cost")
    parser.add_argument("--delete", action="store_true", help="delete them (default: dry run, list only)")
    settings.add_arguments(parser, FLAGS, {
        "endpoint-url": "AWS_ENDPOINT_URL or LOCALSTACK_HOST, else real AWS",
        "timeout": f"{settings.timeout_default('aws', grade=False):g}; deleting RDS on AWS takes minutes",
        "run-id": "every run: whatever the lab's names and every journal find",
        "reports-dir": "reports under the current directory; run journals are in its runs/ folder"})
    parser.set_defaults(run=run)


@dataclass
class Found:
    leftover: Leftover
    runs: set[str]  # the runs whose journal created it
    by_name: bool  # the lab's names find it

    @property
    def hourly(self) -> float:
        return leftover_hourly(self.leftover.kind, self.leftover.detail)

    def line(self) -> str:
        origin = ", ".join(f"run {run}" for run in sorted(self.runs)) or "no journal"
        cost = f"${self.hourly:.4f}/h" if self.hourly else "no hourly charge"
        return f"{self.leftover}  [{cost}; {origin}]"


def find(clients: AwsClients, run_journals: dict, region: str, run_id: str | None) -> list[Found]:
    """What the lab's names and the journals (provisioning.journal.journals) of this region's runs
    (or of one run) find."""
    found: dict[tuple[str, str], Found] = {}
    for leftover in lab_leftovers(clients):
        found[(leftover.kind, leftover.resource_id)] = Found(leftover, set(), True)
    for run, entries in run_journals.items():
        for entry in still_created([e for e in entries if e.region == region]):
            key = (entry.kind, entry.id)
            if key in found:
                found[key].runs.add(run)
                continue
            leftover = still_there(clients, entry.kind, entry.id)
            if leftover is not None:
                found[key] = Found(leftover, {run}, False)
    everything = list(found.values())
    if run_id is None:
        return everything
    return [item for item in everything if run_id in item.runs]


def _settings(args):
    try:
        raw = settings.from_arguments(args, FLAGS)
        target = settings.resolve_aws(raw)
        timeout = settings.resolve_timeout(raw, target="aws", grade=False)
    except settings.SettingsError as exc:
        raise SystemExit(f"dblab sweep: {exc}")
    reports_dir = Path(raw["reports-dir"]).resolve()
    return target, timeout, reports_dir, raw["run-id"]


def _emulator_gap(item: Found, emulated: bool) -> str | None:
    """What moto never finishes (a replication group stays `deleting`, its subnet group cannot be
    deleted); on AWS these go, so they are reported by name instead of counted as left."""
    if not emulated:
        return None
    if item.leftover.kind == "ElastiCache replication group" and item.leftover.state == "deleting":
        return "moto never completes a replication group's deletion"
    if item.leftover.kind == "cache subnet group":
        return "moto cannot delete a cache subnet group (and the group using it is never gone)"
    return None


def run(args: argparse.Namespace) -> int:
    target, timeout, reports_dir, run_id = _settings(args)
    if target.endpoint_url:
        try:
            check_reachable(target.endpoint_url)
        except EndpointUnreachable as exc:
            raise SystemExit(f"dblab sweep: {exc}; check --endpoint-url or AWS_ENDPOINT_URL")
    run_journals = journals(reports_dir)
    if run_id is not None and run_id not in run_journals:
        raise SystemExit(f"dblab sweep: no journal of run {run_id} under {reports_dir / 'runs'}; "
                         "give the reports directory the run wrote to (--reports)")
    journal = RunJournal.for_run(reports_dir, run_id, target.region) if run_id else None
    clients = AwsClients(target, journal=journal)  # a run's deletions go into its own journal
    where = f"{clients.target.describe()} ({target.region})"
    found = find(clients, run_journals, target.region, run_id)
    scope = f"of run {run_id} " if run_id else ""
    if not found:
        print(f"no lab resources {scope}in {where}")
        return 0
    print(f"lab resources {scope}in {where}:")
    for item in found:
        print(f"  {item.line()}")
    print(f"  costing about ${sum(item.hourly for item in found):.3f} per hour (provisioning/prices.toml)")
    if not args.delete:
        print("dry run: nothing deleted; run again with --delete to delete them")
        return 1
    if run_id is not None:
        others = [item for item in find(clients, run_journals, target.region, None)
                  if item.by_name and run_id not in item.runs]
        if others:
            raise SystemExit(f"dblab sweep: the lab here is not only run {run_id}'s ("
                             + "; ".join(str(item.leftover) for item in others)
                             + "): its cleanup would delete those too; nothing was deleted. "
                               "Run without --run-id to delete every lab resource")
    ctx = ProvisionContext(clients=clients, run_id=run_id or "sweeper", dataplane=DataPlane(),
                           master_password=generate_password(), timeout=timeout, log=print)
    results = lab.teardown(ctx, workers=None)
    remaining = find(clients, journals(reports_dir), target.region, run_id)  # with the deletions just journaled
    left = 0
    for item in remaining:
        gap = _emulator_gap(item, target.emulated)
        if gap:
            print(f"  left by the emulator: {item.leftover} ({gap})")
        else:
            print(f"  still there: {item.line()}")
            left += 1
    failed = [r for r in results if r.error]
    return 1 if (left or failed) else 0

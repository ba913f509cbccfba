"""`dblab sweep`: find lab resources left in an account and, when asked, delete them.

Dry run by default: it lists what it would delete. `--delete` runs the lab's cleanup
steps (7.1-7.4), which find everything by the lab's names, then lists what is left.
"""

from __future__ import annotations

import argparse

from provisioning import lab, settings
from provisioning.aws import AwsClients, EndpointUnreachable, check_reachable
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from lookups.inventory import lab_leftovers
from provisioning.passwords import generate_password

# The lab settings dblab sweep takes, as it spells them (the table in provisioning/settings.py).
FLAGS = {"region": "--region", "profile": "--profile", "endpoint-url": "--endpoint-url", "timeout": "--timeout"}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="list (or delete) lab resources left in an account")
    parser.add_argument("--delete", action="store_true", help="delete them (default: dry run, list only)")
    settings.add_arguments(parser, FLAGS, {
        "endpoint-url": "AWS_ENDPOINT_URL or LOCALSTACK_HOST, else real AWS",
        "timeout": f"{settings.timeout_default('aws', grade=False):g}; deleting RDS on AWS takes minutes"})
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        raw = settings.from_arguments(args, FLAGS)
        target = settings.resolve_aws(raw)
        timeout = settings.resolve_timeout(raw, target="aws", grade=False)
    except settings.SettingsError as exc:
        raise SystemExit(f"dblab sweep: {exc}")
    if target.endpoint_url:
        try:
            check_reachable(target.endpoint_url)
        except EndpointUnreachable as exc:
            raise SystemExit(f"dblab sweep: {exc}; check --endpoint-url or AWS_ENDPOINT_URL")
    clients = AwsClients(target)
    leftovers = lab_leftovers(clients)
    where = clients.target.describe()
    if not leftovers:
        print(f"no lab resources in {where} ({target.region})")
        return 0
    print(f"lab resources in {where} ({target.region}):")
    for item in leftovers:
        print(f"  {item}")
    if not args.delete:
        print("dry run: nothing deleted; run again with --delete to delete them")
        return 1
    ctx = ProvisionContext(clients=clients, run_id="sweeper", dataplane=DataPlane(),
                           master_password=generate_password(), timeout=timeout, log=print)
    results = lab.teardown(ctx)
    remaining = lab_leftovers(clients)
    for item in remaining:
        print(f"  still there: {item}")
    failed = [r for r in results if r.error]
    return 1 if (remaining or failed) else 0

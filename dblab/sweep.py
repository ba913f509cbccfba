"""`dblab sweep`: find lab resources left in an account and, when asked, delete them.

Dry run by default: it lists what it would delete. `--delete` runs the lab's cleanup
steps (7.1-7.4), which find everything by the lab's names, then lists what is left.
"""

from __future__ import annotations

import argparse

from provisioning import lab
from provisioning.aws import AwsClients, AwsTarget, EndpointUnreachable, check_reachable, endpoint_from_environment
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.inventory import lab_leftovers
from provisioning.passwords import generate_password


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="list (or delete) lab resources left in an account")
    parser.add_argument("--delete", action="store_true", help="delete them (default: dry run, list only)")
    parser.add_argument("--region", default="us-east-1", help="region (default: us-east-1)")
    parser.add_argument("--profile", default=None, help="AWS profile (default: boto3's standard chain)")
    parser.add_argument("--endpoint-url", default=None,
                        help="an emulator endpoint (default: AWS_ENDPOINT_URL or LOCALSTACK_HOST, else real AWS)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds any deletion may wait (default: 1800)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    endpoint = args.endpoint_url or endpoint_from_environment()
    if endpoint:
        try:
            check_reachable(endpoint)
        except EndpointUnreachable as exc:
            raise SystemExit(f"dblab sweep: {exc}; check --endpoint-url or AWS_ENDPOINT_URL")
    clients = AwsClients(AwsTarget(region=args.region, endpoint_url=endpoint, profile=args.profile))
    leftovers = lab_leftovers(clients)
    where = clients.target.describe()
    if not leftovers:
        print(f"no lab resources in {where} ({args.region})")
        return 0
    print(f"lab resources in {where} ({args.region}):")
    for item in leftovers:
        print(f"  {item}")
    if not args.delete:
        print("dry run: nothing deleted; run again with --delete to delete them")
        return 1
    ctx = ProvisionContext(clients=clients, run_id="sweeper", dataplane=DataPlane(),
                           master_password=generate_password(), timeout=args.timeout, log=print)
    results = lab.teardown(ctx)
    remaining = lab_leftovers(clients)
    for item in remaining:
        print(f"  still there: {item}")
    failed = [r for r in results if r.error]
    return 1 if (remaining or failed) else 0

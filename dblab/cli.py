"""dblab: command-line entry point."""

from __future__ import annotations

import argparse
import sys

from . import bench, grade, gradebook_merge, parity, regrade, report, sweep


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dblab", description="Hands-On Database Lab tools")
    subparsers = parser.add_subparsers(dest="command", required=True)
    sweep.add_parser(subparsers)
    parity.add_parser(subparsers)
    grade.add_parser(subparsers)
    gradebook_merge.add_parser(subparsers)
    regrade.add_parser(subparsers)
    report.add_parser(subparsers)
    bench.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError, ProfileNotFound

    from provisioning.errors import DENIED, access_problem

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("dblab: interrupted", file=sys.stderr)
        return 130
    except (NoCredentialsError, ProfileNotFound, NoRegionError) as exc:
        print(f"dblab {args.command}: {exc}; configure credentials (aws configure, AWS_PROFILE) "
              "or pass --endpoint-url for an emulator", file=sys.stderr)
        return 2
    except ClientError as exc:
        error = exc.response.get("Error", {})
        hint = " (check the IAM permissions for this call)" if access_problem(exc) == DENIED else ""
        print(f"dblab {args.command}: {exc.operation_name}: {error.get('Code')}: {error.get('Message')}{hint}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

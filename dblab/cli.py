"""dblab: command-line entry point."""

from __future__ import annotations

import argparse
import sys

from . import sweep


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dblab", description="Hands-On Database Lab tools")
    subparsers = parser.add_subparsers(dest="command", required=True)
    sweep.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("dblab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

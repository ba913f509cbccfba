"""`dblab parity`: the README's parity table, from the JUnit report of a local run.

A check that passed locally is verified on both targets (it is written for AWS and runs
there unchanged); one that reported emulator-limited is verified on AWS only; one marked
emulated_only (AWS cannot show it to a reader) is verified locally only.
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

from provisioning.outcomes import EMULATOR_LIMITED, classify_skip, skip_detail


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("parity", help="print the local/AWS parity table from a local run's junit.xml")
    parser.add_argument("junit", nargs="?", default="reports/junit.xml", help="(default: reports/junit.xml)")
    parser.set_defaults(run=run)


def rows(junit: Path) -> list[tuple[str, str, str, str]]:
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        step = properties.get("step")
        if step is None:
            continue
        skipped = case.find("skipped")
        failed = case.find("failure") is not None or case.find("error") is not None
        message = skipped.get("message", "") if skipped is not None else ""
        if failed:
            local, note = "FAILED", ""
        elif classify_skip(message) == EMULATOR_LIMITED:
            local, note = EMULATOR_LIMITED, skip_detail(message)
        elif skipped is not None:
            local, note = "not run", message
        else:
            local, note = "verified", ""
        where = "AWS only" if local == EMULATOR_LIMITED else properties.get("verified_on", "both")
        found.append((step, case.get("name"), local, where if not note else f"{where}: {note}"))
    return sorted(found, key=lambda row: (tuple(int(p) for p in row[0].split(".")), row[1]))


def table(junit: Path) -> str:
    lines = ["| step | check | locally | verified on |", "| --- | --- | --- | --- |"]
    lines += [f"| {step} | `{name}` | {local} | {where} |" for step, name, local, where in rows(junit)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    junit = Path(args.junit)
    if not junit.is_file():
        raise SystemExit(f"dblab parity: {junit} not found; run `pytest -m local` first")
    print(table(junit))
    return 0

"""The local lab, run again and again: it must pass every time (`make soak`: 10 runs).

    .venv/bin/python -m tests.soak [--runs 10]

Each run is a fresh `pytest -m local` (servers, provisioning, every check, teardown). A run
passes when pytest exits 0, its JUnit report has no failure or error, and no server
process it started is left. Stops at the first run that does not pass and names the checks.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def servers_under(workdir: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-f", str(workdir)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "mariadbd" in line or "redis-server" in line]


def not_passed(junit: Path) -> list[str]:
    """Checks that failed or errored in a JUnit report."""
    found = []
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            found.append(f"{case.get('classname')}::{case.get('name')}")
    return found


def one_run(directory: Path, number: int) -> tuple[bool, str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("LOCALSTACK_HOST", None)
    junit, workdir = directory / f"run-{number}.xml", directory / f"run-{number}" / "lab"
    begin = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "local", "-q", "-p", "no:cacheprovider", "--junitxml", str(junit),
         "--lab-workdir", str(workdir)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - begin
    problems = not_passed(junit) if junit.exists() else ["no JUnit report"]
    left = servers_under(workdir)
    if result.returncode == 0 and not problems and not left:
        return True, "", seconds
    detail = f"exit {result.returncode}; not passed: {problems}; servers left: {left}\n{result.stdout[-3000:]}"
    return False, detail, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="how many runs in a row (default: 10)")
    args = parser.parse_args(argv)
    times = []
    with tempfile.TemporaryDirectory(prefix="dblab-soak-") as directory:
        for number in range(1, args.runs + 1):
            passed, detail, seconds = one_run(Path(directory), number)
            times.append(seconds)
            print(f"run {number}/{args.runs}: {'passed' if passed else 'FAILED'} in {seconds:.1f}s", flush=True)
            if not passed:
                print(detail)
                return 1
    print(f"{args.runs} runs in a row passed; {min(times):.1f}-{max(times):.1f}s each")
    return 0


if __name__ == "__main__":
    sys.exit(main())

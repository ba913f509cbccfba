"""Run every seeded fault against one provisioned lab and print the table (`make faults`).

    .venv/bin/python -m tests.faults.runner [--fault ID]... [--all-checks] [--json PATH]

1. Start the local stand-ins and provision the whole lab once, as `pytest -m local` does.
2. One pytest session collects the suites' checks (1.1-5.3) and runs them on the reference
   environment: every check must pass (or be emulator-limited); each check's reads are recorded.
3. For each fault: apply it, run the checks that read what it touched (all of them with
   --all-checks), revert it, run its targets again (they must pass again).
4. The same on the "as on AWS" view for the checks moto cannot show (aws_view.py).
5. A last reference pass shows the environment is as it was; 7.5 gets scenarios of its own.
Exit status 1 when any check is never killed, any fault survives or breaks an unrelated
check, or the reference environment fails a check.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest
from boto3.dynamodb.conditions import Attr

from provisioning import naming
from provisioning.aws import AwsTarget
from provisioning.environment import EnvironmentSpec, LabEnvironment
from provisioning.lab import failures
from provisioning.local.mariadb import PRIMARY, REPLICA, ReplicaLagging

from . import aws_view, cleanup
from .catalogue import CLEANUP_FAULTS, FAULTS
from .probes import PROBES
from .context import FaultContext
from .model import AWS, ELASTICACHE, EMULATOR, MYSQL, RDS, affected
from .plugin import FaultSession, Pass
from .table import render
from .verdicts import FaultRun, missing_steps, resolve

REPO_ROOT = Path(__file__).resolve().parents[2]
SUITES = REPO_ROOT / "suites"
# lab.timeout under faults: polls for replication, a GSI or a stream give up after this.
# On the reference environment each converges in milliseconds.
CHECK_TIMEOUT = 1.0
# The 5.3 window check waits this long for a 1 s rate-limit window to end (5 s in the suite);
# a limiter that never resets fails after it.
WINDOW_RESET_DEADLINE = 2.5
# Lab 6 under faults: the read-after-write benchmark gives up on a row after REPLICA_DEADLINE
# (10 s in the suite), and each concurrency thread runs a few queries, not 50 (same paths).
LAB6_SETTINGS = {"REPLICA_DEADLINE": 1.0, "QUERIES_PER_THREAD": 5}
# Lab 6's benchmarks run under every fault that reaches what they read, measuring only long
# enough to go through each of their paths: the numbers are not the point here.
BENCHMARK_ARGS = ["--lab-bench", "--benchmark-max-time=0.01", "--benchmark-min-rounds=2", "--benchmark-warmup=off"]


@dataclass
class Report:
    checks: dict[str, str] = field(default_factory=dict)  # check name -> step
    reference: dict[str, dict] = field(default_factory=dict)  # view -> {check: outcome}
    final: dict[str, dict] = field(default_factory=dict)  # view -> {check: outcome}, after every fault
    faults: list[FaultRun] = field(default_factory=list)
    probes: list[FaultRun] = field(default_factory=list)  # probes.py: wrong on purpose
    probe_verdicts: dict[str, str] = field(default_factory=dict)  # probe id -> the verdict it must get
    seconds: dict[str, float] = field(default_factory=dict)
    all_checks: bool = False
    secrets_shown: list[str] = field(default_factory=list)  # checks whose message shows a password

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Report":
        return cls(**{**data, "faults": [FaultRun(**run) for run in data["faults"]],
                      "probes": [FaultRun(**run) for run in data.get("probes", [])]})


def _plain(result: Pass) -> dict:
    return {name: {"status": o.status, "message": o.message} for name, o in result.outcomes.items()}


def _settle_replica(fc: FaultContext) -> None:
    # A fault's change on the primary reaches the replica before the checks look (a fault that
    # stops replication leaves it behind on purpose: that is not waited for long).
    if MYSQL in fc.touched:
        try:
            fc.wait_replica_caught_up(timeout=0.5)
        except ReplicaLagging:
            pass


def could_read(step_of: dict[str, str], reference: Pass, touched: set[str], targets: list[str]) -> list[str]:
    """The checks to run under a fault: its targets, and every check of a step one of whose checks
    read what the fault changed (a check could read what its step's checks read; and a whole step
    runs, so the step ledger sees under the fault what a full run would)."""
    systems = affected(touched)
    steps = {step_of[name] for name in reference.outcomes
             if name in targets or reference.reads.get(name, set()) & systems}
    return [name for name in reference.outcomes if step_of.get(name) in steps]


def run_fault(session: FaultSession, fault, fc: FaultContext, reference: Pass, *, all_checks: bool) -> FaultRun:
    step_of = session.steps()
    targets, unknown = resolve(fault.targets, list(step_of))
    run = FaultRun(id=fault.id, step=fault.step, title=fault.title, view=fault.view, targets=targets,
                   breaks=list(fault.breaks))
    if unknown:
        run.error = f"targets that name no single check of the suites: {unknown}"
        return run
    begin = time.monotonic()
    fc.begin()
    try:
        fault.apply(fc)
        _settle_replica(fc)
        names = list(reference.outcomes) if all_checks else could_read(step_of, reference, fc.touched, targets)
        result = session.run(names, fault.view)
        run.outcomes, run.rerun = _plain(result), len(names)
        baseline = _plain(reference)
        run.baseline = {name: baseline[name]["status"] for name in names if name in baseline}
        run.missing_steps = missing_steps(step_of, run.outcomes, baseline)
    except Exception as exc:  # the fault itself is broken: reported, the other faults still run
        run.error = f"applying: {type(exc).__name__}: {exc}"
    try:
        fc.revert()
        _settle_replica(fc)
    except Exception as exc:
        run.error = (run.error + "; " if run.error else "") + f"reverting: {exc}"
    run.touched = sorted(fc.touched)
    if not run.error:
        run.left_behind = data_left_behind(fc)
        again = _plain(session.run(targets, fault.view))
        expected = {name: o.status for name, o in reference.outcomes.items()}
        run.not_restored = {name: o for name, o in again.items() if o["status"] != expected.get(name)}
    run.seconds = round(time.monotonic() - begin, 3)
    return run


def data_left_behind(fc: FaultContext) -> list[str]:
    """What the writes_data checks create is named for them (naming.CHECK_SCRATCH: products rows,
    Redis keys, Lab 4's customers); none of it may outlive a check, not even one that failed
    under a fault."""
    found = [f"{role} products row {name}" for role in (PRIMARY, REPLICA)
             for (name,) in fc.sql(role, f"SELECT name FROM products WHERE name LIKE '{naming.CHECK_SCRATCH}%'")]
    with fc.redis() as client:
        found += [f"Redis key {key}" for key in client.scan_iter(match=f"*{naming.CHECK_SCRATCH}*")]
    table = fc.clients.resource("dynamodb").Table(naming.ORDERS_TABLE)
    items = table.scan(FilterExpression=Attr("customer_id").begins_with(naming.CHECK_SCRATCH))["Items"]
    found += [f"order of {item['customer_id']}" for item in items]
    return found


def secrets_shown(report: Report, secrets) -> list[str]:
    texts = [(name, o["message"]) for outcomes in report.reference.values() for name, o in outcomes.items()]
    texts += [(f"{name} under {run.id}", o["message"]) for run in report.faults for name, o in run.outcomes.items()]
    return sorted({name for name, text in texts for secret in secrets if str(secret) in text})


def progress(index: int, total: int, run: FaultRun, step_of: dict[str, str]) -> None:
    from .verdicts import verdict

    print(f"[{index:3d}/{total}] {run.id:<55} {verdict(run, step_of):<10} "
          f"{run.rerun:3d} checks {run.seconds:5.2f}s", file=sys.stderr, flush=True)


def drive(session: FaultSession, faults, fc: FaultContext, report: Report, *, all_checks: bool,
          probes: dict | None = None) -> None:
    report.checks = session.steps()
    for module in {item.module for item in session.items}:
        if hasattr(module, "WINDOW_RESET_DEADLINE"):
            module.WINDOW_RESET_DEADLINE = WINDOW_RESET_DEADLINE
        for name, value in LAB6_SETTINGS.items():
            if hasattr(module, name):
                setattr(module, name, value)
    total, index, everything, reads = len(faults), 0, session.names(), {}
    for view in [EMULATOR] + ([AWS] if any(f.view == AWS for f in faults) else []):
        begin = time.monotonic()
        # The AWS view changes only RDS and ElastiCache answers: it grades the checks that read them.
        names = everything if view == EMULATOR else [n for n in everything if {RDS, ELASTICACHE} & reads.get(n, set())]
        with session.recording_code():
            reference = session.run(names, view)
        report.reference[view] = _plain(reference)
        if view == EMULATOR:
            reads = reference.reads
        for fault in (f for f in faults if f.view == view):
            index += 1
            run = run_fault(session, fault, fc, reference, all_checks=all_checks)
            report.faults.append(run)
            progress(index, total, run, report.checks)
        for probe, expected in (probes or {}).items() if view == EMULATOR else ():
            run = run_fault(session, probe, fc, reference, all_checks=all_checks)
            report.probes.append(run)
            report.probe_verdicts[probe.id] = expected
            progress(0, total, run, report.checks)
        if view == EMULATOR:  # every fault reverted: the environment is the reference again
            report.final[view] = _plain(session.run(names, view))
        report.seconds[f"{view} view"] = round(time.monotonic() - begin, 1)


def pytest_args() -> list[str]:
    # No addopts: no JUnit file, no -rfE; the terminal stays quiet (the table is the output).
    return [str(SUITES), f"--ignore={SUITES / 'test_lab7_cleanup.py'}", "-o", "addopts=", "-p", "no:cacheprovider",
            "-p", "no:terminal", "-W", "ignore::DeprecationWarning", *BENCHMARK_ARGS]


def start_environment(log) -> LabEnvironment:
    spec = EnvironmentSpec(local=True, aws=AwsTarget(), provision=True, run_id=f"faults-{secrets.token_hex(3)}",
                           ssh_cidr="198.51.100.10/32", timeout=30)
    environment = LabEnvironment(spec, log=log)
    try:
        environment.start()
        failed = failures(environment.provision_results)
        if failed:
            raise RuntimeError(f"provisioning the reference environment failed: {failed}")
    except BaseException:
        environment.close()  # never leave a server behind
        raise
    return environment


def select(faults, patterns: list[str]):
    if not patterns:
        return list(faults)
    return [f for f in faults if any(f.id.startswith(p) or p in f.id for p in patterns)]


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tests.faults.runner", description=__doc__.splitlines()[0])
    parser.add_argument("--fault", action="append", default=[], help="only faults whose id contains this (repeatable)")
    parser.add_argument("--all-checks", action="store_true",
                        help="run every check under every fault, not only those that read what the fault changed")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--no-cleanup", action="store_true", help="skip the 7.5 scenarios")
    parser.add_argument("--verbose", action="store_true", help="log provisioning")
    return parser.parse_args(argv)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # SIGTERM tears down like Ctrl-C


def main(argv=None) -> int:
    args = parse_args(argv)
    # Started from a pytest-xdist worker (make test), this process inherits its worker id, and
    # pytest-benchmark would think it is one too and disable Lab 6: this session is not a worker.
    for variable in [name for name in os.environ if name.startswith("PYTEST_XDIST_")]:
        del os.environ[variable]
    signal.signal(signal.SIGTERM, _interrupt)
    # moto's server logs a traceback for every call it does not implement (the teardown's
    # delete_cache_subnet_group): not news here.
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    faults = select(FAULTS, args.fault)
    probes = {probe: expected for probe, expected in PROBES.items() if not args.fault or probe in select(PROBES, args.fault)}
    cleanup_faults = [] if args.no_cleanup else select(CLEANUP_FAULTS, args.fault)
    log = (lambda message: print(message, file=sys.stderr)) if args.verbose else (lambda message: None)
    report = Report(all_checks=args.all_checks)
    started = time.monotonic()
    environment = start_environment(log)
    report.seconds["environment"] = round(time.monotonic() - started, 1)
    try:
        answers = aws_view.AwsAnswers()
        fc = FaultContext(target=environment.clients.target, dataplane=environment.dataplane,
                          engines=environment.engines, run_id=environment.spec.run_id, answers=answers, log=log)
        session = FaultSession(environment, lambda s: drive(s, faults, fc, report, all_checks=args.all_checks,
                                                             probes=probes),
                               check_timeout=CHECK_TIMEOUT, answers=answers)
        code = pytest.main(pytest_args(), plugins=[session])
        if session.error is not None:
            raise session.error
        if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            raise RuntimeError(f"collecting the checks failed (pytest exit code {code})")
        if not args.no_cleanup and (cleanup_faults or not args.fault):
            begin = time.monotonic()
            cleanup.run_scenarios(environment, cleanup_faults, report)
            report.seconds["7.5 scenarios"] = round(time.monotonic() - begin, 1)
        report.secrets_shown = secrets_shown(report, [environment.dataplane.mysql[naming.DB_INSTANCE].password,
                                                      *fc.secrets])
    finally:
        environment.close()
    report.seconds["total"] = round(time.monotonic() - started, 1)
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=1, sort_keys=True))
    everything = FAULTS + ([] if args.no_cleanup else CLEANUP_FAULTS)
    text, gaps = render(report, catalogue_ids=None if args.fault else [f.id for f in everything])
    print(text)
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())

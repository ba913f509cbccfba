"""`dblab grade`: grade a whole class from a roster, in parallel.

One `pytest -m aws --lab-grade --lab-student NAME` run per student, forked from a warm worker
process (grade_worker.py: --jobs of them, each grading students in turn), with that
student's credentials in its environment only (AWS_PROFILE for a profile; for a role ARN the
temporary credentials of sts:AssumeRole, never printed). Before it, one call checks that the
credentials work (the permission preflight, grading/preflight.py, belongs to the grading run
itself); with a bastion key an SSH tunnel, or with --tunnel ssm SSM port forwarding, makes RDS
and ElastiCache reachable (provisioning/tunnel.py). A student whose
credentials fail gets a grade file anyway, every step not_gradable with the reason, and the
others go on. Students already graded are skipped unless --force. A roster `code` column
names each student's submitted code: graded afterwards in one local lab, it joins their grade
(grade_code.py). At the end the gradebook is rebuilt from every grade file. With --shard K/N only
that stable share of the roster is graded, and its gradebook has that share's rows only
(shards.py); `dblab gradebook merge` joins the shards' reports (gradebook_merge.py).

This module is the command and the class loop; one student's grading is grade_runner.py, their
credentials student_access.py, the tunnel's environment grade_dataplane.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from provisioning import settings

from . import shards
from .grade_code import grade_code
from .grade_runner import REPO_ROOT, Outcome, Runner, default_jobs

# The lab settings dblab grade takes, as it spells them (the table in provisioning/settings.py).
FLAGS = {"endpoint-url": "--endpoint-url", "reports-dir": "--reports", "timeout": "--timeout"}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("grade", help="grade every student of a roster (CSV), in parallel")
    parser.add_argument("--roster", required=True, help="CSV: student,credentials,region[,bastion_key[,code]] (see grading/roster.py)")
    parser.add_argument("--jobs", type=int, default=default_jobs(),
                        help="students graded at once, each job by one warm worker process "
                             f"(default: two a core, at most 16: {default_jobs()})")
    parser.add_argument("--force", action="store_true", help="grade students again who already have a grade file")
    parser.add_argument("--shard", metavar="K/N",
                        help="grade only shard K of N (1..N) of the roster, chosen by a hash of each student's name; "
                             "merge the shards' reports with dblab gradebook merge")
    settings.add_arguments(parser, FLAGS, {
        "endpoint-url": "AWS_ENDPOINT_URL or LOCALSTACK_HOST, else real AWS",
        "reports-dir": "reports in the repository",
        "timeout": f"{settings.timeout_default('aws', grade=True):g}; each student's run waits for reads to converge "
                   "only within this window from its start"})
    parser.add_argument("--student-timeout", type=float, default=1800.0,
                        help="seconds one student's grading may take in all (default: 1800)")
    parser.add_argument("--mysql-password-env", default="LAB_MYSQL_PASSWORD",
                        help="environment variable holding the RDS master password, for tunnelled MySQL checks "
                             "(default: LAB_MYSQL_PASSWORD)")
    parser.add_argument("--tunnel", choices=("ssh", "ssm"), default="ssh",
                        help="how to reach each student's RDS and ElastiCache through their bastion: ssh with the "
                             "roster's bastion_key (the bastion's SSH rule must admit the grader), or ssm port "
                             "forwarding for every student (no key, no security group change; the bastion needs the "
                             "SSM agent and an instance profile with AmazonSSMManagedInstanceCore, the grader the AWS "
                             "CLI and the Session Manager plugin) (default: ssh)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="after --: more pytest options for every student (e.g. -- --lab-rubric=FILE)")
    parser.set_defaults(run=run)


def grading_rubric(pytest_args: list[str], environ=os.environ) -> Path | None:
    """The rubric every student is graded with, graded or not gradable: --lab-rubric in the pytest
    options after --, else LAB_RUBRIC; relative to where dblab grade runs."""
    option = settings.OPTION["rubric"]
    value, _ = settings.lookup(option, settings.given_in(pytest_args, option), environ)
    return Path(value).resolve() if value else None


def run(args: argparse.Namespace) -> int:
    from grading.gradebook import grade_path
    from grading.roster import RosterError, load_roster
    from grading.rubric import RubricError, load_rubric
    from provisioning.aws import EndpointUnreachable, check_reachable

    started = time.monotonic()
    try:
        entries = load_roster(args.roster)
    except RosterError as exc:
        print(f"dblab grade: {exc}", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("dblab grade: --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.pytest_args[:1] == ["--"]:
        args.pytest_args = args.pytest_args[1:]
    try:
        raw = settings.from_arguments(args, FLAGS)
        args.endpoint = settings.resolve_endpoint(raw)
        args.timeout = settings.resolve_timeout(raw, target="aws", grade=True)
        reports = settings.resolve_reports_dir(raw, invocation_dir=Path.cwd(), rootdir=REPO_ROOT)
        args.rubric = grading_rubric(args.pytest_args)
        load_rubric(args.rubric)  # a bad rubric is one line here, not a failed run per student
        shard = shards.parse(args.shard) if args.shard is not None else None
    except (settings.SettingsError, RubricError, shards.ShardError) as exc:
        print(f"dblab grade: {exc}", file=sys.stderr)
        return 2
    if shard is not None:
        roster_size, entries = len(entries), shards.choose(entries, shard)
        print(f"shard {shard}: {len(entries)} of the roster's {roster_size} student(s)", flush=True)
    if args.endpoint:
        try:
            check_reachable(args.endpoint)
        except EndpointUnreachable as exc:
            print(f"dblab grade: {exc}; check --endpoint-url or AWS_ENDPOINT_URL", file=sys.stderr)
            return 2
    to_grade = []
    for entry in entries:
        existing = grade_path(reports, entry.student)
        if existing.exists() and not args.force:
            print(f"{entry.student}: already graded ({existing}); --force grades again", flush=True)
        else:
            to_grade.append(entry)

    runner = Runner(args, reports)
    outcomes: list[Outcome] = []
    pool = ThreadPoolExecutor(max_workers=args.jobs, thread_name_prefix="grade")
    try:
        futures = [pool.submit(runner.grade, entry) for entry in to_grade]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            print(f"{outcome.student}: {outcome.line} ({outcome.seconds:.1f}s)", flush=True)
    except KeyboardInterrupt:
        runner.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        runner.close()  # the warm workers exit; none is left behind

    # The roster's `code` column: the students' code, graded in one local lab, joins their grades.
    for line in grade_code(to_grade, reports, args.rubric):
        print(line, flush=True)

    csv_path, unreadable = shards.build_shard_gradebook(reports, shard)  # a shard's rows only
    for entry in unreadable:
        print(f"gradebook: skipped {entry}")
    not_gradable = sum(1 for o in outcomes if not o.graded)
    print(f"graded {len(outcomes)} student(s) in {time.monotonic() - started:.1f}s with {args.jobs} job(s)"
          f" ({not_gradable} not gradable, {len(entries) - len(to_grade)} already graded); gradebook: {csv_path}")
    return 1 if not_gradable else 0

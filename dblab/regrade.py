"""`dblab regrade --evidence DIR`: grade a class again from the answers its grades rest on.

Every grade run saved what it judged under reports/evidence/<student>/ (grading/evidence.py).
A regrade runs the same checks, served those answers (grading/evidence_replay.py), with no
credentials and no network: the students' accounts may be long gone. The same rubric gives the
same grade (its time and duration aside); `--lab-rubric FILE` gives the grade a corrected rubric
gives. Every manifest is checked first: a file whose SHA-256 differs from its manifest stops the
regrade in one line naming the file, before any student is graded. A question the evidence
cannot answer (a check added since) is not_gradable, never a failure.

    dblab regrade --evidence reports/evidence                  # the class, into reports/regraded
    dblab regrade --evidence reports/evidence/alice --reports reports   # one student, in place
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .grade_runner import REPO_ROOT, instructor_env, warm_up_args
from .grade_worker import WorkerPool

NOT_GRADABLE_KEY = "not_gradable"  # a manifest of a student nothing could be asked of, and why


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("regrade", help="grade again from recorded evidence: no credentials, no network")
    parser.add_argument("--evidence", required=True, type=Path,
                        help="reports/evidence (every student in it) or one student's folder in it")
    parser.add_argument("--reports", type=Path,
                        help="where the new grades, scorecards and gradebook go (default: regraded beside "
                             "the evidence folder, e.g. reports/regraded; give reports to replace the grades)")
    parser.add_argument("--lab-rubric", dest="rubric", type=Path, help="grade with this rubric instead of the shipped one")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help=f"students regraded at once, each job a warm worker (default: the cores, {os.cpu_count() or 1})")
    parser.set_defaults(run=run)


def student_folders(evidence: Path) -> list[Path]:
    from grading.evidence import MANIFEST

    if (evidence / MANIFEST).is_file():
        return [evidence]
    return sorted(folder for folder in evidence.iterdir() if (folder / MANIFEST).is_file()) \
        if evidence.is_dir() else []


def regrade_args(folder: Path, manifest: dict, reports: Path, rubric: Path | None) -> list[str]:
    """pytest's arguments for one student's regrade (what a warm worker's child runs)."""
    endpoint = [f"--lab-endpoint-url={manifest['endpoint_url']}"] if manifest.get("endpoint_url") else []
    return ["-m", "aws", "--lab-grade", f"--lab-student={manifest['student']}",
            f"--lab-evidence={folder}", f"--lab-region={manifest['region']}", *endpoint,
            f"--lab-timeout={manifest['timeout']:g}", f"--lab-reports-dir={reports}", "-q", "-p", "no:cacheprovider",
            *([f"--lab-rubric={rubric}"] if rubric else [])]


def offline_environment() -> dict:
    """No credentials and nothing that finds any: a regrade asks nothing of AWS."""
    env = instructor_env()
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    return env


def regrade_one(folder: Path, manifest: dict, reports: Path, rubric: Path | None, workers: WorkerPool) -> str:
    from grading import gradebook, scorecard
    from grading.evidence import MANIFEST, grade_link, sha256_file

    from .grade_runner import not_gradable_grade

    student = manifest["student"]
    if manifest.get(NOT_GRADABLE_KEY):  # nothing was asked of the account: it is not gradable again
        entry = _Entry(student, manifest.get("account"), manifest["region"])
        grade = not_gradable_grade(entry, manifest[NOT_GRADABLE_KEY], manifest.get("endpoint_url"), rubric)
        grade["evidence"] = grade_link(str(folder), sha256_file(folder / MANIFEST))
        gradebook.write_grade(reports, grade)
        gradebook.write_atomically(gradebook.grade_path(reports, student, ".html"), scorecard.render(grade))
        return grade["summary"]
    log = reports / "logs" / f"{student}.regrade.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    path = gradebook.grade_path(reports, student)
    path.unlink(missing_ok=True)  # a grade here afterwards is this regrade's
    try:
        workers.grade({"student": student, "args": regrade_args(folder, manifest, reports, rubric),
                     "env": offline_environment(), "log": str(log), "cwd": str(REPO_ROOT), "timeout": 1800.0})
    except Exception as exc:  # a worker lost: this student's line says so, the others go on
        return f"no grade written ({exc}; log: {log})"
    if not path.exists():
        return f"no grade written (log: {log})"
    return json.loads(path.read_text())["summary"]


def check_against_grade(folder: Path) -> None:
    """The manifest's digest against the one its grade recorded, when the grade is beside the
    evidence (reports/grades/NAME.json for reports/evidence/NAME): a manifest rewritten together
    with the files it lists is refused too."""
    from grading.evidence import MANIFEST, EvidenceError, sha256_file

    grade_file = folder.parent.parent / "grades" / f"{folder.name}.json"
    try:
        recorded = (json.loads(grade_file.read_text()).get("evidence") or {}).get("manifest_sha256")
    except (OSError, ValueError, AttributeError):
        return  # evidence copied on its own: its files are checked against its manifest only
    if recorded and recorded != sha256_file(folder / MANIFEST):
        raise EvidenceError(f"{folder / MANIFEST}: its SHA-256 differs from the one {grade_file} recorded: the "
                            "evidence was changed after the grade; refusing to regrade from it")


class _Entry:
    def __init__(self, student: str, account: str | None, region: str):
        self.student, self.account_hint, self.region = student, account, region


def run(args) -> int:
    from grading.evidence import EvidenceError, read_manifest
    from grading.gradebook import build_gradebook
    from grading.rubric import RubricError, load_rubric

    started = time.monotonic()
    evidence = args.evidence.resolve()
    folders = student_folders(evidence)
    if not folders:
        print(f"dblab regrade: {evidence}: no evidence here (a folder with manifest.json, or one that holds such "
              "folders: reports/evidence)", file=sys.stderr)
        return 2
    rubric = args.rubric.resolve() if args.rubric else None
    try:
        load_rubric(rubric)
        manifests = [read_manifest(folder) for folder in folders]  # all of them, before anyone is graded
        for folder in folders:
            check_against_grade(folder)
    except (EvidenceError, RubricError) as exc:
        print(f"dblab regrade: {exc}", file=sys.stderr)
        return 2
    holder = evidence if len(folders) > 1 or folders[0] != evidence else evidence.parent
    reports = (args.reports or holder.parent / "regraded").resolve()
    # One warm worker a job, as dblab grade grades (dblab/grade_worker.py): a student costs a fork.
    workers = WorkerPool(warm_up_args(reports), offline_environment(), REPO_ROOT)
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs), thread_name_prefix="regrade") as pool:
            futures = {pool.submit(regrade_one, folder, manifest, reports, rubric, workers): manifest["student"]
                       for folder, manifest in zip(folders, manifests)}
            for future, student in futures.items():
                print(f"{student}: {future.result()}", flush=True)
    finally:
        workers.close()
    csv_path, unreadable = build_gradebook(reports)
    for entry in unreadable:
        print(f"gradebook: skipped {entry}")
    print(f"regraded {len(folders)} student(s) from {evidence} in {time.monotonic() - started:.1f}s, offline; "
          f"gradebook: {csv_path}")
    return 0

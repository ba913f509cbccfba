"""`dblab gradebook merge DIR... [--out DIR]`: the reports of a class graded in shards (`dblab
grade --shard K/N --reports DIR` on several machines) joined into one reports directory.

Every student's grade file (DIR/grades/<student>.json) and the other files grading wrote for
them (the scorecard grades/<student>.html, the log logs/<student>.log, the JUnit report
junit/<student>.xml, the code grade code/<student>.json, the bastion's host key
known_hosts/<student>, the evidence folder evidence/<student>/) are copied into --out, then the gradebook there is rebuilt with
grading/gradebook.py's own build_gradebook: the same file one unsharded run writes. A student
graded in two directories is an error naming the student and both directories, unless the two
grade files are identical; so is a different grade already in --out, unless --force. Nothing is
written until every directory has been read and checked.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from provisioning import settings

from .grade_runner import REPO_ROOT

FLAGS = {"reports-dir": "--out"}
# What grading writes for one student, besides the gradebook: (folder, suffix after the name).
# grades/*.json comes first: it is the grade, the others follow it.
ALLURE_RESULTS = "allure-results"
EVIDENCE = "evidence"  # a folder per student: evidence/<student>/
PER_STUDENT = (("grades", ".json"), ("grades", ".html"), ("logs", ".log"), ("junit", ".xml"),
               ("code", ".json"), ("known_hosts", ""))


class MergeError(ValueError):
    """One line: which student or directory, and the fix."""


@dataclass
class Found:
    student: str
    source: Path  # the reports directory the grade is taken from (resolved)
    given: Path  # the same, as the command line named it
    data: bytes  # the grade file, as written


@dataclass
class Merged:
    students: dict[str, Found] = field(default_factory=dict)
    per_dir: dict[Path, int] = field(default_factory=dict)  # grades found in each directory
    notes: list[str] = field(default_factory=list)  # files that are not grades (named, not fatal)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("gradebook", help="class gradebook tools (merge the reports of a sharded class)")
    commands = parser.add_subparsers(dest="gradebook_command", required=True)
    merge = commands.add_parser(
        "merge", help="merge the reports directories of dblab grade --shard runs into one, and rebuild its gradebook")
    merge.add_argument("dirs", nargs="+", metavar="DIR", type=Path,
                       help="a reports directory of one shard (what dblab grade --reports DIR wrote)")
    option = settings.OPTION["reports-dir"]  # read as dblab grade reads --reports (env, default)
    merge.add_argument("--out", dest=option.dest, default=None, metavar="DIR",
                       help=f"the reports directory to merge into: its grades/, the students' other files and "
                            f"gradebook.csv [env {option.env}] (default: reports in the repository)")
    merge.add_argument("--force", action="store_true",
                       help="replace a student's grade already in --out that differs from the shard's")
    merge.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from grading.gradebook import build_gradebook

    try:
        out = settings.resolve_reports_dir(settings.from_arguments(args, FLAGS), invocation_dir=Path.cwd(),
                                           rootdir=REPO_ROOT)
        merged = collect(args.dirs)
        check_out(merged, out, force=args.force)
    except (settings.SettingsError, MergeError) as exc:
        print(f"dblab gradebook merge: {exc}", file=sys.stderr)
        return 2
    copy_reports(merged, out)
    csv_path, unreadable = build_gradebook(out)
    for note in merged.notes + [f"{out}: {entry}" for entry in unreadable]:
        print(f"gradebook: skipped {note}")
    for directory, count in merged.per_dir.items():
        print(f"{directory}: {count} student(s)")
    count = len(merged.per_dir)
    print(f"merged {len(merged.students)} student(s) from {count} reports director{'y' if count == 1 else 'ies'}"
          f" into {out}; gradebook: {csv_path}")
    return 0


def collect(dirs: list[Path]) -> Merged:
    """Every grade of `dirs`, one per student; two different grades of one student are an error."""
    from grading.gradebook import GRADEBOOK, GRADES_DIR, grade_path, read_grades, valid_student

    merged = Merged()
    for directory in dirs:
        directory = Path(directory)
        if not directory.is_dir():
            raise MergeError(f"{directory}: no such directory (give the reports directories of the shards)")
        if not (directory / GRADES_DIR).is_dir() and not (directory / GRADEBOOK).is_file():
            # A shard with no student has a gradebook and no grades/: it is still a reports directory.
            raise MergeError(f"{directory}: not a reports directory (no {GRADES_DIR}/ and no {GRADEBOOK}): "
                             "give the --reports directory of a dblab grade run")
        key = directory.resolve()
        merged.per_dir.setdefault(directory, 0)
        grades, unreadable = read_grades(directory / GRADES_DIR)
        merged.notes += [f"{directory}: {entry}" for entry in unreadable]
        for grade in grades:
            student = str(grade["student"])
            path = grade_path(directory, student)
            if not valid_student(student) or not path.is_file():
                merged.notes.append(f"{directory}: a grade of {student!r} in a file not named {student}.json")
                continue
            data = path.read_bytes()
            first = merged.students.get(student)
            if first is None:
                merged.students[student] = Found(student, key, directory, data)
                merged.per_dir[directory] += 1
            elif first.data != data:
                raise MergeError(f"student {student} is graded in both {first.given} and {directory}, differently: "
                                 f"keep one of the two {GRADES_DIR}/{student}.json (a student belongs to one shard)")
    return merged


def check_out(merged: Merged, out: Path, *, force: bool) -> None:
    """A different grade of the same student already in --out is not overwritten without --force."""
    from grading.gradebook import GRADES_DIR, grade_path

    if force:
        return
    for found in merged.students.values():
        target = grade_path(out, found.student)
        if target.is_file() and target.read_bytes() != found.data:
            raise MergeError(f"student {found.student} is graded in both {found.given} and {out} (--out), "
                             f"differently: --force replaces {out / GRADES_DIR / (found.student + '.json')}")


def copy_reports(merged: Merged, out: Path) -> None:
    from grading.gradebook import write_atomically

    for found in merged.students.values():
        if found.source == out.resolve():
            continue
        for folder, suffix in PER_STUDENT:
            source = found.source / folder / f"{found.student}{suffix}"
            if not source.is_file():
                continue
            target = out / folder / source.name
            if (folder, suffix) == PER_STUDENT[0]:
                # The grade, atomically: a gradebook rebuilt meanwhile reads the old file or the new one.
                write_atomically(target, found.data.decode("utf-8"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        # The evidence the grade rests on (grading/evidence.py), whole: a regrade checks its digests.
        evidence = found.source / EVIDENCE / found.student
        if evidence.is_dir():
            target = out / EVIDENCE / found.student
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(evidence, target)
    # The class's Allure results (one file per check, named by a fresh uuid): all of every shard,
    # so that `make report` on the merged folder shows the whole class.
    for source_dir in sorted({found.source for found in merged.students.values()} - {out.resolve()}):
        results = source_dir / ALLURE_RESULTS
        for source in sorted(results.glob("*")) if results.is_dir() else ():
            if source.is_file():
                (out / ALLURE_RESULTS).mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, out / ALLURE_RESULTS / source.name)

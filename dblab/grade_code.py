"""`dblab grade`: the roster's `code` column (issue 13). Once the accounts are graded, every
submitted folder is graded in one local lab (`pytest -m "local and writes_data"
--lab-student-code=DIR`, fixtures/apps.py: one run for the class, servers started once), and each
student's grade takes its app checks' outcomes from their code (grading/code_merge.py).

The code run gets no AWS setting of the instructor's: it is the local lab, its emulator its own,
and the student's code runs sandboxed with no credential (submissions/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .grade_runner import REPO_ROOT

CODE_RUN_TIMEOUT = 3600.0  # the whole class's code; a class of 30 takes about 3 minutes


def code_run_command(class_dir: Path, reports: Path, rubric: Path | None) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-m", "local and writes_data", f"--lab-student-code={class_dir}",
               f"--lab-reports-dir={reports}", "-p", "no:cacheprovider", "-q", f"--junitxml={reports / 'code-junit.xml'}"]
    return command + ([f"--lab-rubric={rubric}"] if rubric else [])


def grade_code(entries, reports: Path, rubric_path: Path | None) -> list[str]:
    """Grade the code of `entries` (those with a `code` folder) and merge it into their grade
    files; one line per student for the terminal."""
    from grading.code_merge import merge_code
    from grading.gradebook import grade_path
    from grading.reports import write_reports
    from grading.rubric import load_rubric

    entries = [entry for entry in entries if entry.code is not None]
    if not entries:
        return []
    rubric = load_rubric(rubric_path)
    lines = []
    with tempfile.TemporaryDirectory(prefix="dblab-code-") as scratch:
        class_dir, code_reports = Path(scratch, "class"), Path(scratch, "reports")
        class_dir.mkdir()
        for entry in entries:  # each folder under the student's name: the submission is named after it
            (class_dir / entry.student).symlink_to(entry.code.resolve(), target_is_directory=True)
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAB_", "LOCALSTACK"))}
        try:
            run = subprocess.run(code_run_command(class_dir, code_reports, rubric_path), cwd=REPO_ROOT, env=environ,
                                 capture_output=True, text=True, timeout=CODE_RUN_TIMEOUT)
            output = (run.stdout + run.stderr).strip().splitlines()
        except subprocess.TimeoutExpired:
            output = [f"the code run took longer than {CODE_RUN_TIMEOUT:g} s"]
        (reports / "code").mkdir(parents=True, exist_ok=True)
        for entry in entries:
            code_file = code_reports / "code" / f"{entry.student}.json"
            grade_file = grade_path(reports, entry.student)
            if not code_file.is_file():
                lines.append(f"{entry.student}: code not graded: {output[-1] if output else 'the code run said nothing'}")
                continue
            code = json.loads(code_file.read_text())
            shutil.copy2(code_file, reports / "code" / code_file.name)
            if not grade_file.is_file():
                lines.append(f"{entry.student}: code {code['passed']} of {code['checks']} app checks pass; no account grade to join")
                continue
            merged = merge_code(json.loads(grade_file.read_text()), code, rubric)
            write_reports(reports, merged)
            lines.append(f"{entry.student}: code {code['passed']} of {code['checks']} app checks pass; "
                         f"with the account: {merged['score']:g} of {merged['max_score']:g}")
    return lines

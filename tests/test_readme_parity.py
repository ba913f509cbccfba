"""The README's parity table lists exactly the checks the suites hold."""

import re
import subprocess
import sys

from .conftest import REPO_ROOT


def collected_checks() -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "local", "--co", "-q", "-p", "no:cacheprovider", "--junitxml", "/dev/null"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )
    return {line.split("::", 1)[1] for line in result.stdout.splitlines() if "::" in line}


def readme_checks() -> set[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    return set(re.findall(r"^\| [\d.]+ \| `([^`]+)` \|", readme, flags=re.MULTILINE))


def test_parity_table_lists_every_check():
    missing = collected_checks() - readme_checks()
    stale = readme_checks() - collected_checks()
    assert not missing and not stale, (
        f"README parity table is out of date (missing {sorted(missing)}, stale {sorted(stale)}); "
        "regenerate it with `.venv/bin/pytest -m local && .venv/bin/dblab parity`"
    )

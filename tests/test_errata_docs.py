"""docs/errata.md, the page for students, names tests that exist."""

import re

from .conftest import REPO_ROOT

REFERENCE = re.compile(r"`(tests/test_\w+\.py)::(test_\w+)`")


def test_every_test_the_errata_page_names_exists():
    page = (REPO_ROOT / "docs" / "errata.md").read_text()
    references = REFERENCE.findall(page)
    assert len(references) >= 24
    missing = [f"{path}::{name}" for path, name in references
               if not re.search(rf"^def {name}\(", (REPO_ROOT / path).read_text(), re.MULTILINE)]
    assert missing == []


def test_every_errata_test_is_named_on_the_page():
    page = (REPO_ROOT / "docs" / "errata.md").read_text()
    named = {name for _path, name in REFERENCE.findall(page)}
    lab_side = [f"{path.name}::{name}" for path in sorted((REPO_ROOT / "tests").glob("test_errata_*.py"))
                for name in re.findall(r"^def (test_lab_\w+)\(", path.read_text(), re.MULTILINE) if name not in named]
    assert lab_side == []  # every test that shows the lab's version failing has an entry

"""The submission corpus itself (tests/submissions/corpus.py), without the sandbox or any server:
the printed files are the lab text's blocks, every edit applies exactly once, every file the
corpus makes compiles (but the one meant not to), and every check, erratum and fault it names
exists where it says."""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest

from provisioning.lab_replay import lab_file
from tests.faults import cache as cache_faults
from tests.faults import dynamodb as dynamodb_faults
from tests.faults import mysql as mysql_faults
from tests.submissions import corpus
from tests.submissions.corpus import (ADVERSARIAL, ADVERSARIAL_EDITS, ERRATA, LAB_FILES, NOT_CLASS_ERRATA, NOT_SEEDED,
                                      SEEDED_FAULTS, EditDoesNotApply, adversarial, apply_edit, fixed, printed,
                                      with_fault)

from .conftest import REPO_ROOT

ERRATA_PAGE = REPO_ROOT / "docs" / "errata.md"
CATALOGUE = {f.id: f for module in (mysql_faults, dynamodb_faults, cache_faults) for f in module.FAULTS}


@pytest.fixture(autouse=True)
def _lab_text():
    try:
        lab_file()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def lab_blocks() -> dict[str, str]:
    """The first Python block under each of the three headings, read line by line (not with the
    corpus's regular expression)."""
    lines = lab_file().read_text().splitlines(keepends=True)
    blocks = {}
    for step in LAB_FILES:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"### Step {step}:"))
        opening = next(i for i in range(start + 1, len(lines)) if lines[i].rstrip() == "```python")
        closing = next(i for i in range(opening + 1, len(lines)) if lines[i].rstrip() == "```")
        blocks[LAB_FILES[step]] = "".join(lines[opening + 1:closing])
    return blocks


@functools.lru_cache(maxsize=None)
def writes_data_checks() -> frozenset[str]:
    """The test functions marked writes_data in the suites whose checks run the student's code."""
    found = set()
    for path in corpus.GRADED_SUITES:
        tree = ast.parse((REPO_ROOT / path).read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and any(
                    ast.unparse(decorator) == "pytest.mark.writes_data" for decorator in node.decorator_list):
                found.add(node.name)
    return frozenset(found)


def errata_entries() -> dict[int, tuple[str, str]]:
    """docs/errata.md: number -> (heading, its "Instead" text on one line)."""
    entries = {}
    for match in re.finditer(r"^### (\d+)\. (.+?)\n(.*?)(?=^### |^## |\Z)", ERRATA_PAGE.read_text(),
                             flags=re.MULTILINE | re.DOTALL):
        instead = re.search(r"\*\*Instead:\*\*(.*?)(?=^- \*\*|\Z)", match.group(3), flags=re.MULTILINE | re.DOTALL)
        entries[int(match.group(1))] = (match.group(2).strip(), " ".join(instead.group(1).split()) if instead else "")
    return entries


def compiles(path) -> None:
    compile(path.read_text(), str(path), "exec")


def read_all(directory) -> dict[str, str]:
    return {name: (directory / name).read_text() for name in LAB_FILES.values()}


# --- printed ------------------------------------------------------------------------------------

def test_printed_files_are_the_lab_texts_blocks(tmp_path):
    assert printed(tmp_path) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(LAB_FILES.values())
    assert read_all(tmp_path) == lab_blocks()


def test_printed_files_hold_the_classes_the_checks_run(tmp_path):
    printed(tmp_path)
    expected = {"app.py": {"ProductRepository"}, "dynamodb_app.py": {"OrderRepository"},
                "cache_app.py": {"CachedProductRepository", "SessionStore", "RateLimiter", "Leaderboard"}}
    for name, classes in expected.items():
        tree = ast.parse((tmp_path / name).read_text())
        assert classes <= {node.name for node in tree.body if isinstance(node, ast.ClassDef)}, name


def test_printed_follows_LAB_TEXT(tmp_path, monkeypatch):
    text = "".join(f"### Step {step}: x\n\nsome prose\n\n```bash\necho no\n```\n\n```python\nNAME = {name!r}\n```\n\n"
                   f"```python\nSECOND = 1\n```\n" for step, name in LAB_FILES.items())
    (tmp_path / "lab.md").write_text("# A lab\n\n" + text)
    monkeypatch.setenv("LAB_TEXT", str(tmp_path / "lab.md"))
    printed(tmp_path / "out")
    assert read_all(tmp_path / "out") == {name: f"NAME = {name!r}\n" for name in LAB_FILES.values()}


# --- edits -----------------------------------------------------------------------------------------

def test_apply_edit_refuses_text_that_is_missing_or_repeated(tmp_path):
    (tmp_path / "app.py").write_text("a = 1\na = 1\n")
    for old in ("b = 2\n", "a = 1\n"):
        with pytest.raises(EditDoesNotApply):
            apply_edit(tmp_path, corpus.Edit("app.py", old, "c = 3\n", "test"))
    assert (tmp_path / "app.py").read_text() == "a = 1\na = 1\n"


def every_edit():
    yield from (edit for erratum in ERRATA for edit in erratum.edits)
    yield from (fault.edit for fault in SEEDED_FAULTS)
    yield from (edit for edits in ADVERSARIAL_EDITS.values() for edit in edits)


def test_every_edit_changes_one_of_the_lab_files_and_says_why():
    for edit in every_edit():
        assert edit.file in LAB_FILES.values(), edit
        assert edit.old and edit.old != edit.new and edit.why.strip(), edit


def test_every_erratum_edit_applies_exactly_once_in_order(tmp_path):
    printed(tmp_path)
    for erratum in ERRATA:
        for edit in erratum.edits:
            assert (tmp_path / edit.file).read_text().count(edit.old) == 1, (erratum.number, edit.why)
            apply_edit(tmp_path, edit)
    fixed(tmp_path / "fixed")
    assert read_all(tmp_path) == read_all(tmp_path / "fixed")


def test_fixed_changes_only_what_the_errata_edits_touch(tmp_path):
    before, after = read_all(printed(tmp_path / "printed")), read_all(fixed(tmp_path / "fixed"))
    touched = {edit.file for erratum in ERRATA for edit in erratum.edits}
    assert {name for name in before if before[name] != after[name]} == touched
    for edit in (edit for erratum in ERRATA for edit in erratum.edits):
        assert edit.new in after[edit.file], edit.why


def test_each_seeded_fault_applies_exactly_once_to_the_fixed_files(tmp_path):
    base = read_all(fixed(tmp_path / "fixed"))
    for fault in SEEDED_FAULTS:
        assert base[fault.edit.file].count(fault.edit.old) == 1, fault.id
        files = read_all(with_fault(tmp_path / fault.id, fault))
        assert {name for name in files if files[name] != base[name]} == {fault.edit.file}, fault.id


def test_each_adversarial_submission_changes_one_file(tmp_path):
    base = read_all(fixed(tmp_path / "fixed"))
    assert set(ADVERSARIAL) == set(ADVERSARIAL_EDITS)
    for kind in ADVERSARIAL:
        files = read_all(adversarial(tmp_path / kind, kind))
        expected = corpus.ADVERSARIAL_FILES.get(kind, "cache_app.py")
        assert {name for name in files if files[name] != base[name]} == {expected}, kind
    with pytest.raises(KeyError):
        adversarial(tmp_path / "nothing", "no-such-kind")


# --- everything compiles (but the syntax error) -------------------------------------------------------

def test_every_file_the_corpus_makes_compiles(tmp_path):
    made = [printed(tmp_path / "printed"), fixed(tmp_path / "fixed")]
    made += [with_fault(tmp_path / fault.id, fault) for fault in SEEDED_FAULTS]
    made += [adversarial(tmp_path / kind, kind) for kind in ADVERSARIAL if kind != "syntax-error"]
    for directory in made:
        for name in LAB_FILES.values():
            compiles(directory / name)


def test_the_syntax_error_submission_does_not_compile(tmp_path):
    directory = adversarial(tmp_path, "syntax-error")
    compiles(directory / "app.py")
    with pytest.raises(SyntaxError):
        compiles(directory / "cache_app.py")


def test_edits_bring_no_new_pyflakes_warnings(tmp_path):
    """An edit that used a name it did not import (timezone, Attr, ...) would only fail in the
    sandbox; pyflakes sees it here. The lab's own warnings (unused imports) are left as printed."""
    import io

    from pyflakes import api, reporter as reporter_module  # pinned in requirements.txt: never skipped

    def warnings(path) -> set[str]:
        out = io.StringIO()
        api.checkPath(str(path), reporter_module.Reporter(out, out))
        return {line.split(":", 3)[-1].strip() for line in out.getvalue().splitlines()}

    lab = printed(tmp_path / "printed")
    as_printed = {name: warnings(lab / name) for name in LAB_FILES.values()}
    made = [fixed(tmp_path / "fixed")] + [with_fault(tmp_path / f.id, f) for f in SEEDED_FAULTS]
    for directory in made:
        for name in LAB_FILES.values():
            new = warnings(directory / name) - as_printed[name]
            # Erratum 13 puts timedelta to use and 12 Attr: fewer warnings is fine, new ones are not.
            assert not new, (directory.name, name, new)


# --- what the corpus names exists --------------------------------------------------------------------

def test_every_erratum_is_an_entry_of_the_errata_page_with_its_title_and_hint():
    entries = errata_entries()
    assert len(entries) >= 24
    numbers = [erratum.number for erratum in ERRATA]
    assert numbers == sorted(set(numbers)), "one Erratum per entry, in the page's order"
    for erratum in ERRATA:
        title, instead = entries[erratum.number]
        assert erratum.title == title, erratum.number
        assert "\n" not in erratum.hint and erratum.hint, erratum.number
        assert " ".join(erratum.hint.split()) in instead, (erratum.number, instead)


def test_every_entry_of_the_errata_page_is_an_erratum_or_says_why_not():
    entries = set(errata_entries())
    covered = {erratum.number for erratum in ERRATA}
    assert not covered & set(NOT_CLASS_ERRATA)
    assert covered | set(NOT_CLASS_ERRATA) == entries


def test_every_check_named_is_a_writes_data_check_of_the_graded_suites():
    named = {(f"erratum {e.number}", check) for e in ERRATA for check in e.checks}
    named |= {(fault.id, check) for fault in SEEDED_FAULTS for check in fault.checks}
    assert not {(who, check) for who, check in named if check not in writes_data_checks()}
    for fault in SEEDED_FAULTS:
        assert fault.checks and len(set(fault.checks)) == len(fault.checks), fault.id


def test_seeded_faults_mirror_the_catalogues_targets():
    ids = [fault.id for fault in SEEDED_FAULTS]
    assert len(ids) == len(set(ids))
    for fault in SEEDED_FAULTS:
        assert fault.id in CATALOGUE, fault.id
        targets = CATALOGUE[fault.id].targets
        assert set(fault.checks) == set(targets) & writes_data_checks(), fault.id


def test_every_catalogue_fault_of_the_graded_checks_is_seeded_or_says_why_not():
    graded = {fault_id for fault_id, fault in CATALOGUE.items() if set(fault.targets) & writes_data_checks()}
    seeded = {fault.id for fault in SEEDED_FAULTS}
    assert not seeded & set(NOT_SEEDED)
    assert set(NOT_SEEDED) <= set(CATALOGUE)
    assert seeded | set(NOT_SEEDED) == graded


# --- what the edits do, where it can be seen without a server ------------------------------------------

def test_adversarial_submissions_do_what_they_say(tmp_path):
    def tree(kind):
        return ast.parse((adversarial(tmp_path / kind, kind) / "cache_app.py").read_text())

    def method(module, cls, name):
        klass = next(node for node in module.body if isinstance(node, ast.ClassDef) and node.name == cls)
        return next(node for node in klass.body if isinstance(node, ast.FunctionDef) and node.name == name)

    imports = [alias.name for node in tree("imports-missing").body if isinstance(node, ast.Import) for alias in node.names]
    assert [name for name in imports if importlib.util.find_spec(name) is None] == ["cache_app_helpers_never_installed"]

    body = method(tree("loops-forever"), "RateLimiter", "is_allowed").body
    loop = next(node for node in body if isinstance(node, ast.While))
    assert ast.unparse(loop) == "while True:\n    pass" and body.index(loop) == 1

    create = ast.unparse(method(tree("reads-aws-keys"), "SessionStore", "create_session"))
    assert "os.environ.get('AWS_SECRET_ACCESS_KEY')" in create and "os.environ['AWS_ACCESS_KEY_ID']" in create
    assert "except KeyError" in create

    add = ast.unparse(method(tree("outside-loopback"), "Leaderboard", "add_score").body[2])
    assert add == "socket.create_connection(('192.0.2.1', 80), timeout=2).close()"

    assert "main()" in [ast.unparse(node) for node in tree("main-on-import").body if isinstance(node, ast.Expr)]

    classes = {node.name for node in tree("missing-class").body if isinstance(node, ast.ClassDef)}
    assert "Limiter" in classes and "RateLimiter" not in classes

    top = ast.unparse(method(tree("exits"), "Leaderboard", "get_top"))
    assert "sys.exit(3)" in top


def _orders_module(directory):
    """dynamodb_app.py loaded as a module (main() does not run: it is not __main__)."""
    spec = importlib.util.spec_from_file_location("dynamodb_app_under_test", directory / "dynamodb_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _RecordingTable:
    """Stands in for the boto3 Table: records put_item calls, refuses the first `refusals` with
    a conditional-check failure, and serialises the item as boto3 does (floats refused)."""

    def __init__(self, refusals=0):
        import boto3
        from boto3.dynamodb.types import TypeSerializer

        self._client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                                    aws_secret_access_key="x")
        self.meta = SimpleNamespace(client=self._client)  # where the fix finds the exception class
        self._serialise = TypeSerializer().serialize
        self.refusals = refusals
        self.puts = []

    def put_item(self, Item, **kwargs):
        {key: self._serialise(value) for key, value in Item.items()}  # TypeError on a float
        self.puts.append((dict(Item), kwargs))
        if self.refusals:
            self.refusals -= 1
            raise self._client.exceptions.ConditionalCheckFailedException(
                {"Error": {"Code": "ConditionalCheckFailedException", "Message": "refused"}}, "PutItem")


def test_printed_create_order_refuses_the_checks_float_prices_and_fixed_stores_decimals(tmp_path, monkeypatch):
    """Why erratum 11 names the create_order checks: they pass the lab's orders, float prices and all."""
    from provisioning.apps.orders import LAB_ORDERS

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    first = LAB_ORDERS[0]
    assert any(isinstance(item["price"], float) for item in first["items"])

    lab = _orders_module(printed(tmp_path / "printed"))
    lab.table = _RecordingTable()
    with pytest.raises(TypeError, match="Float types are not supported"):
        lab.OrderRepository.create_order("c", first["items"], first["total"])

    app = _orders_module(fixed(tmp_path / "fixed"))
    app.table = table = _RecordingTable(refusals=1)  # erratum 12: the first stamp is taken
    order = app.OrderRepository.create_order("c", first["items"], first["total"])
    assert [item["price"] for item in order["items"]] == [Decimal("1299.99"), Decimal("49.99")]
    assert order["total"] == Decimal("1399.97")
    (refused, kwargs), (stored, _) = table.puts
    assert "ConditionExpression" in kwargs and stored["order_date"] > refused["order_date"]
    assert order["order_date"] == order["created_at"] == stored["order_date"]
    assert order["order_date"].endswith("+00:00")  # erratum 13: UTC

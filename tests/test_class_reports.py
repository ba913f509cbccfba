"""Reports people open: the class summary page (grading/class_page.py) and the Allure report of a
run as one offline HTML file (dblab report, fixtures/allure_labels.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import escape

import pytest

from dblab import report
from grading import class_page, scoring
from grading.reports import write_reports
from grading.rubric import load_rubric
from provisioning.catalogue import lab_titles, load_steps
from provisioning.outcomes import BLOCKED, FAIL, NOT_GRADABLE, PASS

OPEN_TO_THE_WORLD = ("1.2", "test_no_lab_group_is_open_to_the_world")
SSH_FROM_ONE_ADDRESS = ("1.2", "test_ec2_group_allows_only_ssh_from_one_address")
MYSQL_8_0 = ("1.4", "test_primary_runs_mysql_8_0")
TAMPERED_HINT = 'Allow <b>only</b> your /32 & "nothing" else'


@pytest.fixture(scope="module")
def rubric():
    return load_rubric()


def graded(rubric, student: str, statuses: dict[tuple[str, str], str]) -> dict:
    """A grade as a grading run makes it (grading/scoring.py): every rubric check passes but
    those in `statuses`."""
    outcomes = []
    for step in rubric.steps.values():
        for check in step.checks.values():
            status = statuses.get((step.id, check.id), PASS)
            message = {FAIL: f"{check.id} failed: saw 0.0.0.0/0 <script>alert(1)</script>",
                       BLOCKED: "blocked: step 1.1 failed", NOT_GRADABLE: "not_gradable: no tunnel"}.get(status, "")
            outcomes.append(scoring.CheckOutcome(check.id, check.id, step.id, status, message,
                                                 f"suites/x.py::{check.id}"))
    context = scoring.GradeContext(student=student, account="123456789012", region="us-east-1", target="emulator",
                                   lab_resources_found=12, graded_at="2025-01-01T00:00:00+00:00")
    return scoring.grade(rubric, outcomes, context)


@pytest.fixture(scope="module")
def klass(rubric, tmp_path_factory):
    """Five students written as grading writes them (grade JSON, scorecard, gradebook), then the page."""
    reports = tmp_path_factory.mktemp("reports")
    data_plane = {(step.id, check.id): NOT_GRADABLE for step in rubric.steps.values() if step.id in ("5.3",)
                  for check in step.checks.values()}
    grades = [
        graded(rubric, "alice", {}),
        graded(rubric, "bob", {OPEN_TO_THE_WORLD: FAIL, SSH_FROM_ONE_ADDRESS: FAIL}),
        graded(rubric, "carol", {OPEN_TO_THE_WORLD: FAIL, MYSQL_8_0: FAIL}),
        graded(rubric, "dave", {OPEN_TO_THE_WORLD: FAIL, **data_plane}),
        graded(rubric, "erin", {(step.id, check.id): NOT_GRADABLE for step in rubric.steps.values()
                                for check in step.checks.values()}),
    ]
    for grade in grades:
        for step in grade["steps"]:
            for check in step["checks"]:
                if (step["step"], check["id"]) == SSH_FROM_ONE_ADDRESS and check["status"] == FAIL:
                    check["hint"] = TAMPERED_HINT  # a hint with markup, as an instructor's rubric may have
        write_reports(reports, grade)
    # A grade file whose student is not a valid name: shown, escaped, never linked.
    odd = dict(grades[1], student="<img src=x onerror=alert(1)>")
    (reports / "grades" / "odd.json").write_text(json.dumps(odd))
    (reports / "grades" / "broken.json").write_text("{not json")
    path = class_page.write_class_page(reports)
    return reports, grades + [odd], path.read_text(encoding="utf-8")


def test_the_class_page_is_written_next_to_the_gradebook_and_is_self_contained(klass):
    reports, _, page = klass
    assert (reports / "class.html").exists() and (reports / "gradebook.csv").exists()
    assert "<script" not in page.lower() and "<img" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page), "nothing is fetched"
    assert "broken.json" in page, "a file that is not a grade is named, not fatal"


def test_the_distribution_counts_each_student_in_their_band(klass):
    _, grades, page = klass
    expected = [0] * 10
    ungradable = 0
    for grade in grades:
        if not grade["max_score"]:
            ungradable += 1
        else:
            expected[min(9, int(grade["score"] * 10 // grade["max_score"]))] += 1
    assert ungradable == 1 and expected[9] >= 1
    svg = page[page.index("<svg"):page.index("</svg>")]
    for index, count in enumerate(expected):
        assert f"<title>{class_page.bin_label(index)}: {count} student(s)</title>" in svg
    assert "1 student(s) with nothing gradable are not shown" in svg


def test_the_most_failed_checks_come_first_with_their_step_and_hint(klass, rubric):
    _, _, page = klass
    section = page[page.index("Checks most students failed"):page.index("<h2>Students")]
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td>.*?<code>(\w+)</code>(.*?)</tr>", section)
    order = [(check, int(count)) for count, check, _ in rows]
    assert order[0] == (OPEN_TO_THE_WORLD[1], 4), order  # bob, carol, dave and the odd copy of bob
    assert {check for check, _ in order} == {OPEN_TO_THE_WORLD[1], SSH_FROM_ONE_ADDRESS[1], MYSQL_8_0[1]}
    assert [count for _, count in order] == sorted((count for _, count in order), reverse=True)
    by_check = {check: rest for _, check, rest in rows}
    for step, check in (OPEN_TO_THE_WORLD, MYSQL_8_0):
        assert escape(rubric.check(step, check).hint) in by_check[check]
        assert escape(f"step {step} {load_steps()[step].title}") in by_check[check]


def test_everything_from_a_grade_file_is_escaped(klass):
    _, _, page = klass
    assert escape(TAMPERED_HINT) in page and "<b>only</b>" not in page
    assert escape("<img src=x onerror=alert(1)>") in page
    assert "alert(1)</script>" not in page


def test_each_student_links_to_their_scorecard(klass):
    reports, _, page = klass
    for student in ("alice", "bob", "carol", "dave", "erin"):
        assert f'<a href="grades/{student}.html">{student}</a>' in page
        assert (reports / "grades" / f"{student}.html").exists()
    students = page[page.index("<h2>Students"):]
    assert students.index(">alice<") < students.index(">bob<"), "best first"


# --- the Allure report ----------------------------------------------------------------------------

ALLURE_MISSING = "run scripts/ensure-allure (make report does)"

CHECKS = '''
import allure
import pytest

@pytest.mark.step("1.1")
def test_vpc_has_the_lab_cidr():
    pass

@pytest.mark.step("1.1")
def test_vpc_has_dns_hostnames_enabled():
    assert False, "DNS hostnames are off on <vpc-1>"

@pytest.mark.step("1.2")
@allure.parent_suite("alice")
def test_no_lab_group_is_open_to_the_world():
    assert False, "database-lab-ec2-sg allows 0.0.0.0/0"

@pytest.mark.step("4.1")
def test_orders_table_exists():
    pytest.skip("blocked: step 1.1 failed")

@pytest.mark.step("4.1")
def test_orders_table_has_the_gsi():
    assert False, "no GSI"
'''
STEPS = ("1.1", "1.2", "4.1")


def test_report_names_the_fix_when_allure_or_results_are_missing(tmp_path):
    with pytest.raises(report.ReportError, match="scripts/ensure-allure"):
        report.render(tmp_path, tmp_path / "r.html", allure=tmp_path / "no-allure")
    if report.ALLURE.exists():
        with pytest.raises(report.ReportError, match="--alluredir"):
            report.render(tmp_path / "empty", tmp_path / "r.html")


def test_remote_scripts_are_stripped_and_inline_ones_kept():
    page = ('<head><script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>\n'
            "<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}</script>"
            '<link rel="stylesheet" href="//cdn.example.com/x.css"><script src="data:text/javascript;base64,AA=="></script>'
            "<script>window.allure = {};</script></head>")
    stripped = report.strip_remote(page)
    assert report.remote_references(page) and not report.remote_references(stripped)
    assert "googletagmanager" not in stripped and "gtag" not in stripped and "cdn.example.com" not in stripped
    assert 'src="data:text/javascript;base64,AA=="' in stripped and "window.allure = {};" in stripped


@pytest.mark.skipif(not report.ALLURE.exists(), reason=ALLURE_MISSING)
def test_a_run_renders_to_one_offline_file_that_shows_every_lab_step(lab_pytester, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    lab_pytester.makeini("[pytest]\nmarkers =\n    step(id): the lab step\n")
    lab_pytester.makepyfile(test_checks=CHECKS)
    results = tmp_path / "allure-results"
    run = lab_pytester.runpytest_subprocess("-p", "fixtures.allure_labels", "-p", "no:cacheprovider",
                                            f"--alluredir={results}")
    run.assert_outcomes(passed=1, failed=3, skipped=1)

    labels = {}
    for path in results.glob("*-result.json"):
        result = json.loads(path.read_text())
        labels[result["name"]] = [(label["name"], label["value"]) for label in result["labels"]]
    steps, labs = load_steps(), lab_titles()
    for name, step in (("test_vpc_has_the_lab_cidr", "1.1"), ("test_orders_table_has_the_gsi", "4.1")):
        lab = f"Lab {step[0]}: {labs[step[0]]}"
        assert {("lab", lab), ("step", step), ("parentSuite", lab), ("suite", f"{step} {steps[step].title}")} \
            <= set(labels[name]), labels[name]
    # A label the check already has (a grading run's student) is not written twice.
    graded = [value for key, value in labels["test_no_lab_group_is_open_to_the_world"] if key == "parentSuite"]
    assert graded == ["alice"]

    out = report.render(results, tmp_path / "report" / "lab.html", name="dblab <test>")
    assert list(out.parent.iterdir()) == [out], "one file"
    page = out.read_text(encoding="utf-8")
    assert not report.remote_references(page) and "googletagmanager" not in page
    sources = re.findall(r"""<script\b[^>]*\bsrc\s*=\s*["']?([^"'\s>]*)""", page)
    assert sources and all(source.startswith("data:") for source in sources), "every script is inline or data:"

    if chromium is None:
        pytest.skip("chromium is not installed: the file was rendered but not opened")
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=5000",
         "--dump-dom", out.as_uri()],
        capture_output=True, text=True, timeout=90).stdout
    text = re.sub(r"<script\b.*?</script>", "", dom, flags=re.DOTALL)
    for step in STEPS:
        assert f"Lab {step[0]}: {labs[step[0]]}" in text
        assert escape(f"{step} {steps[step].title}") in text, f"step {step} is not shown"
    assert "alice" in text
    assert "test_no_lab_group_is_open_to_the_world" in text


def test_the_steps_table_counts_each_students_step_status_and_the_points_earned(klass, rubric):
    _, grades, page = klass
    rows = dict(re.findall(r"<tr><td>([0-9.]+) [^<]*</td>(.*?)</tr>", page.split("<h2>Steps</h2>")[1].split("</table>")[0]))
    assert sorted(rows, key=lambda s: [int(p) for p in s.split(".")]) == list(rubric.steps)  # every step, in order
    def cells(step):
        return re.findall(r'<td class="num"[^>]*>([^<]*)</td>', rows[step])
    for step in rubric.steps:
        statuses = [s["status"] for g in grades for s in g["steps"] if s["step"] == step]
        assert cells(step)[:4] == [str(statuses.count(status)) for status in (PASS, FAIL, BLOCKED, NOT_GRADABLE)], step
    assert cells("5.3")[3] != "0" and cells("1.1")[4] == "100%"


def test_the_class_page_opens_offline_in_a_headless_browser_and_shows_every_step(klass, rubric, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (make test installs it: scripts/ensure-chromium)")
    reports, grades, _ = klass
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--dump-dom",
         (reports / "class.html").as_uri()],
        capture_output=True, text=True, timeout=90).stdout
    assert "Score distribution" in dom and "Checks most students failed" in dom
    for step in rubric.steps.values():
        assert escape(f"{step.id} {step.title}") in dom, f"step {step.id} is not shown"
    assert all(escape(str(grade["student"])) in dom for grade in grades)


# --- a class's Allure report --------------------------------------------------------------------

def _dom(chromium: str, page, profile) -> str:
    """The rendered page's text (scripts dropped), opened offline in headless Chromium."""
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=8000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    return re.sub(r"<script\b.*?</script>", "", dom, flags=re.DOTALL)


@pytest.mark.skipif(not report.ALLURE.exists(), reason=ALLURE_MISSING)
def test_a_class_allure_report_shows_every_student_not_one_and_retries(moto_server, tmp_path):
    """A class writes its Allure results into one folder. Allure tells results apart by the check and
    its parameters: without the student among them, 29 students of 30 were shown as retries of the
    last one's results, and the report showed one student."""
    from provisioning import naming

    from .test_grading_roster import ROLE, _dblab_grade

    students = {"ann": "260000000001", "ben": "260000000002"}  # empty accounts: every check fails or is blocked
    roster = tmp_path / "roster.csv"
    roster.write_text("student,credentials,region\n" + "".join(
        f"{student},{ROLE.format(account=account)},{naming.REGION}\n" for student, account in students.items()))
    reports = tmp_path / "reports"
    result = _dblab_grade(roster, reports, endpoint=moto_server.endpoint_url)
    assert result.returncode == 0, result.stdout + result.stderr

    by_check: dict[tuple, set] = {}
    for path in (reports / "allure-results").glob("*-result.json"):
        found = json.loads(path.read_text())
        student = {p["name"]: p["value"] for p in found.get("parameters", [])}.get("student")
        by_check.setdefault((found["fullName"], found["name"]), set()).add((found["historyId"], student))
    assert by_check and all(len(seen) == 2 for seen in by_check.values()), "one result per student, apart"
    assert all({student for _, student in seen} == {"'ann'", "'ben'"} for seen in by_check.values())

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed: the results were checked but not opened")
    out = report.render(reports / "allure-results", tmp_path / "class.html", name="class")
    text = _dom(chromium, out, tmp_path / "profile")
    for student in students:
        assert re.search(rf">\s*{student}\s*<", text), f"{student} is not shown"

"""Grade files, the class gradebook (rebuilt from them under a lock), the HTML scorecard and
the JUnit points."""

import csv
import json
import multiprocessing
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from grading import gradebook, junit, scorecard
from grading.scoring import BLOCKED, FAIL, NOT_GRADABLE, PASS, CheckOutcome, GradeContext, grade

from .test_grading_scoring import make_rubric

RUBRIC = make_rubric(s1_1=(8, {"test_vpc": 1, "test_dns": 1}), s1_2=(8, {"test_ssh": 1}),
                     s1_4=(10, {"test_available": 1}), s2_3=(74, {"test_rows": 1}))


def sample_grade(student="alice", ssh=PASS, message="ingress is tcp 22 from 0.0.0.0/0 <world>"):
    outcomes = [
        CheckOutcome("test_vpc", "test_vpc", "1.1", PASS, nodeid="suites/a.py::test_vpc"),
        CheckOutcome("test_dns", "test_dns", "1.1", PASS, nodeid="suites/a.py::test_dns"),
        CheckOutcome("test_ssh", "test_ssh", "1.2", ssh, message if ssh == FAIL else "", "suites/a.py::test_ssh"),
        CheckOutcome("test_available", "test_available", "1.4", BLOCKED if ssh == FAIL else PASS,
                     "blocked: step 1.2 (a title) failed in suites/a.py::test_ssh" if ssh == FAIL else "",
                     "suites/a.py::test_available"),
        CheckOutcome("test_rows", "test_rows", "2.3", NOT_GRADABLE, "not-reachable: pass --lab-mysql-url",
                     "suites/b.py::test_rows"),
    ]
    return grade(RUBRIC, outcomes, GradeContext(student, "123456789012", "us-east-1", "emulator",
                                                "http://127.0.0.1:5000", 12, "2025-01-01T00:00:00+00:00"))


def test_a_grade_file_keeps_the_contract_fields(tmp_path):
    path = gradebook.write_grade(tmp_path, sample_grade())
    assert path == tmp_path / "grades" / "alice.json"
    data = json.loads(path.read_text())
    for field in ("student", "account", "region", "target", "score", "max_score", "rubric_version", "steps"):
        assert field in data
    for field in ("step", "title", "status", "points", "max_points", "checks"):
        assert field in data["steps"][0]
    assert set(data["steps"][0]["checks"][0]) >= {"id", "status", "message", "hint"}
    assert oct(path.stat().st_mode & 0o044) == oct(0o044), "a grade must be readable by the instructor's tools"


def test_the_gradebook_has_one_row_per_student_and_a_column_per_step(tmp_path):
    gradebook.write_grade(tmp_path, sample_grade("bob", ssh=FAIL))
    gradebook.write_grade(tmp_path, sample_grade("alice"))
    (tmp_path / "grades" / "notes.json").write_text("{not json")
    path, unreadable = gradebook.build_gradebook(tmp_path)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["student", "account", "score", "max_score", "1.1", "1.2", "1.4", "2.3"]
    assert rows[1] == ["alice", "123456789012", "26", "26", "8", "8", "10", ""]  # 2.3 not gradable: empty, not 0
    assert rows[2] == ["bob", "123456789012", "8", "26", "8", "0", "0", ""]
    assert unreadable and unreadable[0].startswith("notes.json")


def _grade_and_rebuild(reports_dir, student):
    gradebook.write_grade(reports_dir, sample_grade(student))
    gradebook.build_gradebook(reports_dir)


def test_parallel_graders_never_lose_each_others_rows(tmp_path):
    students = [f"student{i}" for i in range(8)]
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_grade_and_rebuild, args=(tmp_path, s)) for s in students]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    rows = list(csv.DictReader((tmp_path / "gradebook.csv").open()))
    assert sorted(row["student"] for row in rows) == students


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.references = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.references += [value for name, value in attrs if name in ("src", "href") and value]


def test_the_scorecard_is_self_contained_with_a_chart_and_every_hint():
    grade_ = sample_grade(ssh=FAIL)
    html = scorecard.render(grade_)
    page = _Collector()
    page.feed(html)
    assert "svg" in page.tags and "script" not in page.tags and "link" not in page.tags
    assert page.references == [], "the scorecard must open offline: no external resource"
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace("http://127.0.0.1:5000", "")
    assert "0.0.0.0/0 &lt;world&gt;" in html, "messages are escaped"
    assert RUBRIC.steps["1.2"].checks["test_ssh"].hint in html
    assert "Blocked by step 1.2" in html


def test_junit_points_are_rewritten_with_the_final_shares(tmp_path):
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
        '<testcase classname="suites.a" name="test_vpc"><properties><property name="step" value="1.1" />'
        '<property name="points" value="2.0" /><property name="max_points" value="2.0" />'
        '<property name="nodeid" value="suites/a.py::test_vpc" /></properties></testcase>'
        '<testcase classname="suites.a" name="test_other" /></testsuite></testsuites>')
    assert junit.rewrite_points(xml, {"suites/a.py::test_vpc": (4.0, 4.0)}, {"student": "alice", "score": 26})
    root = ET.parse(xml).getroot()
    case = root.find(".//testcase[@name='test_vpc']")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert (props["points"], props["max_points"], props["step"]) == ("4.0", "4.0", "1.1")
    suite_props = {p.get("name"): p.get("value") for p in root.find("testsuite/properties")}
    assert suite_props == {"student": "alice", "score": "26"}
    assert not junit.rewrite_points(tmp_path / "missing.xml", {}, {})

"""Fairness (issue 9): an allowed variation costs nothing. Where and when: the lab built in
another region, steps in another valid order, a step run twice, a setting made at creation
instead of later.

Each student's lab is the lab's own commands (extracted from the lab text, replayed in this
process with the pinned AWS CLI, tests/fairness/build.py), typed the way that student typed
them, in an emulated account of its own; Lab 4.2's app runs afterwards. It is then graded as an
instructor grades: `pytest -m aws --lab-grade` in a subprocess (tests/fairness/grade.py). Every
step the variation does not break must get every point; tests/test_grading_fairness_extras.py
holds the variations that add to the account, tests/test_grading_fairness_grader_side.py the
grader's own problems.
"""

from __future__ import annotations

import pytest

from tests.fairness.corpus import GRADED_STEPS, Corpus, assert_full_points_except_what_it_breaks, require_lab_text
from tests.fairness.grade import DATA_PLANE_STEPS, not_full
from tests.fairness.variations import VARIATIONS

NAMES = ("another_region", "another_region_from_aws_default_region", "another_region_from_the_profile",
         "rerun_1_1", "rerun_1_1_rest_on_the_first_vpc", "labs_4_and_5_before_1_4", "replica_before_multi_az",
         "multi_az_at_creation", "stream_at_table_creation")
HERE = tuple(v for v in VARIATIONS if v.name in NAMES)
BY_NAME = {v.name: v for v in HERE}
DUPLICATE_CHECK = "test_exactly_one_vpc_is_named_database_lab_vpc"


@pytest.fixture(scope="module")
def corpus(moto_server, tmp_path_factory) -> Corpus:
    require_lab_text()
    return Corpus(moto_server.endpoint_url, HERE, first_account=410_000_000_000, scratch=tmp_path_factory)


def test_every_variation_of_this_module_is_in_the_corpus():
    assert set(NAMES) == set(BY_NAME)


@pytest.mark.parametrize("variation", HERE, ids=str)
def test_an_allowed_variation_earns_full_points_on_every_step_it_does_not_break(corpus, variation):
    assert_full_points_except_what_it_breaks(corpus, variation)


# --- the measured cases, by name ------------------------------------------------------------

def test_acceptance_another_region_earns_full_points_on_every_control_plane_step(corpus):
    graded = corpus.graded(BY_NAME["another_region"])
    assert graded.grade["region"] == "us-west-2"
    short = not_full(graded, GRADED_STEPS)
    assert not short, "the lab built in us-west-2, graded with --lab-region=us-west-2:\n" + "\n".join(short)


@pytest.mark.parametrize("name", ["rerun_1_1", "rerun_1_1_rest_on_the_first_vpc"])
def test_acceptance_a_rerun_of_1_1_costs_step_1_1_only(corpus, name):
    graded = corpus.graded(BY_NAME[name])
    step = graded.steps["1.1"]
    failed = sorted(c["id"] for c in step["checks"] if c["status"] != "pass")
    assert step["points"] < step["rubric_points"] and failed == [DUPLICATE_CHECK], (
        f"{name}: 1.1 got {step['points']:g}/{step['rubric_points']:g} with failing checks {failed}; expected "
        f"it to lose the points of {DUPLICATE_CHECK} only")
    assert all(c["hint"] for c in step["checks"] if c["status"] == "fail"), "the duplicate needs a hint"
    others = not_full(graded, [s for s in GRADED_STEPS if s != "1.1"])
    others += [f"{s} {graded.steps[s]['status']}" for s in DATA_PLANE_STEPS if graded.steps[s]["status"] != "not_gradable"]
    assert not others, f"{name}: steps other than 1.1 lose points:\n" + "\n".join(others)

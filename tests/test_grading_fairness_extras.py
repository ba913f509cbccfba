"""Fairness (issue 9): an allowed variation costs nothing. What else is there: unrelated
resources in the account, resources caught in a routine transient state, the grader's own SSH
rule, the student's own address, tags of the student's own or in another case, a route table
of the student's own.

How each student's lab is built and graded: tests/test_grading_fairness.py.
"""

from __future__ import annotations

import pytest

from tests.fairness.corpus import Corpus, assert_full_points_except_what_it_breaks, require_lab_text
from tests.fairness.variations import VARIATIONS

NAMES = ("unrelated_resources", "transient_states", "grader_cidr_rule", "students_own_address", "extra_tags",
         "tags_in_another_case", "private_route_table")
HERE = tuple(v for v in VARIATIONS if v.name in NAMES)


@pytest.fixture(scope="module")
def corpus(moto_server, tmp_path_factory) -> Corpus:
    require_lab_text()
    return Corpus(moto_server.endpoint_url, HERE, first_account=420_000_000_000, scratch=tmp_path_factory)


def test_every_variation_of_this_module_is_in_the_corpus():
    assert set(NAMES) == {v.name for v in HERE}


def test_the_two_modules_hold_every_variation():
    from tests.test_grading_fairness import NAMES as WHERE_AND_WHEN

    assert sorted(set(NAMES) | set(WHERE_AND_WHEN)) == sorted(v.name for v in VARIATIONS)


@pytest.mark.parametrize("variation", HERE, ids=str)
def test_an_allowed_variation_earns_full_points_on_every_step_it_does_not_break(corpus, variation):
    assert_full_points_except_what_it_breaks(corpus, variation)

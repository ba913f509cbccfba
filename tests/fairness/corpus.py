"""The variation corpus as the test modules use it: each variation built once in an account of
its own (variations graded differently may share one), graded once, kept for the module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioning.lab_replay import lab_file

from .accounts import Account, assume
from .build import Built, build, lab_order
from .grade import DATA_PLANE_STEPS, Graded, not_full, run_grade
from .variations import Variation

# What a replayed student did: the lab's control-plane steps, then Lab 4.2's app.
GRADED_STEPS = lab_order() + ("4.2",)


def require_lab_text() -> Path:
    """The lab text sits beside the repository (in CI and in the project's checkout); a clone
    on its own has none, which skips the corpus there but fails it in CI, where it must be."""
    try:
        return lab_file()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{exc} (the fairness corpus replays the lab text)")


class Corpus:
    def __init__(self, endpoint_url: str, variations: tuple[Variation, ...], first_account: int, scratch):
        self.endpoint_url = endpoint_url
        self.variations = {v.name: v for v in variations}
        self.first_account = first_account
        self.scratch = scratch  # tmp_path_factory
        self._accounts: dict[str, Account] = {}
        self._built: dict[str, Built] = {}
        self._graded: dict[str, Graded] = {}

    def _account(self, key: str) -> Account:
        if key not in self._accounts:
            self._accounts[key] = assume(self.endpoint_url, f"{self.first_account + len(self._accounts):012d}")
        return self._accounts[key]

    def built(self, variation: Variation) -> Built:
        key = variation.same_account_as or variation.name
        if key not in self._built:
            owner = self.variations[key]
            built = build(self._account(key), owner.typed(), region=owner.region)
            if owner.besides is not None:
                owner.besides(built)
            self._built[key] = built
        return self._built[key]

    def graded(self, variation: Variation) -> Graded:
        if variation.name not in self._graded:
            built = self.built(variation)
            reports = self.scratch.mktemp(f"grade-{variation.name}")
            env = dict(variation.grade_env)
            if variation.aws_config is not None:
                config = reports / "aws-config"
                config.write_text(variation.aws_config)
                env["AWS_CONFIG_FILE"] = str(config)
            self._graded[variation.name] = run_grade(
                variation.name, reports, *variation.grade_args, endpoint_url=self.endpoint_url,
                keys=built.account.keys, env=env)
        return self._graded[variation.name]


def assert_full_points_except_what_it_breaks(corpus: Corpus, variation: Variation) -> None:
    """Every replayed step the variation does not break: pass with every rubric point; the data
    plane (no URL given): not gradable, never held against the student."""
    graded = corpus.graded(variation)
    short = not_full(graded, [step for step in GRADED_STEPS if step not in variation.breaks])
    short += [f"{s} {graded.steps[s]['status']} (expected not_gradable: no data plane was given)"
              for s in DATA_PLANE_STEPS if graded.steps[s]["status"] != "not_gradable"]
    assert not short, f"{variation.name} ({variation.what}) loses points:\n" + "\n".join(short)

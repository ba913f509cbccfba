"""The step catalogue is the one place for the lab's steps: orders derived from it, and no
step title written anywhere else."""

from __future__ import annotations

import re
import subprocess

import pytest

from provisioning.catalogue import (
    CatalogueError, _load, load_steps, provisioning_order, step_sort_key, teardown_order,
)

from .conftest import REPO_ROOT


def test_provisioning_runs_every_step_after_its_prerequisites():
    order = [step.id for step in provisioning_order()]
    for step in provisioning_order():
        assert all(order.index(p) < order.index(step.id) for p in step.requires if p in order), step.id


def test_teardown_deletes_what_depends_on_a_thing_before_the_thing():
    order = [step.id for step in teardown_order()]
    assert order.index("7.1") < order.index("7.4")  # the replication group before its subnets and VPC
    assert order.index("7.3") < order.index("7.4")  # RDS before the subnets its subnet group holds
    assert order.index("7.1") < order.index("7.3")  # 5.3 used the products table of 3.2


def test_the_step_sort_key_orders_numerically():
    assert sorted(["1.10", "1.9", "10.1", "2.1"], key=step_sort_key) == ["1.9", "1.10", "2.1", "10.1"]


def test_a_cycle_or_an_unknown_prerequisite_is_one_error_naming_the_step(tmp_path):
    broken = tmp_path / "catalogue.toml"
    broken.write_text('[steps."1.1"]\ntitle = "a"\nrequires = ["1.2"]\n[steps."1.2"]\ntitle = "b"\nrequires = ["1.1"]\n')
    with pytest.raises(CatalogueError, match=r"cycle through step 1\.\d"):
        _load(broken)
    broken.write_text('[steps."1.1"]\ntitle = "a"\nrequires = ["9.9"]\n')
    with pytest.raises(CatalogueError, match=r"step 1.1 \(a\) names unknown step\(s\) 9.9"):
        _load(broken)


def _source_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    # --cached also lists a file deleted in the working tree but not yet committed: it holds nothing.
    return [f for f in listed if f.endswith((".py", ".toml", ".json")) and f != "provisioning/catalogue.toml"
            and (REPO_ROOT / f).is_file()]


@pytest.mark.parametrize("step", list(load_steps().values()), ids=lambda step: step.id)
def test_no_step_title_is_written_outside_the_catalogue(step):
    # Python sources must read titles from the catalogue; data files must not hold one as a value
    # (a rubric hint may begin with a title's words, followed by more).
    as_value = re.compile(r'["\']' + re.escape(step.title) + r'["\']')
    found = [name for name in _source_files()
             if (step.title in (text := (REPO_ROOT / name).read_text()) and name.endswith(".py")) or as_value.search(text)]
    assert not found, f"step {step.id}'s title {step.title!r} is written again in {', '.join(found)}"

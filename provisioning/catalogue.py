"""The lab's step catalogue (catalogue.toml): every fact about a step, read from one file.

Provisioning order, teardown order, blocking, the order checks run in, titles in reports and
the rubric's steps are all derived from it. LAB_CATALOGUE names another catalogue file (the
self-test that adds a step uses it); everything that loads the catalogue then reads that one.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

CATALOGUE_FILE = Path(__file__).with_name("catalogue.toml")
CATALOGUE_ENV = "LAB_CATALOGUE"

PROVISION, CHECK, BENCHMARK, CLEANUP = "provision", "check", "benchmark", "cleanup"
PHASES = (PROVISION, CHECK, BENCHMARK, CLEANUP)
# The order checks run in: what provisioning made, then benchmarks, then cleanup.
CHECK_ORDER = {PROVISION: 0, CHECK: 0, BENCHMARK: 1, CLEANUP: 2}


class CatalogueError(ValueError):
    """A catalogue that cannot be used; the message is one line naming the step."""


def step_sort_key(step_id: str) -> tuple[int, ...]:
    """"1.10" after "1.9": the one definition of the lab's step order."""
    return tuple(int(part) for part in step_id.split("."))


@dataclass(frozen=True)
class LabStep:
    id: str
    title: str
    requires: tuple[str, ...]
    phase: str
    run: tuple[str, ...] = ()  # "module:function" in provisioning/
    undoes: tuple[str, ...] = ()
    suite: str | None = None  # module name under suites/
    after: tuple[str, ...] = ()  # waited for, not needed: an ordering AWS imposes (catalogue.toml)

    @property
    def sort_key(self) -> tuple[int, ...]:
        return step_sort_key(self.id)

    @property
    def lab(self) -> str:
        return self.id.split(".")[0]

    @property
    def label(self) -> str:
        return f"step {self.id} ({self.title})"

    def functions(self) -> list[Callable]:
        """The provisioning functions of `run`, imported; CatalogueError names a missing one."""
        found = []
        for reference in self.run:
            module_name, _, function_name = reference.partition(":")
            qualified = module_name if "." in module_name else f"{__package__}.{module_name}"
            try:
                module = importlib.import_module(qualified)
            except ImportError as exc:
                raise CatalogueError(f"{self.label}: its module {qualified} cannot be imported ({exc})") from None
            function = getattr(module, function_name, None)
            if not callable(function):
                raise CatalogueError(f"{self.label}: {qualified} has no function {function_name!r}")
            found.append(function)
        return found


def catalogue_path() -> Path:
    override = os.environ.get(CATALOGUE_ENV, "").strip()
    return Path(override) if override else CATALOGUE_FILE


def _entry(path: Path, step_id: str, entry: dict) -> LabStep:
    phase = entry.get("phase", PROVISION)
    if phase not in PHASES:
        raise CatalogueError(f"{path.name}: step {step_id}: phase {phase!r} is not one of {', '.join(PHASES)}")
    if "title" not in entry:
        raise CatalogueError(f"{path.name}: step {step_id} has no title")
    return LabStep(step_id, entry["title"], tuple(entry.get("requires", ())), phase, tuple(entry.get("run", ())),
                   tuple(entry.get("undoes", ())), entry.get("suite"), tuple(entry.get("after", ())))


@lru_cache(maxsize=None)
def _load(path: Path) -> tuple[dict[str, LabStep], dict[str, str]]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"step catalogue {path}: {exc}") from None
    steps = {step_id: _entry(path, step_id, entry) for step_id, entry in data.get("steps", {}).items()}
    for step in steps.values():
        unknown = (set(step.requires) | set(step.undoes) | set(step.after)) - steps.keys()
        if unknown:
            raise CatalogueError(f"{path.name}: {step.label} names unknown step(s) {', '.join(sorted(unknown))}")
        if step.phase == CLEANUP and step.run and not step.undoes:
            raise CatalogueError(f"{path.name}: {step.label} deletes something: say which steps it `undoes`")
    ordered = dict(sorted(steps.items(), key=lambda item: item[1].sort_key))
    _topological(list(ordered.values()), lambda s: s.requires + s.after)  # raises on a cycle
    return ordered, dict(data.get("labs", {}))


def load_steps(path: Path | None = None) -> dict[str, LabStep]:
    """Every step, in the lab's order."""
    return _load(path or catalogue_path())[0]


def lab_titles(path: Path | None = None) -> dict[str, str]:
    """Lab number -> the lab's title."""
    return _load(path or catalogue_path())[1]


def prerequisites(step_id: str, steps: dict[str, LabStep] | None = None) -> list[str]:
    """Every step `step_id` depends on, directly or not, nearest first."""
    steps = steps or load_steps()
    seen: list[str] = []
    frontier = list(steps[step_id].requires) if step_id in steps else []
    while frontier:
        current = frontier.pop(0)
        if current not in seen:
            seen.append(current)
            frontier.extend(steps[current].requires)
    return seen


def check_rank(step_id: str | None, steps: dict[str, LabStep] | None = None) -> int:
    """Where a check of `step_id` runs: its phase's place in CHECK_ORDER (unknown steps first)."""
    steps = steps or load_steps()
    step = steps.get(step_id) if step_id else None
    return CHECK_ORDER[step.phase] if step else 0


def _topological(steps: list[LabStep], before: Callable[[LabStep], tuple[str, ...]]) -> list[LabStep]:
    """Steps with every step named by `before(step)` first; ties keep the given order."""
    by_id = {step.id: step for step in steps}
    done: list[LabStep] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(step: LabStep) -> None:
        if step.id in placed:
            return
        if step.id in visiting:
            raise CatalogueError(f"the step catalogue has a cycle through {step.label}")
        visiting.add(step.id)
        for other in before(step):
            if other in by_id:
                place(by_id[other])
        visiting.discard(step.id)
        placed.add(step.id)
        done.append(step)

    for step in steps:
        place(step)
    return done


def provisioning_order(steps: dict[str, LabStep] | None = None) -> list[LabStep]:
    """The steps that create something, each after its prerequisites."""
    steps = steps or load_steps()
    return _topological([s for s in steps.values() if s.phase == PROVISION and s.run], lambda s: s.requires + s.after)


def teardown_dependencies(steps: dict[str, LabStep] | None = None) -> dict[str, tuple[str, ...]]:
    """For each cleanup step that deletes something, the cleanup steps that must finish first:
    `other` goes before `step` when something `other` deletes needs what `step` deletes (the
    replication group before the VPC it lives in)."""
    steps = steps or load_steps()
    cleanup = [s for s in steps.values() if s.phase == CLEANUP and s.run]
    deletes = {s.id: set(s.undoes) for s in cleanup}
    needs = {s.id: {p for u in s.undoes for p in prerequisites(u, steps)} for s in cleanup}
    return {step.id: tuple(o.id for o in cleanup if o.id != step.id and needs[o.id] & deletes[step.id])
            for step in cleanup}


def teardown_order(steps: dict[str, LabStep] | None = None) -> list[LabStep]:
    """The cleanup steps that delete something, each after the ones teardown_dependencies names."""
    steps = steps or load_steps()
    first = teardown_dependencies(steps)
    return _topological([steps[step_id] for step_id in first], lambda step: first[step.id])


def provisioning_dependencies(steps: dict[str, LabStep] | None = None) -> dict[str, tuple[str, ...]]:
    """For each step that creates something, the creating steps it waits for: its `requires` and
    `after`, where a step with nothing to run (3.1, code only) stands for its own prerequisites."""
    steps = steps or load_steps()
    creating = {s.id for s in provisioning_order(steps)}

    def nearest(step_id: str) -> set[str]:
        if step_id in creating:
            return {step_id}
        return {found for other in steps[step_id].requires for found in nearest(other)}

    return {step_id: tuple(sorted({found for other in steps[step_id].requires + steps[step_id].after
                                   for found in nearest(other)}, key=step_sort_key))
            for step_id in creating}

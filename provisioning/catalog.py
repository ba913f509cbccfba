"""The lab's step catalogue (lab_steps.toml): titles and prerequisites."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CATALOG_FILE = Path(__file__).with_name("lab_steps.toml")


@dataclass(frozen=True)
class LabStep:
    id: str
    title: str
    requires: tuple[str, ...]

    @property
    def sort_key(self) -> tuple[int, ...]:
        return step_sort_key(self.id)


def step_sort_key(step_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in step_id.split("."))


@lru_cache(maxsize=None)
def load_steps(path: Path = CATALOG_FILE) -> dict[str, LabStep]:
    data = tomllib.loads(path.read_text())
    steps = {
        step_id: LabStep(step_id, entry["title"], tuple(entry.get("requires", ())))
        for step_id, entry in data["steps"].items()
    }
    for step in steps.values():
        unknown = set(step.requires) - steps.keys()
        if unknown:
            raise ValueError(f"{path.name}: step {step.id} requires unknown step(s) {sorted(unknown)}")
    return dict(sorted(steps.items(), key=lambda item: item[1].sort_key))


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

"""Every seeded fault, as data. `make faults` runs them; tests/test_fault_catalogue.py asserts
that each kills its target checks, breaks nothing unrelated, and that every check is killed.

Faults are found, not listed: every module of this package that declares FAULTS contributes
them, so a new lab's faults need no registration here. Faults of a cleanup-phase step (7.5)
each run a small lab of their own (cleanup.py).
"""

from __future__ import annotations

import importlib
import pkgutil

from provisioning.catalogue import CLEANUP, load_steps, step_sort_key

from .model import Fault


# The runner's own modules; every other module here declares faults of a lab.
MACHINERY = {"aws_view", "catalogue", "context", "model", "plugin", "probes", "runner", "table", "verdicts"}


def _declared() -> list[Fault]:
    found: list[Fault] = []
    for module in pkgutil.iter_modules(importlib.import_module(__package__).__path__):
        if module.name in MACHINERY:
            continue
        found += getattr(importlib.import_module(f"{__package__}.{module.name}"), "FAULTS", [])
    return sorted(found, key=lambda item: step_sort_key(item.step))  # stable: a module's own order stays


def _unique(faults) -> None:
    seen = set()
    for item in faults:
        if item.id in seen:
            raise ValueError(f"fault id {item.id} is declared twice")
        seen.add(item.id)


_ALL = _declared()
_unique(_ALL)
_PHASE = {step.id: step.phase for step in load_steps().values()}
FAULTS = [item for item in _ALL if _PHASE.get(item.step) != CLEANUP]
CLEANUP_FAULTS = [item for item in _ALL if _PHASE.get(item.step) == CLEANUP]

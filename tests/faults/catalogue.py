"""Every seeded fault, as data. `make faults` runs them; tests/test_fault_catalogue.py asserts
that each kills its target checks, breaks nothing unrelated, and that every check is killed."""

from __future__ import annotations

from . import bastion, cache, cleanup, dynamodb, mysql, network, rds

FAULTS = [*network.FAULTS, *rds.FAULTS, *bastion.FAULTS, *mysql.FAULTS, *dynamodb.FAULTS, *cache.FAULTS]
CLEANUP_FAULTS = [*cleanup.FAULTS]  # 7.5: each runs a small lab of its own (cleanup.py)


def _unique(faults) -> None:
    seen = set()
    for item in faults:
        if item.id in seen:
            raise ValueError(f"fault id {item.id} is declared twice")
        seen.add(item.id)


_unique(FAULTS + CLEANUP_FAULTS)

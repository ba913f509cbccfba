"""The lab's own defects (docs/errata.md) a submission's error gives away by its text, so that a
check failing on the lab's code as printed says which erratum it tripped and what to do instead."""

from __future__ import annotations

import re

# (what the error says, the erratum's number, what docs/errata.md says to do instead)
SIGNATURES = (
    (re.compile(r"Float types are not supported"), 11,
     'use Decimal for every number, also inside lists and maps (Decimal("1299.99"))'),
)


def erratum_hint(message: str) -> str:
    """' (docs/errata.md #N: what to do)' when `message` is one the lab's code is known to give, else ''."""
    for pattern, number, instead in SIGNATURES:
        if pattern.search(message):
            return f" (the lab's code as printed: docs/errata.md #{number}: {instead})"
    return ""

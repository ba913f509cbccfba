"""What a look-up returns, and the one rule for choosing among several candidates.

A `Found` carries the resource (or None), its subject as a report names it ("RDS instance
database-lab-mysql") and the evidence of how it was chosen, so a check's message says what it
looked at without retyping names, and a grade can show why the grader picked that resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable


@dataclass(frozen=True)
class Found:
    subject: str  # "VPC database-lab-vpc"
    resource: dict | None
    evidence: str  # how it was found, or why nothing was
    others: tuple[dict, ...] = field(default=(), repr=False)  # further candidates: duplicates

    def __bool__(self) -> bool:
        return self.resource is not None

    def __getitem__(self, key: str):
        if self.resource is None:
            raise KeyError(f"{self.subject}: not found ({self.evidence})")
        return self.resource[key]

    def get(self, key: str, default=None):
        return default if self.resource is None else self.resource.get(key, default)

    def __str__(self) -> str:
        return self.subject

    @property
    def not_found(self) -> str:
        """The message for a check that needs this resource: subject, then why it is missing."""
        return f"{self.subject}: not found ({self.evidence})"


def missing(subject: str, evidence: str) -> Found:
    return Found(subject, None, evidence)


def choose(subject: str, candidates: Iterable[dict], *, how: str, id_of: Callable[[dict], str],
           preferred: Callable[[dict], bool] | None = None, preference: str = "") -> Found:
    """The one rule for ambiguity, shared by every lab.

    No candidate: not found, saying where it was looked for (`how`). One: that one. Several (a
    step run twice, a leftover of an earlier attempt): the ones `preferred` accepts (the lab's
    settings, or what the lab's other resources use) win, then the lowest id, so every look-up
    of the same account makes the same choice; the others are kept as `others` for the check
    that is about duplicates, and the evidence says how the choice was made.
    """
    pool = sorted(candidates, key=id_of)
    if not pool:
        return missing(subject, f"nothing {how}")
    if len(pool) == 1:
        return Found(subject, pool[0], f"the one {how}: {id_of(pool[0])}")
    favoured = [c for c in pool if preferred(c)] if preferred else []
    chosen = (favoured or pool)[0]
    reason = f"it {preference}" if favoured and preference else "the lowest id"
    evidence = (f"{len(pool)} {how} ({', '.join(id_of(c) for c in pool)}); chose {id_of(chosen)}: {reason}")
    return Found(subject, chosen, evidence, tuple(c for c in pool if c is not chosen))


def unique(subject: str, resource: dict | None, how: str) -> Found:
    """A resource AWS keeps unique by name or id (an RDS instance, a table): found or not.
    `how` says what was asked for: "RDS instance with identifier database-lab-mysql"."""
    return Found(subject, resource, f"the {how}") if resource is not None else missing(subject, f"no {how}")

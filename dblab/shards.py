"""`dblab grade --shard K/N`: grade one stable share of a roster, so a class can be graded on N
machines (a CI matrix, an AWS Batch array job) and merged afterwards (`dblab gradebook merge`).

A student's shard depends on their name only: the first 8 bytes of the SHA-256 of the name,
modulo N, plus one. Not on the row order, not on the other rows, not on the machine (Python's
own hash() of a string is salted per process), so every machine computes the same shards from
the same roster, and a student added to the roster moves nobody else.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
USAGE = "--shard takes K/N, shard K of N counted from 1 (e.g. --shard 2/4)"


class ShardError(ValueError):
    """One line: what is wrong with the --shard value, and the fix."""


@dataclass(frozen=True)
class Shard:
    index: int  # K, 1..count
    count: int  # N

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, student: str) -> bool:
        return shard_of(student, self.count) == self.index


def parse(value: str) -> Shard:
    match = SHARD.fullmatch(value or "")
    if not match:
        raise ShardError(f"{USAGE}, not {value!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ShardError(f"--shard {value.strip()}: N must be at least 1 ({USAGE})")
    if not 1 <= index <= count:
        raise ShardError(f"--shard {value.strip()}: K must be between 1 and {count} ({USAGE})")
    return Shard(index, count)


def shard_of(student: str, count: int) -> int:
    """The shard (1..count) that grades `student`."""
    digest = hashlib.sha256(student.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def choose(entries, shard: Shard | None) -> list:
    """The roster entries (anything with a .student) that `shard` grades, in roster order; all of
    them without a shard."""
    return list(entries) if shard is None else [entry for entry in entries if shard.holds(entry.student)]


def build_shard_gradebook(reports_dir: Path, shard: Shard | None) -> tuple[Path, list[str]]:
    """reports/gradebook.csv rebuilt with the rows of `shard`'s students only: a grade file of
    another shard's student in the same directory (graded there by an earlier run) is not claimed.
    Without a shard, every student's."""
    from grading import gradebook

    return gradebook.build_gradebook(reports_dir, include=shard.holds if shard is not None else None)

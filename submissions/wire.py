"""What crosses the pipe between the grader and a submission's process: JSON lines, with the
Python values the lab's apps return (Decimal prices, datetime stamps, tuples of a leaderboard)
tagged so that each side gets back the type it sent. Used by both sides; stdlib only.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from decimal import Decimal

TAG = "$"  # a one-key dict {"$x": ...} is a tagged value; a plain dict with such a key is escaped


def encode(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else {"$f": repr(value)}
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, tuple):
        return {"$t": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"$s": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not (len(value) == 1 and next(iter(value), "").startswith(TAG)):
            return {k: encode(v) for k, v in value.items()}
        return {"$m": [[encode(k), encode(v)] for k, v in value.items()]}
    return {"$r": f"{type(value).__name__}: {value!r}"[:500]}  # shown in a message, never compared equal


class Unrepresentable(str):
    """A value of a type the wire does not carry (its repr): equal to nothing the check expects."""


def decode(value):
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, inner), = value.items()
        if key == "$d":
            return Decimal(inner)
        if key == "$f":
            return float(inner)
        if key == "$dt":
            return datetime.fromisoformat(inner)
        if key == "$date":
            return date.fromisoformat(inner)
        if key == "$t":
            return tuple(decode(v) for v in inner)
        if key == "$s":
            return {decode(v) for v in inner}
        if key == "$b":
            return base64.b64decode(inner)
        if key == "$m":
            return {_hashable(decode(k)): decode(v) for k, v in inner}
        if key == "$r":
            return Unrepresentable(inner)
    return {k: decode(v) for k, v in value.items()}


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def dumps(message: dict) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def loads(line: bytes) -> dict:
    return json.loads(line)

"""Load durations.toml: AWS's typical durations (unscaled seconds) and where each comes from."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("durations.toml")

# The durations the lab itself states (steps 1.4, 2.1, 2.2, 5.2 and the deletions of what they
# create); their sum is what a realistic run costs in wall-clock time at scale 1.
LAB_STATED = (
    "rds.create_db_instance", "rds.modify_multi_az", "rds.create_read_replica",
    "elasticache.create_replication_group",
)
LAB_DELETIONS = (
    "rds.delete_db_instance",  # the primary (1.4)
    "rds.delete_db_instance",  # its read replica (2.2)
    "elasticache.delete_replication_group",  # 5.2
)


@dataclass(frozen=True)
class Duration:
    seconds: float
    source: str


@dataclass(frozen=True)
class Durations:
    entries: dict[str, Duration]  # "service.name" -> Duration
    throttle_rate: float
    throttle_source: str

    def seconds(self, key: str) -> float:
        return self.entries[key].seconds

    def lab_total(self) -> float:
        return sum(self.seconds(k) for k in LAB_STATED + LAB_DELETIONS)


def load_durations(path: Path = DEFAULT_PATH) -> Durations:
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    faults = data.pop("faults", {}).get("throttle_rate", {})
    entries: dict[str, Duration] = {}
    for service, table in data.items():
        for name, entry in table.items():
            seconds, source = entry.get("seconds"), entry.get("source")
            if not isinstance(seconds, (int, float)) or seconds < 0:
                raise ValueError(f"{path}: {service}.{name}.seconds must be a number >= 0")
            if not isinstance(source, str) or not source.strip():
                raise ValueError(f"{path}: {service}.{name} needs a source")
            entries[f"{service}.{name}"] = Duration(float(seconds), source)
    rate = faults.get("fraction")
    if not isinstance(rate, (int, float)) or not 0 <= rate <= 1 or not faults.get("source"):
        raise ValueError(f"{path}: faults.throttle_rate needs a fraction in [0, 1] and a source")
    return Durations(entries, float(rate), faults["source"])

"""What the lab costs per hour on AWS, from the one price table (prices.toml).

Used for the plan `pytest -m aws --lab-provision` prints before it creates anything, and by
`dblab sweep` for what it found. Prices are estimates with a date and a source, never a bill.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import naming

PRICES_FILE = Path(__file__).with_name("prices.toml")


@lru_cache(maxsize=1)
def prices() -> dict:
    return tomllib.loads(PRICES_FILE.read_text())


def _storage_hour(gigabytes: float) -> float:
    other = prices()["other"]
    return gigabytes * other["gp2_gb_month"] / other["hours_per_month"]


def _instance_hour(kind: str) -> float | None:
    return prices()["instance_hour"].get(kind)


def rds_instance_hour(instance_class: str, *, multi_az: bool, storage_gb: float) -> float | None:
    hourly = _instance_hour(instance_class)
    if hourly is None:
        return None
    factor = prices()["other"]["multi_az_factor"] if multi_az else 1.0
    return (hourly + _storage_hour(storage_gb)) * factor


def cache_group_hour(node_type: str, nodes: int) -> float | None:
    hourly = _instance_hour(node_type)
    return None if hourly is None else hourly * nodes


def ec2_instance_hour(instance_type: str, *, public_ip: bool = True) -> float | None:
    hourly = _instance_hour(instance_type)
    if hourly is None:
        return None
    other = prices()["other"]
    return hourly + _storage_hour(other["bastion_root_gb"]) + (other["public_ipv4_hour"] if public_ip else 0.0)


@dataclass(frozen=True)
class PlannedResource:
    kind: str
    name: str
    step: str
    hourly: float  # USD per hour once it exists (0 for what AWS does not charge)
    note: str = ""


def lab_resources() -> list[PlannedResource]:
    """Everything a provisioning run creates, with what it costs per hour once it exists."""
    storage = naming.DB_STORAGE_GB
    free = 0.0
    return [
        PlannedResource("VPC, 3 subnets, internet gateway, route table", naming.VPC, "1.1", free),
        PlannedResource("3 security groups", ", ".join(naming.SECURITY_GROUPS), "1.2", free),
        PlannedResource("DB subnet group", naming.DB_SUBNET_GROUP, "1.3", free),
        PlannedResource("RDS instance", naming.DB_INSTANCE, "1.4 / 2.1",
                        rds_instance_hour(naming.DB_INSTANCE_CLASS, multi_az=True, storage_gb=storage),
                        f"{naming.DB_INSTANCE_CLASS}, Multi-AZ from 2.1, {storage} GB gp2"),
        PlannedResource("RDS read replica", naming.DB_REPLICA, "2.2",
                        rds_instance_hour(naming.DB_INSTANCE_CLASS, multi_az=False, storage_gb=storage),
                        f"{naming.DB_INSTANCE_CLASS}, {storage} GB gp2"),
        PlannedResource("EC2 instance and key pair", naming.BASTION, "1.5",
                        ec2_instance_hour(naming.BASTION_INSTANCE_TYPE),
                        f"{naming.BASTION_INSTANCE_TYPE}, root volume, public IPv4 address"),
        PlannedResource("DynamoDB table (on demand)", naming.ORDERS_TABLE, "4.1", free, "per request; cents at most"),
        PlannedResource("cache subnet group", naming.CACHE_SUBNET_GROUP, "5.1", free),
        PlannedResource("ElastiCache replication group", naming.REPLICATION_GROUP, "5.2",
                        cache_group_hour(naming.CACHE_NODE_TYPE, naming.CACHE_NODES),
                        f"{naming.CACHE_NODES} x {naming.CACHE_NODE_TYPE}"),
    ]


def hourly_total(resources: list[PlannedResource]) -> float:
    return sum(resource.hourly or 0.0 for resource in resources)


def plan_lines(region: str, where: str, run_hours: float) -> list[str]:
    """The plan printed before a provisioning run creates anything."""
    table = prices()
    resources = lab_resources()
    lines = [f"plan: the lab in {where}, region {region} (prices: {table['region']} on demand, "
             f"{table['currency']}, as of {table['date']}; provisioning/prices.toml)"]
    for resource in resources:
        cost = f"${resource.hourly:.4f}/h" if resource.hourly else "no hourly charge"
        lines.append(f"  {resource.step:>9}  {resource.kind} {resource.name}: {cost}"
                     + (f" ({resource.note})" if resource.note else ""))
    hourly = hourly_total(resources)
    lines.append(f"  estimated: ${hourly:.3f} per hour while it all exists, about ${hourly * run_hours:.2f} for a "
                 f"run of {run_hours * 60:.0f} minutes, ${hourly * 24:.2f} per day if it is left behind")
    return lines


def leftover_hourly(kind: str, detail: dict) -> float:
    """The hourly cost of something the sweeper found (its create's fields, or a describe's)."""
    if kind == "RDS instance":
        return rds_instance_hour(detail.get("DBInstanceClass", naming.DB_INSTANCE_CLASS),
                                 multi_az=bool(detail.get("MultiAZ")),
                                 storage_gb=float(detail.get("AllocatedStorage") or naming.DB_STORAGE_GB)) or 0.0
    if kind == "ElastiCache replication group":
        return cache_group_hour(detail.get("CacheNodeType", naming.CACHE_NODE_TYPE),
                                int(detail.get("NumCacheClusters") or naming.CACHE_NODES)) or 0.0
    if kind == "EC2 instance":
        return ec2_instance_hour(detail.get("InstanceType", naming.BASTION_INSTANCE_TYPE)) or 0.0
    return 0.0


CHECKS_ALLOWANCE_SECONDS = 600  # the checks and benchmarks between provisioning and teardown; a guess


def estimated_run_hours() -> float:
    """How long a provisioning run keeps the lab up, from AWS's typical durations (the realism
    data file): the RDS chain that is provisioning's critical path (create, first backup, Multi-AZ,
    replica), an allowance for the checks, and teardown's chain (the cache group, then the replica
    and the primary)."""
    from .realism.durations import load_durations

    typical = load_durations()
    provisioning = sum(typical.seconds(key) for key in (
        "rds.create_db_instance", "rds.backing_up", "rds.modify_multi_az", "rds.create_read_replica"))
    teardown = typical.seconds("elasticache.delete_replication_group") + 2 * typical.seconds("rds.delete_db_instance")
    return (provisioning + CHECKS_ALLOWANCE_SECONDS + teardown) / 3600

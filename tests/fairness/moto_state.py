"""States AWS reports routinely and moto never does, set on moto's own records.

moto makes every resource `available` at once and keeps it so; on AWS an instance spends part of
each day `backing-up`, a modification leaves it `modifying`, a replication group `modifying` or
`snapshotting`. The embedded moto server runs in the test process, so its records are edited in
place (moto has no API to set a status).
"""

from __future__ import annotations


def set_db_instance_status(account_id: str, region: str, identifier: str, status: str) -> None:
    from moto.rds.models import rds_backends

    databases = rds_backends[account_id][region].databases
    assert identifier in databases, f"no RDS instance {identifier} in {account_id}/{region} to put in {status}"
    databases[identifier].status = status


def set_replication_group_status(account_id: str, region: str, group_id: str, status: str) -> None:
    from moto.elasticache.models import elasticache_backends

    groups = elasticache_backends[account_id][region].replication_groups
    assert group_id in groups, f"no replication group {group_id} in {account_id}/{region} to put in {status}"
    groups[group_id].status = status

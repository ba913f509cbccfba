"""The data plane for `dblab grade`: with a bastion key in the roster, an SSH tunnel
(provisioning/tunnel.py) forwards local ports to the student's RDS instances and ElastiCache
nodes, and the grading run gets their URLs in the --lab-*-url options' variables. Without the
tunnel those checks stay not_gradable; the notes say why, next to the student's grade.
"""

from __future__ import annotations

from pathlib import Path

from provisioning import settings

from .student_access import StudentAccess, error_text


def open_data_plane(access: StudentAccess, reports: Path, *, timeout: float,
                    mysql_password: str | None) -> tuple[object | None, list[str], dict[str, str]]:
    """(tunnel or None, notes, environment). A tunnel that does not open is a note, not a failure:
    the control-plane checks grade anyway. The caller closes the tunnel."""
    from botocore.exceptions import BotoCoreError, ClientError

    from provisioning.tunnel import TunnelError, open_tunnel

    entry = access.entry
    (reports / "known_hosts").mkdir(parents=True, exist_ok=True)
    try:
        tunnel = open_tunnel(access, entry.bastion_key, timeout=min(timeout, 60.0),
                             known_hosts=reports / "known_hosts" / entry.student)
    except (TunnelError, ClientError, BotoCoreError) as exc:
        why = str(exc) if isinstance(exc, TunnelError) else error_text(exc)
        return None, [f"data plane not reachable: {why}"], {}
    data_env, notes = tunnel_env(tunnel, mysql_password)
    return tunnel, notes, data_env


def tunnel_env(tunnel, mysql_password: str | None) -> tuple[dict[str, str], list[str]]:
    """The --lab-*-url options' variables for the forwarded ports (pairs only: the checks need
    primary and replica). The MySQL URLs hold the password: the environment only, never printed."""
    from provisioning import naming
    from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA, format_mysql_url, format_redis_url

    plane = tunnel.dataplane(mysql_password=mysql_password)
    env, notes = {}, []
    variable = {name: settings.OPTION[name].env for name in
                ("mysql-url", "mysql-replica-url", "redis-url", "redis-replica-url")}
    primary, replica = plane.mysql.get(naming.DB_INSTANCE), plane.mysql.get(naming.DB_REPLICA)
    if primary and replica:
        env[variable["mysql-url"]] = format_mysql_url(primary)
        env[variable["mysql-replica-url"]] = format_mysql_url(replica)
    elif mysql_password is None:
        notes.append("MySQL not graded: set the master password in the variable --mysql-password-env names")
    else:
        notes.append("MySQL not graded: the primary and its replica both need an endpoint")
    redis_primary, redis_replica = plane.redis.get(REDIS_PRIMARY), plane.redis.get(REDIS_REPLICA)
    if redis_primary and redis_replica:
        env[variable["redis-url"]] = format_redis_url(redis_primary)
        env[variable["redis-replica-url"]] = format_redis_url(redis_replica)
    else:
        notes.append("Redis not graded: the replication group has no primary and reader endpoint")
    return env, notes

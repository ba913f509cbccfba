"""The data plane for `dblab grade`: with a bastion key in the roster an SSH tunnel, with
--tunnel ssm SSM port forwarding (provisioning/tunnel.py), forwards local ports to the student's
RDS instances and ElastiCache nodes through the bastion, and the grading run gets their URLs in
the --lab-*-url options' variables, each server that has an endpoint on its own. Without the
tunnel those checks stay not_gradable; the notes say why, next to the student's grade.
"""

from __future__ import annotations

from pathlib import Path

from provisioning import settings

from .student_access import StudentAccess, error_text


def open_data_plane(access: StudentAccess, reports: Path, *, timeout: float, mysql_password: str | None,
                    via: str = "ssh", cli_env: dict[str, str] | None = None
                    ) -> tuple[object | None, list[str], dict[str, str]]:
    """(tunnel or None, notes, environment). A tunnel that does not open is a note, not a failure:
    the control-plane checks grade anyway. The caller closes the tunnel.

    via "ssh": over the bastion with the roster's bastion_key; "ssm": SSM port forwarding through
    the bastion, run by the AWS CLI with `cli_env` (the student's credentials only)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from provisioning.tunnel import TunnelError, open_ssm_tunnel, open_tunnel

    entry = access.entry
    try:
        if via == "ssm":
            tunnel = open_ssm_tunnel(access, timeout=min(timeout, 60.0), region=entry.region, env=dict(cli_env or {}))
        else:
            (reports / "known_hosts").mkdir(parents=True, exist_ok=True)
            tunnel = open_tunnel(access, entry.bastion_key, timeout=min(timeout, 60.0),
                                 known_hosts=reports / "known_hosts" / entry.student)
    except (TunnelError, ClientError, BotoCoreError) as exc:
        why = str(exc) if isinstance(exc, TunnelError) else error_text(exc)
        return None, [f"data plane not reachable: {why}"], {}
    data_env, notes = tunnel_env(tunnel, mysql_password)
    return tunnel, notes, data_env


def tunnel_env(tunnel, mysql_password: str | None) -> tuple[dict[str, str], list[str]]:
    """The --lab-*-url options' variables for the forwarded ports, each server on its own: a
    student without a replica still has the primary's steps (1.4, 3.1, 3.2) graded; 2.2's
    control-plane checks say the replica is missing, and 2.3 is blocked by it. The MySQL URLs
    hold the password: the environment only, never printed."""
    from provisioning import naming
    from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA, format_mysql_url, format_redis_url

    plane = tunnel.dataplane(mysql_password=mysql_password)
    env, notes = {}, []
    variable = {name: settings.OPTION[name].env for name in
                ("mysql-url", "mysql-replica-url", "redis-url", "redis-replica-url")}
    if mysql_password is None:
        notes.append("MySQL not graded: set the master password in the variable --mysql-password-env names")
    for name, option in ((naming.DB_INSTANCE, "mysql-url"), (naming.DB_REPLICA, "mysql-replica-url")):
        if name in plane.mysql:
            env[variable[option]] = format_mysql_url(plane.mysql[name])
        elif mysql_password is not None:
            notes.append(f"MySQL {name} not graded: it has no endpoint")
    for role, option, what in ((REDIS_PRIMARY, "redis-url", "primary"), (REDIS_REPLICA, "redis-replica-url", "reader")):
        if role in plane.redis:
            env[variable[option]] = format_redis_url(plane.redis[role])
        else:
            notes.append(f"Redis {role} not graded: the replication group has no {what} endpoint")
    return env, notes

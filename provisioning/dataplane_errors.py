"""Data-plane errors that are the caller's problem, not an answer about the student's databases:
a database login refused to the grader, a connection refused, dropped or timed out, a tunnel
that failed. provisioning/errors.caller_problem asks here about every error in a check's chain;
each problem comes with the one line that says what it is and what the grader should fix.

A refused login is the grader's problem only when grading, where the password was given to the
grader (--lab-mysql-url, dblab grade's --mysql-password-env) and may be wrong. In a local run
the suite made the password itself, so a refused login says the lab's account was changed
(locked, another password): the check's failure, as the seeded faults 1.4-master-account-locked
and 1.4-master-password-changed expect.
"""

from __future__ import annotations

import pymysql
from redis import exceptions as redis_errors

from .sql_errors import LOGIN_ERRORS

# What a data-plane caller problem is (provisioning/errors.py names the AWS ones).
LOGIN_REFUSED, DATA_PLANE_UNREACHABLE, TUNNEL_FAILED = "login-refused", "data-plane-unreachable", "tunnel-failed"

# pymysql's client errors for a server that did not answer, or stopped answering.
CR_CONN_HOST_ERROR = 2003  # Can't connect to MySQL server (refused, timed out)
CR_UNKNOWN_HOST = 2005
CR_SERVER_GONE_ERROR = 2006
CR_SERVER_LOST = 2013  # Lost connection to MySQL server during query (or the handshake)
MYSQL_UNREACHABLE = frozenset({CR_CONN_HOST_ERROR, CR_UNKNOWN_HOST, CR_SERVER_GONE_ERROR, CR_SERVER_LOST})

# redis-py: no answer, no answer in time, or a server still loading its data set. A wrong
# password is AuthenticationError (a ConnectionError too, told apart below).
REDIS_UNREACHABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError)

MYSQL_FIX = "check --lab-mysql-url/--lab-mysql-replica-url, or the tunnel dblab grade opens (bastion_key)"
REDIS_FIX = "check --lab-redis-url/--lab-redis-replica-url, or the tunnel dblab grade opens (bastion_key)"


def _mysql_code(error: BaseException) -> int | None:
    if isinstance(error, pymysql.MySQLError) and error.args and isinstance(error.args[0], int):
        return error.args[0]
    return None


def _mysql_text(error: BaseException) -> str:
    return str(error.args[1]) if len(error.args) > 1 else str(error)


class TunnelError(RuntimeError):
    """Why the data plane cannot be reached through the bastion (provisioning/tunnel.py raises
    it); one line naming the fix. Defined here, where it is judged, so that this module needs
    nothing of the tunnel's (which needs the look-ups, which need errors.py, which asks here)."""


def dataplane_problem(error: BaseException, *, grading: bool) -> tuple[str, str] | None:
    """(kind, reason with the fix) when `error` alone says the caller could not look at the
    data plane, else None (a schema error, a read-only refusal, an assertion...)."""
    if isinstance(error, TunnelError):
        return TUNNEL_FAILED, (f"the grader's tunnel to the data plane failed ({error}): fix what it names, "
                               "or pass --lab-mysql-url/--lab-redis-url")
    code = _mysql_code(error)
    if code in LOGIN_ERRORS:
        if not grading:
            return None
        return LOGIN_REFUSED, (f"the grader's MySQL login was refused ({code}: {_mysql_text(error)}): check the "
                               "password given with --mysql-password-env / --lab-mysql-url")
    if code in MYSQL_UNREACHABLE:
        return DATA_PLANE_UNREACHABLE, f"the grader could not reach MySQL ({code}: {_mysql_text(error)}): {MYSQL_FIX}"
    if isinstance(error, redis_errors.AuthenticationError):
        if not grading:
            return None
        return LOGIN_REFUSED, (f"the grader's Redis login was refused ({error}): check the password in "
                               "--lab-redis-url/--lab-redis-replica-url")
    if isinstance(error, redis_errors.BusyLoadingError):
        return DATA_PLANE_UNREACHABLE, f"Redis is still loading its data set ({error}): grade again in a few minutes"
    if isinstance(error, REDIS_UNREACHABLE):
        return DATA_PLANE_UNREACHABLE, f"the grader could not reach Redis ({type(error).__name__}: {error}): {REDIS_FIX}"
    return None

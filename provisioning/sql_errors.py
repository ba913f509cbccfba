"""MySQL errors that say something about the student's database, told apart from the rest.

A check that runs the lab's SQL against the student's server turns these into its failure: the
table, column or database the lab made is not there or not as the lab made it. Any other error
(a refused or dropped connection, a timeout, a server gone away) says nothing about the student's
work and must reach the check's caller as an error, never as a failure.
"""

from __future__ import annotations

import pymysql

ER_BAD_DB = 1049  # Unknown database
ER_BAD_FIELD = 1054  # Unknown column
ER_NO_SUCH_TABLE = 1146
ER_BAD_NULL = 1048  # Column cannot be null
ER_NO_DEFAULT = 1364  # Field doesn't have a default value
ER_DUP_ENTRY = 1062
ER_WARN_DATA_OUT_OF_RANGE = 1264
ER_DATA_TOO_LONG = 1406
ER_TRUNCATED = 1265
ER_OPTION_PREVENTS_STATEMENT = 1290  # "running with the --read-only option"

# The server answered and refused the login: a password or an account the student changed, or
# (when grading) credentials the grader was given wrong. Never a network problem.
ER_DBACCESS_DENIED = 1044
ER_ACCESS_DENIED = 1045
ER_ACCOUNT_HAS_BEEN_LOCKED = 3118  # MySQL 8
ER_ACCOUNT_LOCKED_MARIADB = 4151
LOGIN_ERRORS = frozenset({ER_DBACCESS_DENIED, ER_ACCESS_DENIED, ER_ACCOUNT_HAS_BEEN_LOCKED, ER_ACCOUNT_LOCKED_MARIADB})

SCHEMA_ERRORS = frozenset({ER_BAD_DB, ER_BAD_FIELD, ER_NO_SUCH_TABLE, ER_BAD_NULL, ER_NO_DEFAULT, ER_DUP_ENTRY,
                           ER_WARN_DATA_OUT_OF_RANGE, ER_DATA_TOO_LONG, ER_TRUNCATED, ER_OPTION_PREVENTS_STATEMENT})


def is_schema_error(error: BaseException) -> bool:
    """The server refused the statement because of what the database holds or how it is made."""
    return isinstance(error, pymysql.MySQLError) and bool(error.args) and error.args[0] in SCHEMA_ERRORS


def is_login_refused(error: BaseException) -> bool:
    return isinstance(error, pymysql.MySQLError) and bool(error.args) and error.args[0] in LOGIN_ERRORS

"""AWS error answers the provisioning steps, the inventory, the checks and the grader interpret
alike: every list of AWS error codes lives here, each code in one list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

from botocore.exceptions import (
    ClientError, ConnectTimeoutError, EndpointConnectionError, NoCredentialsError, PartialCredentialsError,
)

from .polling import DeadlineExceeded, wait_until
from .readonly import WriteRefused

T = TypeVar("T")

# AWS answers these while network interfaces of just-deleted RDS/ElastiCache/EC2 resources
# are still being released; the deletion succeeds a little later.
DEPENDENCY_CODES = {"DependencyViolation", "InvalidDBSubnetGroupStateFault", "InvalidDBInstanceState",
                    "InvalidDBInstanceStateFault", "InvalidCacheSubnetGroupStateFault"}


# IAM said no to this call: the credentials work, the policy lacks the action (EC2 answers
# UnauthorizedOperation, the JSON APIs AccessDeniedException, the query APIs AccessDenied).
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess",
                          "AuthorizationError", "Forbidden"})
# The credentials themselves do not work (unknown key, expired session, bad signature or clock):
# no call will succeed, so nothing in the account can be looked at.
REJECTED_CODES = frozenset({"InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken",
                            "ExpiredTokenException", "AuthFailure", "SignatureDoesNotMatch", "RequestExpired",
                            "InvalidAccessKeyId", "InvalidToken", "MissingAuthenticationToken"})
# No answer at all: no credentials to sign with, or no endpoint that answers.
UNREACHABLE_ERRORS = (NoCredentialsError, PartialCredentialsError, EndpointConnectionError, ConnectTimeoutError)

# What a caller_problem is: the three above, and a write the read-only clients refused to send.
DENIED, REJECTED, UNREACHABLE, WRITE_REFUSED = "denied", "rejected", "unreachable", "write-refused"


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def error_message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message", "")


def access_problem(error: ClientError) -> str | None:
    """DENIED or REJECTED when AWS refused the caller rather than answered about the subject."""
    code = error_code(error)
    if code in REJECTED_CODES:
        return REJECTED
    if code in DENIED_CODES:
        return DENIED
    return None


@dataclass(frozen=True)
class CallerProblem:
    """Why the caller could not look: the answer says nothing about the account's resources."""
    kind: str  # DENIED, REJECTED, UNREACHABLE or WRITE_REFUSED
    error: BaseException  # the error that says so


def caller_problem(exception: BaseException | None) -> CallerProblem | None:
    """The caller's own problem found in `exception` or what caused it (a check may wrap the
    AWS error in its own), or None when the error is about the subject (NotFound, a wrong setting)."""
    seen = set()
    while exception is not None and id(exception) not in seen:
        seen.add(id(exception))
        if isinstance(exception, WriteRefused):
            return CallerProblem(WRITE_REFUSED, exception)
        if isinstance(exception, ClientError):
            kind = access_problem(exception)
            if kind is not None:
                return CallerProblem(kind, exception)
        if isinstance(exception, UNREACHABLE_ERRORS):
            return CallerProblem(UNREACHABLE, exception)
        exception = exception.__cause__ or exception.__context__
    return None


def unless_missing(call: Callable[[], T]) -> T | None:
    """call()'s answer, or None when AWS answers that the subject does not exist."""
    try:
        return call()
    except ClientError as error:
        if is_missing(error):
            return None
        raise


def is_missing(error: ClientError) -> bool:
    """The subject does not exist (any service's NotFound answer)."""
    code = error_code(error)
    return "NotFound" in code or code in {"Gateway.NotAttached"}


def retry_while_busy(call: Callable[[], object], *, timeout: float, what: str) -> bool:
    """Run a deletion (or a state-dependent call) until AWS stops answering 'still in use'.

    Returns False when the subject is already gone. Any other error is raised at once,
    not retried until the deadline.
    """
    outcome: dict = {}

    def attempt():
        try:
            call()
        except ClientError as error:
            if is_missing(error):
                outcome["gone"] = True
                return True
            if error_code(error) in DEPENDENCY_CODES:
                outcome["busy"] = error
                return False
            outcome["error"] = error
            return True
        return True

    try:
        wait_until(attempt, timeout=timeout, what=what)
    except DeadlineExceeded as exc:
        busy = outcome.get("busy")
        raise DeadlineExceeded(f"{exc}; last answer: {busy}" if busy else str(exc)) from busy
    if "error" in outcome:
        raise outcome["error"]
    return not outcome.get("gone", False)

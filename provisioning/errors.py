"""AWS error answers the provisioning steps, the inventory, the checks and the grader interpret
alike: every list of AWS error codes lives here, each code in one list.

`caller_problem` is the one place that decides whether a check's error is the caller's (the
grader's) problem rather than an answer about the student's resources: AWS's answers here, the
data plane's (a refused login, a connection, a tunnel) in dataplane_errors.py. Each problem
carries the one line that names it and its fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

from botocore.exceptions import (
    ClientError, ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, NoCredentialsError,
    PartialCredentialsError, ReadTimeoutError,
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
# botocore's code for an HTTP 403 whose body it could not parse (a proxy, or an emulator answering a
# JSON service in XML, as moto does for IAM denials on DynamoDB): forbidden, so the caller's problem.
UNPARSED_FORBIDDEN = "403"
# AWS answered "slow down" more often than botocore's retries (standard mode, 5 attempts) waited
# for: the caller asked too fast (a class graded in parallel), nothing about the subject.
THROTTLED_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
                             "ProvisionedThroughputExceededException", "SlowDown", "RequestThrottled",
                             "RequestThrottledException"})
# EC2 has not propagated an id it has just returned ("Eventual consistency in the Amazon EC2
# API"): a write naming it may answer these for a moment (provisioning/propagation.py retries).
EVENTUAL_CODES = frozenset({
    "InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidGroup.NotFound", "InvalidGroupId.NotFound",
    "InvalidInternetGatewayID.NotFound", "InvalidRouteTableID.NotFound", "InvalidInstanceID.NotFound",
    "InvalidKeyPair.NotFound", "InvalidNetworkInterfaceID.NotFound",
})
# No answer at all: no credentials to sign with, or no endpoint that answers (or it stopped answering).
NO_CREDENTIALS_ERRORS = (NoCredentialsError, PartialCredentialsError)
UNREACHABLE_ERRORS = (*NO_CREDENTIALS_ERRORS, EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
                      ConnectionClosedError)

# What the grader should do about each, in the one line that names the problem (grading/preflight.py
# stops a run with these too).
REJECTED_FIX = "renew the grader's credentials (aws sso login, or assume the role again) and grade again"
NO_CREDENTIALS_FIX = ("give the grader AWS credentials: AWS_PROFILE=NAME (or --lab-profile NAME), or "
                      "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; AWS_ENDPOINT_URL=URL grades an emulator")
UNREACHABLE_FIX = "check the grader's network, or AWS_ENDPOINT_URL for an emulator"
THROTTLED_FIX = "AWS throttled the grader beyond botocore's retries: grade again later (dblab grade: fewer --jobs)"

# What a caller_problem is: the ones above, a write the read-only clients refused to send, and
# the data plane's (provisioning/dataplane_errors.py: a refused login, a connection, a tunnel).
DENIED, REJECTED, THROTTLED = "denied", "rejected", "throttled"
UNREACHABLE, WRITE_REFUSED = "unreachable", "write-refused"
NOT_RECORDED = "not-recorded"


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def error_message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message", "")


def access_problem(error: ClientError) -> str | None:
    """DENIED or REJECTED when AWS refused the caller rather than answered about the subject."""
    code = error_code(error)
    if code in REJECTED_CODES:
        return REJECTED
    if code in DENIED_CODES or code == UNPARSED_FORBIDDEN:
        return DENIED
    return None


class NotInEvidence(LookupError):
    """Regrading (grading/evidence_replay.py): the recorded answers hold nothing for this request,
    e.g. a check added since the grade was recorded. The grader's gap, never the student's failure."""


@dataclass(frozen=True)
class CallerProblem:
    """Why the caller could not look: the answer says nothing about the account's resources."""
    kind: str  # DENIED, REJECTED, THROTTLED, UNREACHABLE, WRITE_REFUSED, or a dataplane_errors kind
    error: BaseException  # the error that says so
    reason: str  # one line: what went wrong and what the grader should fix


def _aws_problem(error: BaseException) -> CallerProblem | None:
    if isinstance(error, NotInEvidence):
        return CallerProblem(NOT_RECORDED, error, f"{error}: the evidence was recorded before this check asked it; "
                                                  "grade the account again (dblab grade) to grade this check")
    if isinstance(error, WriteRefused):
        return CallerProblem(WRITE_REFUSED, error,
                             f"the grader refused a write, so this check cannot run read-only ({error})")
    if isinstance(error, ClientError):
        code, operation = error_code(error), error.operation_name
        kind = access_problem(error)
        if kind == DENIED:
            return CallerProblem(kind, error, f"{code} on {operation}: the grader's credentials may not read this "
                                              "(check their IAM permissions: grading/iam-policy.json)")
        if kind == REJECTED:
            return CallerProblem(kind, error, f"{code} on {operation}: AWS rejected the grader's credentials "
                                              "(expired or unknown): renew them and grade again")
        if code in THROTTLED_CODES:
            return CallerProblem(THROTTLED, error, f"{code} on {operation}: {THROTTLED_FIX}")
    if isinstance(error, NO_CREDENTIALS_ERRORS):
        return CallerProblem(UNREACHABLE, error, f"the grader could not reach AWS ({type(error).__name__}: {error}): "
                                                 f"{NO_CREDENTIALS_FIX}")
    if isinstance(error, UNREACHABLE_ERRORS):
        return CallerProblem(UNREACHABLE, error, f"the grader could not reach AWS ({type(error).__name__}: {error}): "
                                                 f"{UNREACHABLE_FIX}")
    return None


def caller_problem(exception: BaseException | None, *, grading: bool = True) -> CallerProblem | None:
    """The caller's own problem found in `exception` or what caused it (a check may wrap the
    error in its own, or fail while handling it), or None when the error is about the subject
    (NotFound, a wrong setting, a schema error).

    `grading`: the database passwords were given to the grader, so a refused login is its
    problem; in a local run the suite made them, and a refused login is the check's finding
    (provisioning/dataplane_errors.py)."""
    from .dataplane_errors import dataplane_problem  # the database drivers, only when a check failed

    seen = set()
    while exception is not None and id(exception) not in seen:
        seen.add(id(exception))
        problem = _aws_problem(exception)
        if problem is not None:
            return problem
        found = dataplane_problem(exception, grading=grading)
        if found is not None:
            return CallerProblem(found[0], exception, found[1])
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

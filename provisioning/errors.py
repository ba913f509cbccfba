"""AWS error answers the provisioning steps, the inventory and the checks interpret alike."""

from __future__ import annotations

from typing import Callable

from botocore.exceptions import ClientError

from .polling import DeadlineExceeded, wait_until

# AWS answers these while network interfaces of just-deleted RDS/ElastiCache/EC2 resources
# are still being released; the deletion succeeds a little later.
DEPENDENCY_CODES = {"DependencyViolation", "InvalidDBSubnetGroupStateFault", "InvalidDBInstanceState",
                    "InvalidDBInstanceStateFault", "InvalidCacheSubnetGroupStateFault"}


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


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

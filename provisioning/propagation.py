"""Retry a call that names a resource AWS has just created but does not know everywhere yet.

The EC2 API is eventually consistent ("Eventual consistency in the Amazon EC2 API"): right after
CreateVpc, a CreateSubnet in that VPC may answer InvalidVpcID.NotFound, which does not mean the
VPC is missing. AWS's advice is to retry with exponential backoff. botocore's retry modes do not
count these codes as retryable, so provisioning's clients get this `needs-retry` handler: a
bounded backoff (about 10 s in all) on exactly these codes, for writes that name a resource.
Reads are left alone: a describe's NotFound is how a look-up learns that something does not exist
(provisioning's waits poll with their own deadline instead). So are deletions: their NotFound
means "already gone", which teardown handles. Read-only clients never get it: a grader's NotFound
is an answer about the student's account.
"""

from __future__ import annotations

from .call_events import service_event
from .errors import EVENTUAL_CODES

MAX_ATTEMPTS = 8
FIRST_DELAY = 0.1  # seconds; doubled each time, at most CAP
CAP = 4.0
NOT_RETRIED = ("Describe", "List", "Get", "Delete", "Terminate", "Disassociate", "Detach", "Revoke")


def delay_for(operation: str, code: str | None, attempts: int) -> float | None:
    if code not in EVENTUAL_CODES or attempts >= MAX_ATTEMPTS or operation.startswith(NOT_RETRIED):
        return None
    return min(FIRST_DELAY * 2 ** (attempts - 1), CAP)


def _needs_retry(response=None, operation=None, attempts=1, **_):
    if response is None or operation is None:
        return None
    code = (response[1] or {}).get("Error", {}).get("Code")
    return delay_for(operation.name, code, attempts)


def retry_propagation(client) -> None:
    """Install the handler first, so that it answers before botocore's own retry handler."""
    client.meta.events.register_first(f"needs-retry.{service_event(client)}", _needs_retry)

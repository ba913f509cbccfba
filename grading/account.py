"""Who is being graded and whether the lab is there at all: reads only.

Failures are answers here, not errors: a grader without sts or describe permissions still
writes a grade, with the account unknown and a note saying why.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from provisioning.aws import AwsClients
from lookups.inventory import lab_leftovers


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{exc.operation_name}: {error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def account_id(clients: AwsClients) -> tuple[str | None, str | None]:
    """(account id, None), or (None, why not)."""
    try:
        return clients("sts").get_caller_identity()["Account"], None
    except (ClientError, BotoCoreError) as exc:
        return None, f"could not read the account id ({_why(exc)})"


def lab_resource_count(clients: AwsClients) -> tuple[int | None, str | None]:
    """How many of the lab's resources exist (lookups.inventory, read-only), or (None, why not)."""
    try:
        return len(lab_leftovers(clients)), None
    except (ClientError, BotoCoreError) as exc:
        return None, f"could not list the lab's resources ({_why(exc)})"

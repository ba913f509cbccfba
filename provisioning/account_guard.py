"""Before provisioning writes to an AWS account: is it the account the author meant?

`pytest -m aws --lab-provision` creates a Multi-AZ RDS instance, a replica, a Redis group and
more, which cost money every hour, in whatever account the credentials happen to be in (a
forgotten AWS_PROFILE, an instructor's production account). So the run must name the account
(--lab-account=ID), and the account the credentials are in (sts:GetCallerIdentity) must be that
one; otherwise it stops before any write, in one line that says which account it would have
written to. Against an emulator too: the guard is what the self-tests exercise.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from .errors import error_code, error_message


class AccountGuardError(RuntimeError):
    """One line: why provisioning will not write to this account, and the fix."""


def caller_account(clients) -> str:
    try:
        return clients("sts").get_caller_identity()["Account"]
    except ClientError as error:
        raise AccountGuardError(f"cannot tell which AWS account the credentials are in (sts:GetCallerIdentity: "
                                f"{error_code(error)}: {error_message(error)}): check the credentials") from None
    except BotoCoreError as error:
        raise AccountGuardError(f"cannot tell which AWS account the credentials are in ({type(error).__name__}: "
                                f"{error}): check the credentials (AWS_PROFILE) or AWS_ENDPOINT_URL") from None


def guard_account(clients, expected: str | None, *, where: str, flag: str = "--lab-account") -> str:
    """The account to provision in, when it is `expected`; else AccountGuardError. `where`
    describes the target (AWS with a profile, or an emulator) for the message."""
    actual = caller_account(clients)
    if expected is None:
        raise AccountGuardError(f"-m aws --lab-provision would create the lab (billed hourly) in AWS account "
                                f"{actual} ({where}); nothing was created: confirm the account with {flag}={actual}")
    if expected != actual:
        raise AccountGuardError(f"{flag}={expected}, but the credentials are in AWS account {actual} ({where}); "
                                "nothing was created: use that account's credentials (AWS_PROFILE) or fix "
                                f"{flag}")
    return actual

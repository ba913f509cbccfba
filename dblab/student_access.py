"""A student's credentials for `dblab grade`: the role the roster names, assumed with the
instructor's own credentials (sts:AssumeRole), or a named profile. Both end up as read-only
clients for the grader's own calls and as environment variables for the student's grading run;
the credentials are never printed. Any failure is NotGradable, one line, so that student gets a
not_gradable grade and the class goes on.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

GRADER_SESSION_NAME = "dblab-grader"


class NotGradable(Exception):
    """The grader cannot look at this student's account; the message says why, in one line."""


@dataclass
class StudentAccess:
    """What one student's grading runs with: environment for the subprocess, clients in-process."""

    entry: object  # grading.roster.RosterEntry
    clients: object = field(repr=False)  # provisioning.aws.AwsClients, read-only, acting as the student
    env: dict[str, str] = field(default_factory=dict, repr=False)  # credentials only: never printed

    def __call__(self, service: str):
        """A read-only boto3 client acting as the student (preflight, tunnel discovery)."""
        return self.clients(service)


# The instructor's own clients (sts:AssumeRole), one per endpoint and region: the students'
# clients share one session (provisioning/aws.py), these are few.
_INSTRUCTOR: dict[tuple, object] = {}
_INSTRUCTOR_LOCK = threading.Lock()


def _instructor(endpoint_url: str | None, region: str):
    from provisioning.aws import AwsClients, AwsTarget

    with _INSTRUCTOR_LOCK:
        key = (endpoint_url, region)
        if key not in _INSTRUCTOR:
            # An emulator takes any key (the fake ones unless the environment has its own).
            _INSTRUCTOR[key] = AwsClients(AwsTarget(region=region, endpoint_url=endpoint_url), read_only=True)
        return _INSTRUCTOR[key]


def error_text(exc: Exception) -> str:
    """One line for a grade's reason: AWS's code and message, else the exception's type and text."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def student_access(entry, endpoint_url: str | None) -> StudentAccess:
    """Assume the student's role (or load the profile); NotGradable when that fails."""
    from botocore.exceptions import BotoCoreError, ClientError

    from provisioning.aws import AwsClients, AwsTarget

    env = {"AWS_ENDPOINT_URL": endpoint_url} if endpoint_url else {}
    if entry.profile:
        clients = AwsClients(AwsTarget(region=entry.region, endpoint_url=endpoint_url, profile=entry.profile),
                             read_only=True)
        try:
            clients.session()  # a profile that does not exist fails here
        except BotoCoreError as exc:
            raise NotGradable(f"profile {entry.profile}: {exc}") from None
        return StudentAccess(entry, clients, {**env, "AWS_PROFILE": entry.profile})
    session_name = re.sub(r"[^\w+=,.@-]", "-", f"{GRADER_SESSION_NAME}-{entry.student}")[:64]
    try:
        sts = _instructor(endpoint_url, entry.region)("sts")
        credentials = sts.assume_role(RoleArn=entry.role_arn, RoleSessionName=session_name)["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        raise NotGradable(f"could not assume {entry.role_arn}: {error_text(exc)}") from None
    keys = {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}
    clients = AwsClients(AwsTarget(region=entry.region, endpoint_url=endpoint_url), read_only=True, credentials=keys)
    env.update(AWS_ACCESS_KEY_ID=credentials["AccessKeyId"], AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
               AWS_SESSION_TOKEN=credentials["SessionToken"])
    return StudentAccess(entry, clients, env)


def check_access(access: StudentAccess) -> None:
    """One call that the credentials work; NotGradable when they are rejected."""
    # Only this here; the permission preflight (grading/preflight.py) runs inside the grading
    # run, where it turns a denied action into not_gradable for the steps that need it.
    from grading.preflight import CredentialsRejected, check_credentials

    try:
        check_credentials(access)
    except CredentialsRejected as exc:
        raise NotGradable(f"{access.entry.credentials_label}: credentials rejected ({exc})") from None

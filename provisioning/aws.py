"""Where the AWS API is, and clients for it.

One object says which account and endpoint a run talks to. Local mode always has an
endpoint (the embedded moto server, LocalStack or moto given by URL); with no endpoint
the standard boto3 credential chain talks to real AWS.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from . import naming

# Credentials that cannot reach a real account: used whenever an emulator is the target.
EMULATOR_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


def emulator_credentials(environ=os.environ) -> dict:
    """Fake credentials, unless the environment holds an emulated account's own: `dblab grade`
    passes each student's assumed-role credentials, which moto maps to that student's account."""
    if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return {"aws_access_key_id": environ["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": environ["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": environ.get("AWS_SESSION_TOKEN")}
    return EMULATOR_CREDENTIALS


# Throttling and transient errors are retried (with backoff) by botocore; one that outlives these
# retries is the caller's problem (provisioning/errors.THROTTLED_CODES), never the student's.
RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"})


class EndpointUnreachable(RuntimeError):
    pass


@dataclass(frozen=True)
class AwsTarget:
    region: str = naming.REGION
    endpoint_url: str | None = None  # None: real AWS through the standard credential chain
    profile: str | None = None

    @property
    def emulated(self) -> bool:
        return self.endpoint_url is not None

    def describe(self) -> str:
        return f"emulator at {self.endpoint_url}" if self.emulated else f"AWS ({self.profile or 'default credentials'})"


def endpoint_from_environment(environ=os.environ) -> str | None:
    """AWS_ENDPOINT_URL, else LOCALSTACK_HOST resolved as localstack-client does."""
    url = environ.get("AWS_ENDPOINT_URL", "").strip()
    if url:
        return url
    if environ.get("LOCALSTACK_HOST", "").strip():
        from localstack_client import config as localstack_config

        return localstack_config.get_service_endpoint("edge", localstack_host=environ["LOCALSTACK_HOST"])
    return None


def check_reachable(endpoint_url: str, timeout: float = 2.0) -> None:
    """Fail fast, in one line, when an emulator endpoint does not answer."""
    parsed = urlparse(endpoint_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise EndpointUnreachable(f"{endpoint_url!r} is not an http(s) URL")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise EndpointUnreachable(f"{endpoint_url} does not answer ({exc.strerror or exc})") from None


# One session for every AwsClients given explicit credentials (dblab grade: a class of assumed
# roles, one AwsClients per student). A session loads each service model once, and a fresh one
# per student costs ~0.2 s of CPU; the credentials go to each client instead. A session is not
# thread-safe, so clients are made from it under this lock (the clients themselves are).
_SHARED_SESSION: list[boto3.Session] = []
_SHARED_LOCK = threading.Lock()


def _shared_session() -> boto3.Session:
    with _SHARED_LOCK:
        if not _SHARED_SESSION:
            _SHARED_SESSION.append(boto3.Session())
        return _SHARED_SESSION[0]


@dataclass
class AwsClients:
    """Caches one boto3 client per service; boto3 clients are thread-safe, sessions are not."""

    target: AwsTarget
    read_only: bool = False  # grading: every non-read operation is refused (provisioning.readonly)
    # Explicit keys (aws_access_key_id, aws_secret_access_key, aws_session_token), e.g. of an
    # assumed role: they win over the target's profile and the emulator's fake keys. Never printed.
    credentials: dict | None = field(default=None, repr=False)
    # Provisioning: every create written down the moment AWS answers it (provisioning/journal.py).
    journal: object | None = field(default=None, repr=False)
    # Grading: what sees every answer (grading/evidence.py) or serves recorded ones (a regrade);
    # anything with attach(client). Set with observe().
    observer: object | None = field(default=None, init=False, repr=False)
    # Read-only runs: each question asked of AWS once (provisioning/read_cache.py).
    read_cache: object | None = field(default=None, init=False, repr=False)
    _session: boto3.Session | None = field(default=None, init=False, repr=False)
    _clients: dict = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.read_only:  # one cache for all of this run's clients
            from .read_cache import ReadCache

            self.read_cache = ReadCache()

    def session(self) -> boto3.Session:
        """Raises botocore's ProfileNotFound at once for a profile that does not exist."""
        if self._session is None:
            if self.credentials is not None:
                self._session = _shared_session()
            elif self.target.profile:  # named by the caller: used as asked, emulator or not
                self._session = boto3.Session(region_name=self.target.region, profile_name=self.target.profile)
            elif self.target.emulated:
                self._session = boto3.Session(region_name=self.target.region, **emulator_credentials())
            else:
                self._session = boto3.Session(region_name=self.target.region)
        return self._session

    def _made(self, make):
        # The shared session is used by other AwsClients' threads too.
        if self.credentials is None:
            return make(self.session())
        session = self.session()
        with _SHARED_LOCK:
            return make(session)

    def __call__(self, service: str):
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._made(lambda session: session.client(
                    service, region_name=self.target.region, endpoint_url=self.target.endpoint_url,
                    config=RETRIES, **(self.credentials or {}),
                ))
                self._prepare(client)
                self._clients[service] = client
            return client

    def resource(self, service: str):
        """A boto3 resource (e.g. a DynamoDB Table). Every call a resource makes goes through its
        own client, so in grade mode that client refuses writes before they are sent, as ours do."""
        resource = self._made(lambda session: session.resource(
            service, region_name=self.target.region, endpoint_url=self.target.endpoint_url,
            config=RETRIES, **(self.credentials or {})))
        self._prepare(resource.meta.client)
        return resource

    def observe(self, observer) -> "AwsClients":
        """Attach `observer` to every client, made already or to come."""
        with self._lock:
            self.observer = observer
            for client in self._clients.values():
                observer.attach(client)
        return self

    def _prepare(self, client) -> None:
        if self.observer is not None:
            self.observer.attach(client)
        if self.read_only:
            from .readonly import make_read_only

            make_read_only(client)
            self.read_cache.attach(client)
            return
        from .propagation import retry_propagation

        retry_propagation(client)
        if self.journal is not None:
            self.journal.attach(client)

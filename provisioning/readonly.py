"""Read-only AWS clients for grading: any operation that is not a read is refused
before it leaves the machine."""

from __future__ import annotations

from .call_events import service_event

READ_PREFIXES = ("Describe", "List", "Get", "Query", "Scan", "BatchGet", "Head", "Lookup", "Search")
# Not reads, but they change nothing in the student's account.
ALLOWED = {("sts", "AssumeRole"), ("sts", "GetCallerIdentity")}


class WriteRefused(PermissionError):
    pass


def is_read(service: str, operation: str) -> bool:
    return operation.startswith(READ_PREFIXES) or (service, operation) in ALLOWED


def make_read_only(client) -> None:
    service = client.meta.service_model.service_name

    def refuse(model, **kwargs):
        if not is_read(service, model.name):
            raise WriteRefused(f"grading is read-only: {service}:{model.name} refused")

    # before-parameter-build fires for every API call, before any request is signed or sent.
    client.meta.events.register(f"before-parameter-build.{service_event(client)}", refuse)

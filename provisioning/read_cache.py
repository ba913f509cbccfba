"""Read-only runs ask AWS each question once.

A read-only run (grading, or -m aws checking a lab that exists) looks at an account that does not
change while it is looked at: a read is a verdict. The checks, though, find the same resources by
the same names again and again (a grade of the whole lab asks DescribeVpcs two dozen times), and
each answer costs a round trip and its parsing (on an emulator, the emulator's CPU too). So the
first answer to a question (an operation and its exact parameters) is kept, and the same question
later in the run is given that answer without being sent: botocore's before-call event, whose
first answer botocore takes instead of sending the request.

Kept: successful answers and "not found", the two verdicts. Never kept: what the lab itself
converges and the checks poll for (a DynamoDB query through an index, an item, stream records),
and every other error (throttling, access, a timeout), which the next ask may answer differently.
"""

from __future__ import annotations

import copy
import json
import threading

from .call_events import PARAMS_KEY, UnsentHttp, keep_params, service_event

# Data the lab converges (an index's answer, stream records) and the checks poll for.
CONVERGING_SERVICES = frozenset({"dynamodbstreams"})
CONVERGING_OPERATIONS = frozenset({("dynamodb", "Query"), ("dynamodb", "Scan"), ("dynamodb", "GetItem"),
                                   ("dynamodb", "BatchGetItem")})


def _cacheable(service: str, operation: str) -> bool:
    return service not in CONVERGING_SERVICES and (service, operation) not in CONVERGING_OPERATIONS


def _verdict(status: int, parsed: dict) -> bool:
    if status < 300:
        return True
    code = (parsed.get("Error") or {}).get("Code", "")
    return "NotFound" in code


class ReadCache:
    """One run's answers, by question; attach() to each of its clients."""

    def __init__(self):
        self._answers: dict[str, tuple[int, dict]] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def attach(self, client) -> None:
        service = service_event(client)
        events = client.meta.events
        keep_params(client)
        events.register_first(f"before-call.{service}", self._serve, unique_id="dblab-read-cache-serve")
        # First among the service's own handlers: the answer as it came off the wire, before a
        # DynamoDB resource turns it into Python values in place.
        events.register_first(f"after-call.{service}", self._keep, unique_id="dblab-read-cache-keep")

    def _key(self, model, context) -> str | None:
        service, operation = model.service_model.service_name, model.name
        if not _cacheable(service, operation) or PARAMS_KEY not in context:
            return None
        try:
            return json.dumps([service, operation, context[PARAMS_KEY]], sort_keys=True, default=repr)
        except (TypeError, ValueError):
            return None

    def _serve(self, model, context, **_):
        key = self._key(model, context)
        with self._lock:
            found = self._answers.get(key) if key is not None else None
            if found is None:
                return None
            self.hits += 1
        status, parsed = found
        context["dblab.read-cache.hit"] = True
        return UnsentHttp(status, {}), copy.deepcopy(parsed)

    def _keep(self, http_response, parsed, model, context, **_):
        if context.get("dblab.read-cache.hit"):
            return
        key = self._key(model, context)
        status = getattr(http_response, "status_code", 0)
        if key is None or not _verdict(status, parsed or {}):
            return
        with self._lock:
            self._answers.setdefault(key, (status, copy.deepcopy(parsed)))

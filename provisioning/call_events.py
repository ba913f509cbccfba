"""What the handlers of AWS calls share (provisioning/read_cache.py, readonly.py, propagation.py,
grading/evidence.py, grading/evidence_replay.py): where botocore names a client's events, the parameters a call was
made with, and the HTTP response botocore is handed when an answer is given without sending.

The parameters are kept once per call, whoever asks: registered under one unique id, the handler
runs once however many observers attach it; registered last on the service's own event, it sees
them on the wire's side of boto3's own conversions (a DynamoDB resource's Python values).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

PARAMS_KEY = "dblab.call.params"  # where a call's parameters wait in botocore's request context


def service_event(client) -> str:
    """The service's part of botocore's event names (dynamodb, dynamodb-streams, ec2...)."""
    return client.meta.service_model.service_id.hyphenize()


def _keep_params(params, context, **_):
    context[PARAMS_KEY] = copy.deepcopy(params)


def keep_params(client) -> None:
    """Every call of `client` keeps its parameters in its context (PARAMS_KEY)."""
    client.meta.events.register_last(f"before-parameter-build.{service_event(client)}", _keep_params,
                                     unique_id="dblab-call-params")


def call_params(context) -> dict:
    return context.get(PARAMS_KEY, {})


@dataclass(frozen=True)
class UnsentHttp:
    """What botocore reads of an HTTP response to a request it did not send: its status."""
    status_code: int
    headers: dict
    content: bytes = b""

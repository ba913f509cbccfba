"""A pytest plugin for a grading run (`-p tests.fairness.aws_errors`): AWS answers the grader
with an error, as it does when the grader's token has expired or its calls are throttled beyond
botocore's retries. moto cannot do either, so the error is raised where botocore would raise it
after its retries: from the client call.

DBLAB_AWS_ERROR is the error code; DBLAB_AWS_ERROR_SERVICES limits it to some services
(comma-separated, e.g. "elasticache"); every service when unset.
"""

from __future__ import annotations

import os

import botocore.client
from botocore.exceptions import ClientError

MESSAGES = {
    "ExpiredToken": (403, "The security token included in the request is expired"),
    "ThrottlingException": (400, "Rate exceeded"),
    "Throttling": (400, "Rate exceeded"),
}

CODE = os.environ.get("DBLAB_AWS_ERROR", "")
SERVICES = {s for s in os.environ.get("DBLAB_AWS_ERROR_SERVICES", "").split(",") if s}
_make_api_call = botocore.client.BaseClient._make_api_call


def _answer_with_error(self, operation_name, api_params):
    if CODE and (not SERVICES or self.meta.service_model.service_name in SERVICES):
        status, message = MESSAGES.get(CODE, (400, CODE))
        raise ClientError({"Error": {"Code": CODE, "Message": message},
                           "ResponseMetadata": {"HTTPStatusCode": status}}, operation_name)
    return _make_api_call(self, operation_name, api_params)


botocore.client.BaseClient._make_api_call = _answer_with_error

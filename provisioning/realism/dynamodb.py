"""DynamoDB tables: CREATING -> ACTIVE, stream enabling UPDATING, DELETING, and what they refuse.

Only the table API (X-Amz-Target DynamoDB_20120810.*) is simulated; DynamoDB Streams signs as
"dynamodb" too and passes through. Data-plane calls are never throttled: the lab's throttling
story is about control-plane bursts, and AWS throttles data calls by capacity, not by rate.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass

from . import wire
from .base import Context, ServiceRules
from .clock import Timeline
from .wire import Request, Response

CONTROL_PLANE = frozenset({
    "CreateTable", "DescribeTable", "UpdateTable", "DeleteTable", "ListTables", "TagResource",
    "UntagResource", "ListTagsOfResource", "DescribeTimeToLive", "UpdateTimeToLive",
    "DescribeContinuousBackups", "UpdateContinuousBackups",
})
DATA_PLANE = frozenset({
    "PutItem", "GetItem", "Query", "Scan", "UpdateItem", "DeleteItem", "BatchWriteItem",
    "BatchGetItem", "TransactWriteItems", "TransactGetItems",
})


@dataclass
class _Deleting:
    timeline: Timeline
    description: dict  # the TableDescription DeleteTable returned, TableStatus DELETING


def _table_name(value: str) -> str:
    # TableName may be the table's ARN (arn:aws:dynamodb:region:account:table/name).
    return value.split(":table/", 1)[1].split("/", 1)[0] if ":table/" in value else value


def _tables_named(req: Request) -> list[str]:
    payload = req.payload
    names = [payload["TableName"]] if isinstance(payload.get("TableName"), str) else []
    if isinstance(payload.get("RequestItems"), dict):
        names.extend(payload["RequestItems"])
    for item in payload.get("TransactItems") or []:
        for op in item.values() if isinstance(item, dict) else []:
            if isinstance(op, dict) and isinstance(op.get("TableName"), str):
                names.append(op["TableName"])
    return [_table_name(n) for n in names]


class DynamoDbRules(ServiceRules):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._lock = threading.Lock()
        self._sims: dict[str, Timeline] = {}  # CREATING or UPDATING
        self._deleting: dict[str, _Deleting] = {}

    def _state(self, table: str) -> str | None:
        with self._lock:
            timeline = self._sims.get(table)
            state = timeline.state() if timeline else None
            if timeline is not None and state is None:
                del self._sims[table]
            return state

    def _deleting_entry(self, table: str) -> _Deleting | None:
        with self._lock:
            entry = self._deleting.get(table)
            if entry is not None and entry.timeline.state() is None:
                del self._deleting[table]
                return None
            return entry

    def _is_table_api(self, req: Request) -> bool:
        return req.target.startswith(wire.DYNAMODB_TARGET_PREFIX)

    def throttleable(self, req: Request) -> bool:
        return self._is_table_api(req) and req.action in CONTROL_PLANE

    def throttled(self, req: Request) -> Response:
        return wire.dynamodb_error("ThrottlingException", "Rate of requests exceeds the allowed throughput.")

    def before(self, req: Request) -> Response | None:
        if not self._is_table_api(req):
            return None
        if req.action in DATA_PLANE:
            for table in _tables_named(req):
                if self._state(table) == "CREATING":
                    # AWS answers data calls on a table still being created as if it did not exist.
                    return self.not_found(wire.dynamodb_error(
                        "ResourceNotFoundException", "Requested resource not found"))
            return None
        table = _table_name(str(req.payload.get("TableName", "")))
        if req.action in ("DeleteTable", "UpdateTable"):
            state = self._state(table)
            if state is not None:
                doing = "created" if state == "CREATING" else "updated"
                return self.refuse(wire.dynamodb_error(
                    "ResourceInUseException",
                    f"Attempt to change a resource which is still in use: Table is being {doing}: {table}"))
        if req.action in ("DescribeTable", "DeleteTable"):
            entry = self._deleting_entry(table)
            if entry is not None:
                # DescribeTable shows DELETING; a repeated DeleteTable is no error on AWS.
                key = "Table" if req.action == "DescribeTable" else "TableDescription"
                return wire.json_response({key: copy.deepcopy(entry.description)})
        return None

    def after(self, req: Request, resp: Response) -> Response:
        if resp.status != 200 or not self._is_table_api(req) or req.action in DATA_PLANE:
            return resp
        try:
            body = json.loads(resp.body)
        except ValueError:
            return resp
        key = "Table" if req.action == "DescribeTable" else "TableDescription"
        description = body.get(key) if isinstance(body, dict) else None
        if not isinstance(description, dict):
            return resp
        table = str(description.get("TableName", ""))
        self._record(req, table, description)
        if not self._rewrite(table, description):
            return resp
        self.ctx.stats.add("rewritten")
        return resp.with_body(json.dumps(body).encode())

    def _record(self, req: Request, table: str, description: dict) -> None:
        ctx = self.ctx
        with self._lock:
            if req.action == "CreateTable":
                self._sims[table] = ctx.clock.timeline(ctx.phases(("CREATING", "dynamodb.create_table")))
                self._deleting.pop(table, None)
            elif req.action == "UpdateTable":
                spec = req.payload.get("StreamSpecification") or {}
                if isinstance(spec, dict) and spec.get("StreamEnabled") is True:
                    self._sims[table] = ctx.clock.timeline(ctx.phases(("UPDATING", "dynamodb.enable_stream")))
            elif req.action == "DeleteTable":
                self._sims.pop(table, None)
                kept = copy.deepcopy(description)
                kept["TableStatus"] = "DELETING"
                timeline = ctx.clock.timeline(ctx.phases(("DELETING", "dynamodb.delete_table")))
                self._deleting[table] = _Deleting(timeline, kept)

    def _rewrite(self, table: str, description: dict) -> bool:
        if self._deleting_entry(table) is not None:
            description["TableStatus"] = "DELETING"
            return True
        state = self._state(table)
        if state is None:
            return False
        description["TableStatus"] = state
        if state == "CREATING":
            for index in description.get("GlobalSecondaryIndexes") or []:
                if isinstance(index, dict):
                    index["IndexStatus"] = "CREATING"
        return True

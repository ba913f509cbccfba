"""RDS DB instances: creating -> (backing-up) -> available, Multi-AZ modifying, deleting.

moto makes every instance available at once and forgets it the moment it is deleted; the proxy
remembers when it saw each call succeed and shows, until the scaled duration is over, what
DescribeDBInstances shows on AWS, and refuses what AWS refuses in those states.
"""

from __future__ import annotations

import copy
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from . import wire
from .base import Context, ServiceRules
from .clock import Timeline
from .wire import Request, Response

NAMESPACE = "http://rds.amazonaws.com/doc/2014-10-31/"
BUSY = ("creating", "backing-up", "modifying")


@dataclass
class _Sim:
    timeline: Timeline
    pending_multi_az: bool = False


@dataclass
class _Deleting:
    timeline: Timeline
    member: ET.Element  # the last DBInstance moto showed, status set to deleting
    namespace: str


def _short_id(identifier: str) -> str:
    # SourceDBInstanceIdentifier may be an ARN (arn:aws:rds:region:account:db:name).
    return identifier.rsplit(":", 1)[-1]


class RdsRules(ServiceRules):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._lock = threading.RLock()
        self._sims: dict[str, _Sim] = {}
        self._deleting: dict[str, _Deleting] = {}

    # --- state ---

    def _state(self, db_id: str) -> tuple[str | None, _Sim | None]:
        with self._lock:
            sim = self._sims.get(db_id)
            if sim is None:
                return None, None
            state = sim.timeline.state()
            if state is None:
                del self._sims[db_id]  # done: moto's own answer is the truth from now on
                return None, None
            return state, sim

    def _deleting_entry(self, db_id: str) -> _Deleting | None:
        with self._lock:
            entry = self._deleting.get(db_id)
            if entry is not None and entry.timeline.state() is None:
                del self._deleting[db_id]
                return None
            return entry

    # --- the proxy's hooks ---

    def throttleable(self, req: Request) -> bool:
        return True

    def throttled(self, req: Request) -> Response:
        return wire.query_error(NAMESPACE, "Throttling", "Rate exceeded", 400)

    def before(self, req: Request) -> Response | None:
        db_id = req.params.get("DBInstanceIdentifier", "")
        if req.action == "CreateDBInstanceReadReplica":
            source = _short_id(req.params.get("SourceDBInstanceIdentifier", ""))
            state, _ = self._state(source)
            if state in BUSY:
                return self._invalid(f"DB Instance {source} is not in available state (it is {state}).")
        elif req.action == "ModifyDBInstance":
            state, _ = self._state(db_id)
            if state in BUSY:
                return self._invalid("Database instance is not in available state.")
        elif req.action == "DeleteDBInstance":
            state, _ = self._state(db_id)
            if state in BUSY:
                tail = "." if req.flag("SkipFinalSnapshot") else " - a final snapshot cannot be taken."
                return self._invalid(f"Instance {db_id} is currently {state}{tail}")
            if self._deleting_entry(db_id) is not None:
                return self._invalid(f"Instance {db_id} is already being deleted.")
        elif req.action == "DescribeDBInstances" and db_id:
            entry = self._deleting_entry(_short_id(db_id))
            if entry is not None:
                return self._describe_answer([entry.member], entry.namespace)
        return None

    def after(self, req: Request, resp: Response) -> Response:
        if resp.status != 200:
            return resp
        parsed = wire.parse_xml(resp.body)
        if parsed is None:
            return resp
        root, namespace = parsed
        members = list(wire.iter_named(root, "DBInstance"))
        self._record(req, members, namespace)
        changed = any([self._rewrite(m, namespace) for m in members])
        if req.action == "DescribeDBInstances" and not any(
            k == "DBInstanceIdentifier" or k.startswith(("Filters.", "Marker")) for k in req.params
        ):  # a plain list: instances moto already forgot are still listed, as deleting
            changed = self._append_deleting(root, members) or changed
        if not changed:
            return resp
        self.ctx.stats.add("rewritten")
        return resp.with_body(wire.dump_xml(root, namespace))

    # --- helpers ---

    def _invalid(self, message: str) -> Response:
        return self.refuse(wire.query_error(NAMESPACE, "InvalidDBInstanceState", message, 400))

    def _record(self, req: Request, members: list[ET.Element], namespace: str) -> None:
        if not members:
            return
        member = members[0]
        db_id = wire.child_text(member, "DBInstanceIdentifier") or ""
        ctx = self.ctx
        with self._lock:
            if req.action == "CreateDBInstance":
                steps = [("creating", "rds.create_db_instance")]
                if int(wire.child_text(member, "BackupRetentionPeriod") or 0) > 0:
                    steps.append(("backing-up", "rds.backing_up"))
                self._sims[db_id] = _Sim(ctx.clock.timeline(ctx.phases(*steps)))
                self._deleting.pop(db_id, None)
            elif req.action == "CreateDBInstanceReadReplica":
                # Replicas are created with backups off: no backing-up phase.
                self._sims[db_id] = _Sim(ctx.clock.timeline(ctx.phases(("creating", "rds.create_read_replica"))))
                self._deleting.pop(db_id, None)
            elif req.action == "ModifyDBInstance" and req.flag("MultiAZ") and req.flag("ApplyImmediately"):
                # Only the immediate Multi-AZ conversion is simulated (the lab's step 2.1).
                timeline = ctx.clock.timeline(ctx.phases(("modifying", "rds.modify_multi_az")))
                self._sims[db_id] = _Sim(timeline, pending_multi_az=True)
            elif req.action == "DeleteDBInstance":
                self._sims.pop(db_id, None)
                kept = copy.deepcopy(member)
                wire.set_child_text(kept, "DBInstanceStatus", "deleting", namespace)
                timeline = ctx.clock.timeline(ctx.phases(("deleting", "rds.delete_db_instance")))
                self._deleting[db_id] = _Deleting(timeline, kept, namespace)

    def _rewrite(self, member: ET.Element, namespace: str) -> bool:
        db_id = wire.child_text(member, "DBInstanceIdentifier") or ""
        if self._deleting_entry(db_id) is not None:
            wire.set_child_text(member, "DBInstanceStatus", "deleting", namespace)
            return True
        state, sim = self._state(db_id)
        if state is None or sim is None:
            return False
        wire.set_child_text(member, "DBInstanceStatus", state, namespace)
        if state == "creating":
            wire.remove_children(member, "Endpoint")  # AWS assigns the endpoint when creation ends
        if sim.pending_multi_az:
            wire.set_child_text(member, "MultiAZ", "false", namespace)
            pending = wire.child(member, "PendingModifiedValues")
            if pending is None:
                pending = ET.SubElement(member, wire.qname(namespace, "PendingModifiedValues"))
            wire.set_child_text(pending, "MultiAZ", "true", namespace)
        return True

    def _append_deleting(self, root: ET.Element, members: list[ET.Element]) -> bool:
        listed = {wire.child_text(m, "DBInstanceIdentifier") for m in members}
        container = next(wire.iter_named(root, "DBInstances"), None)
        if container is None:
            return False
        with self._lock:
            ids = [i for i in self._deleting if i not in listed]
        added = False
        for db_id in ids:
            entry = self._deleting_entry(db_id)
            if entry is not None:
                container.append(copy.deepcopy(entry.member))
                added = True
        return added

    def _describe_answer(self, members: list[ET.Element], namespace: str) -> Response:
        ns = namespace or NAMESPACE
        root = ET.Element(wire.qname(ns, "DescribeDBInstancesResponse"))
        result = ET.SubElement(root, wire.qname(ns, "DescribeDBInstancesResult"))
        container = ET.SubElement(result, wire.qname(ns, "DBInstances"))
        for member in members:
            container.append(copy.deepcopy(member))
        rid = wire.request_id()
        meta = ET.SubElement(root, wire.qname(ns, "ResponseMetadata"))
        ET.SubElement(meta, wire.qname(ns, "RequestId")).text = rid
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)]
        return Response(200, headers, wire.dump_xml(root, ns))

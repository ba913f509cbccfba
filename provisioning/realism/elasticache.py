"""ElastiCache replication groups: creating -> available, deletion, subnet groups in use.

moto makes a group available at once and keeps a deleted one `deleting` forever (its known gap,
shown as is). The proxy shows `creating` (without endpoints, which AWS assigns at the end) for
the scaled creation time, refuses deleting a group that is still creating, and refuses deleting
a cache subnet group that a group it saw created still uses.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET

from . import wire
from .base import Context, ServiceRules
from .clock import Timeline
from .wire import Request, Response

NAMESPACE = "http://elasticache.amazonaws.com/doc/2015-02-02/"


class ElastiCacheRules(ServiceRules):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._lock = threading.Lock()
        self._creating: dict[str, Timeline] = {}
        self._subnet_group: dict[str, str] = {}  # replication group id -> its cache subnet group
        self._deleting: dict[str, Timeline] = {}  # still holding its subnet group until gone

    def _creating_state(self, group_id: str) -> str | None:
        with self._lock:
            timeline = self._creating.get(group_id)
            state = timeline.state() if timeline else None
            if timeline is not None and state is None:
                del self._creating[group_id]
            return state

    def _users_of(self, subnet_group: str) -> list[str]:
        with self._lock:
            users = []
            for group_id, name in list(self._subnet_group.items()):
                if name != subnet_group:
                    continue
                deleting = self._deleting.get(group_id)
                if deleting is not None and deleting.state() is None:
                    # Its nodes are gone: the subnet group is free (moto still says `deleting`).
                    del self._deleting[group_id], self._subnet_group[group_id]
                    continue
                users.append(group_id)
            return users

    def throttleable(self, req: Request) -> bool:
        return True

    def throttled(self, req: Request) -> Response:
        return wire.query_error(NAMESPACE, "Throttling", "Rate exceeded", 400)

    def before(self, req: Request) -> Response | None:
        if req.action == "DeleteReplicationGroup":
            group_id = req.params.get("ReplicationGroupId", "")
            state = self._creating_state(group_id)
            if state is not None:
                return self.refuse(wire.query_error(
                    NAMESPACE, "InvalidReplicationGroupState",
                    f"Replication group {group_id} is not in available state (it is {state}).", 400))
        elif req.action == "DeleteCacheSubnetGroup":
            name = req.params.get("CacheSubnetGroupName", "")
            users = self._users_of(name)
            if users:
                return self.refuse(wire.query_error(
                    NAMESPACE, "CacheSubnetGroupInUse",
                    f"Cache subnet group {name} is currently in use by replication group {users[0]}.", 400))
        return None

    def after(self, req: Request, resp: Response) -> Response:
        if resp.status != 200:
            return resp
        group_id = req.params.get("ReplicationGroupId", "")
        ctx = self.ctx
        if req.action == "CreateReplicationGroup":
            timeline = ctx.clock.timeline(ctx.phases(("creating", "elasticache.create_replication_group")))
            with self._lock:
                self._creating[group_id] = timeline
                self._deleting.pop(group_id, None)
                if req.params.get("CacheSubnetGroupName"):
                    self._subnet_group[group_id] = req.params["CacheSubnetGroupName"]
        elif req.action == "DeleteReplicationGroup":
            timeline = ctx.clock.timeline(ctx.phases(("deleting", "elasticache.delete_replication_group")))
            with self._lock:
                self._creating.pop(group_id, None)
                self._deleting[group_id] = timeline
        parsed = wire.parse_xml(resp.body)
        if parsed is None:
            return resp
        root, namespace = parsed
        changed = any([self._rewrite(m, namespace) for m in wire.iter_named(root, "ReplicationGroup")])
        if not changed:
            return resp
        ctx.stats.add("rewritten")
        return resp.with_body(wire.dump_xml(root, namespace))

    def _rewrite(self, member: ET.Element, namespace: str) -> bool:
        group_id = wire.child_text(member, "ReplicationGroupId") or ""
        state = self._creating_state(group_id)
        if state is None:
            return False
        wire.set_child_text(member, "Status", state, namespace)
        wire.remove_children(member, "ConfigurationEndpoint")
        for group in wire.find_path(member, "NodeGroups/NodeGroup"):
            wire.set_child_text(group, "Status", state, namespace)
            wire.remove_children(group, "PrimaryEndpoint")
            wire.remove_children(group, "ReaderEndpoint")
            for node in wire.find_path(group, "NodeGroupMembers/NodeGroupMember"):
                wire.remove_children(node, "ReadEndpoint")
        return True

"""EC2: instance pending/shutting-down phases and the eventual consistency of new ids.

EC2's API is eventually consistent ("Eventual consistency in the Amazon EC2 API"): for a short
while after a Create* returns an id, other calls naming it answer InvalidXxx.NotFound. moto is
always consistent; the proxy hides each new id for the scaled window.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET

from . import wire
from .base import Context, ServiceRules
from .clock import Timeline
from .faults import ConsistencyWindow
from .wire import Request, Response

# Where each Create* answer carries the id it created (local element names).
CREATED_ID_PATHS = {
    "CreateVpc": "vpc/vpcId",
    "CreateSubnet": "subnet/subnetId",
    "CreateSecurityGroup": "CreateSecurityGroupResponse/groupId",
    "CreateInternetGateway": "internetGateway/internetGatewayId",
    "CreateRouteTable": "routeTable/routeTableId",
    "RunInstances": "instancesSet/item/instanceId",
}
# id prefix -> (error code, how EC2 words the message)
NOT_FOUND = {
    "vpc-": ("InvalidVpcID.NotFound", "The vpc ID '{}' does not exist"),
    "subnet-": ("InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist"),
    "sg-": ("InvalidGroup.NotFound", "The security group '{}' does not exist"),
    "igw-": ("InvalidInternetGatewayID.NotFound", "The internetGateway ID '{}' does not exist"),
    "rtb-": ("InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist"),
    "i-": ("InvalidInstanceID.NotFound", "The instance ID '{}' does not exist"),
}
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48}


class Ec2Rules(ServiceRules):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._lock = threading.Lock()
        self._instances: dict[str, Timeline] = {}
        self._window = ConsistencyWindow(ctx.clock, ctx.durations.seconds("ec2.consistency_window"))

    def _state(self, instance_id: str) -> str | None:
        with self._lock:
            timeline = self._instances.get(instance_id)
            state = timeline.state() if timeline else None
            if timeline is not None and state is None:
                del self._instances[instance_id]
            return state

    def throttleable(self, req: Request) -> bool:
        return True

    def throttled(self, req: Request) -> Response:
        return wire.ec2_error("RequestLimitExceeded", "Request limit exceeded.", 503)

    def before(self, req: Request) -> Response | None:
        values = [v for k, v in req.params.items() if k not in ("Action", "Version")]
        hidden = self._window.first_unpropagated(values)
        if hidden is None:
            return None
        for prefix, (code, message) in NOT_FOUND.items():
            if hidden.startswith(prefix):
                return self.not_found(wire.ec2_error(code, message.format(hidden), 400))
        return None

    def after(self, req: Request, resp: Response) -> Response:
        if resp.status != 200:
            return resp
        parsed = wire.parse_xml(resp.body)
        if parsed is None:
            return resp
        root, namespace = parsed
        path = CREATED_ID_PATHS.get(req.action or "")
        created = [e.text for e in wire.find_path(root, path) if e.text] if path else []
        for resource_id in created:
            self._window.created(resource_id)
        ctx = self.ctx
        with self._lock:
            if req.action == "RunInstances":
                for instance_id in created:
                    self._instances[instance_id] = ctx.clock.timeline(ctx.phases(("pending", "ec2.run_instances")))
            elif req.action == "TerminateInstances":
                for item in wire.find_path(root, "instancesSet/item"):
                    instance_id = wire.child_text(item, "instanceId") or ""
                    steps = ctx.phases(("shutting-down", "ec2.terminate_instances"))
                    self._instances[instance_id] = ctx.clock.timeline(steps)
        changed = False
        for item in wire.iter_named(root, "item"):
            instance_id = wire.child_text(item, "instanceId")
            if instance_id:
                changed = self._rewrite(item, instance_id, namespace) or changed
        if not changed:
            return resp
        ctx.stats.add("rewritten")
        return resp.with_body(wire.dump_xml(root, namespace))

    def _rewrite(self, item: ET.Element, instance_id: str, namespace: str) -> bool:
        state = self._state(instance_id)
        if state is None:
            return False
        # DescribeInstances says instanceState; TerminateInstances says currentState.
        for name in ("instanceState", "currentState"):
            holder = wire.child(item, name)
            if holder is not None:
                wire.set_child_text(holder, "code", str(STATE_CODES[state]), namespace)
                wire.set_child_text(holder, "name", state, namespace)
                return True
        return False

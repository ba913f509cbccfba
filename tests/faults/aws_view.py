"""The checks' view "as on AWS": the few answers moto gives short (local-engines.md), given the
way AWS gives them.

Locally six checks can only report emulator-limited. To prove that they fail for the right
reason, the fault runner also grades the environment through this view, where they pass on
the reference environment and must fail under their faults. It never changes what moto
answers elsewhere, and the suite itself never uses it.

AWS's answers come from AWS's shapes. The view answers with raw XML, which botocore parses
with the real service model exactly as it parses AWS's; what moto lacks is taken from answers
AWS gave (aws_samples/, with their sources), and the values are the environment's (the lab as
moto holds it after provisioning):

- DescribeDBInstances: moto's answer, plus the recorded SecondaryAvailabilityZone element for
  each Multi-AZ instance: a zone of its DB subnet group other than the primary's, where AWS
  keeps the standby.
- DescribeReplicationGroups: moto's answer, with the member clusters AWS creates for
  NumCacheClusters (moto drops the parameter and records one member).
- DescribeCacheClusters of a member cluster (moto describes none): the recorded member cluster,
  filled from the replication group.

What AWS would report differently under a fault is this view's own model of the answer (the
attributes of AwsAnswers, set with fc.patch), never an edit of the records the answers are
filled from: a check that reads a key AWS does not send finds nothing, on the reference
environment and under a fault alike.
"""

from __future__ import annotations

import copy
import datetime
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs

from botocore.awsrequest import AWSResponse
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from provisioning import naming

SAMPLES = Path(__file__).resolve().parent / "aws_samples"
RDS_SAMPLE = SAMPLES / "rds-describe-db-instances-multi-az.xml"
MEMBER_CLUSTER_SAMPLE = SAMPLES / "elasticache-describe-cache-clusters-member.xml"

LEFT_OUT = object()  # a value of a change: AWS sends no such element


def elasticache_backend():
    return get_backend("elasticache")[DEFAULT_ACCOUNT_ID][naming.REGION]


class AwsAnswers:
    """Installed on the AWS view's boto3 session. Its attributes are what AWS would answer
    differently from the environment as built; a fault on the AWS view changes them."""

    def __init__(self, num_cache_clusters: int = naming.CACHE_NODES):
        # NumCacheClusters of the lab's replication group (step 5.2 asks for naming.CACHE_NODES):
        # AWS creates that many member clusters, <group>-001, -002...
        self.num_cache_clusters = num_cache_clusters
        # By element name, as the recorded answers name them (a path for nested ones: "A/B");
        # a list replaces a list's items, each a dict of its elements; LEFT_OUT drops the element.
        self.db_instance_changes: dict[str, dict[str, object]] = {}  # DB instance identifier -> changes
        self.member_cluster_changes: dict[str, object] = {}  # changes to every member cluster
        self._db_instance = _recorded(ET.parse(RDS_SAMPLE).getroot(), "DBInstance")
        self._member_answer = ET.parse(MEMBER_CLUSTER_SAMPLE).getroot()
        self._member_cluster = _recorded(self._member_answer, "CacheCluster")

    def install(self, session) -> None:
        """Register on a boto3 session before its clients are made (clients copy the handlers)."""
        events = session.events
        events.register("before-parse.rds.DescribeDBInstances", self._db_instances)
        events.register("before-parse.elasticache.DescribeReplicationGroups", self._replication_groups)
        events.register("before-send.elasticache.DescribeCacheClusters", self._cache_clusters)

    def member_clusters(self, group_id: str) -> list[str]:
        return [f"{group_id}-{n:03d}" for n in range(1, self.num_cache_clusters + 1)]

    # --- DescribeDBInstances: moto's answer, rewritten before botocore parses it -------------
    def _db_instances(self, response_dict, **kwargs) -> None:
        if response_dict["status_code"] != 200:
            return
        root = ET.fromstring(response_dict["body"])
        for db in root.iterfind(".//{*}DBInstances/{*}DBInstance"):
            changes = {}
            if _text(db, "MultiAZ") == "true" and _child(db, "SecondaryAvailabilityZone") is None:
                changes["SecondaryAvailabilityZone"] = _standby_zone(db)
            changes.update(self.db_instance_changes.get(_text(db, "DBInstanceIdentifier"), {}))
            for name, value in changes.items():
                _put(db, name, value, self._db_instance)
        response_dict["body"] = _serialize(root)

    # --- DescribeReplicationGroups: the member clusters AWS creates -------------------------
    def _replication_groups(self, response_dict, **kwargs) -> None:
        if response_dict["status_code"] != 200:
            return
        root = ET.fromstring(response_dict["body"])
        for group in root.iterfind(".//{*}ReplicationGroups/{*}ReplicationGroup"):
            if _text(group, "ClusterEnabled") == "true":
                continue  # cluster mode: not the lab's kind of group
            group_id = _text(group, "ReplicationGroupId")
            members = self.member_clusters(group_id)
            listed = _child(group, "MemberClusters")
            if listed is None:
                continue
            for item in list(listed):
                listed.remove(item)
            for member in members:
                ET.SubElement(listed, _qualified(listed, "ClusterId")).text = member
            node_group = group.find("{*}NodeGroups/{*}NodeGroup")
            if node_group is not None:
                self._node_group_members(node_group, group_id, members)
        response_dict["body"] = _serialize(root)

    def _node_group_members(self, node_group, group_id: str, members: list[str]) -> None:
        listed = _child(node_group, "NodeGroupMembers")
        known = [] if listed is None else list(listed)
        if not known:
            return
        primary = known[0]
        for item in known:
            listed.remove(item)
        for index, member in enumerate(members):
            item = copy.deepcopy(primary)
            if index:
                address = item.find("{*}ReadEndpoint/{*}Address")
                if address is not None and address.text:
                    address.text = address.text.replace(_text(primary, "CacheClusterId"), member, 1)
                for name, text in (("CacheClusterId", member), ("CurrentRole", "replica"),
                                   ("PreferredAvailabilityZone", _member_zone(group_id, index))):
                    if _child(item, name) is not None:
                        _child(item, name).text = text
            listed.append(item)

    # --- DescribeCacheClusters of a member cluster: the recorded member, filled ---------------
    def _cache_clusters(self, request, **kwargs):
        cluster_id = _request_parameter(request.body, "CacheClusterId")
        if not cluster_id:
            return None  # all clusters: moto answers
        for group in elasticache_backend().replication_groups.values():
            members = self.member_clusters(group.replication_group_id)
            if group.cluster_mode != "enabled" and cluster_id.lower() in members:
                body = self._member_cluster_answer(group, members.index(cluster_id.lower()))
                return AWSResponse(request.url, 200, {"Content-Type": "text/xml"}, _Raw(body))
        return None  # not a member cluster: moto answers

    def _member_cluster_answer(self, group, index: int) -> bytes:
        root = copy.deepcopy(self._member_answer)
        cluster = _recorded(root, "CacheCluster")
        cluster_id = self.member_clusters(group.replication_group_id)[index]
        account = group.arn.split(":")[4]
        changes = {
            "CacheClusterId": cluster_id,
            "ReplicationGroupId": group.replication_group_id,
            "CacheNodeType": group.cache_node_type,
            "Engine": group.engine,
            "EngineVersion": group.engine_version,
            "CacheClusterStatus": group.status,  # the group's members move with it
            "PreferredAvailabilityZone": _member_zone(group.replication_group_id, index),
            "CacheClusterCreateTime": group.replication_group_create_time,
            "PreferredMaintenanceWindow": group.preferred_maintenance_window,
            "NotificationConfiguration": LEFT_OUT if not group.notification_topic_arn else None,
            "NotificationConfiguration/TopicArn": group.notification_topic_arn,
            "CacheParameterGroup/CacheParameterGroupName": (
                group.cache_parameter_group_name or _default_parameter_group(group.engine, group.engine_version)),
            "CacheSubnetGroupName": group.cache_subnet_group_name,
            "AutoMinorVersionUpgrade": group.auto_minor_version_upgrade,
            "SecurityGroups": [{"SecurityGroupId": sg, "Status": "active"} for sg in group.security_group_ids or ()],
            "SnapshotRetentionLimit": group.snapshot_retention_limit,
            "SnapshotWindow": group.snapshot_window,
            "AuthTokenEnabled": group.auth_token_enabled,
            "TransitEncryptionEnabled": group.transit_encryption_enabled,
            "AtRestEncryptionEnabled": group.at_rest_encryption_enabled,
            "ARN": f"arn:aws:elasticache:{naming.REGION}:{account}:cluster:{cluster_id}",
            "ReplicationGroupLogDeliveryEnabled": False,
            "LogDeliveryConfigurations": [],  # the lab delivers no logs
        }
        changes.update(self.member_cluster_changes)
        for name, value in changes.items():  # None: moto recorded nothing, the recorded value stays
            _put(cluster, name, value, self._member_cluster)
        root.find("{*}ResponseMetadata/{*}RequestId").text = str(uuid.uuid4())  # one per answer, as AWS's
        return _serialize(root)


# --- where AWS puts what moto does not place -------------------------------------------------------

def _standby_zone(db: ET.Element):
    """A Multi-AZ standby lives in another zone of the DB subnet group (AWS picks one)."""
    primary = _text(db, "AvailabilityZone")
    zones = sorted({zone.text for zone in db.iterfind("{*}DBSubnetGroup/{*}Subnets/{*}Subnet/"
                                                      "{*}SubnetAvailabilityZone/{*}Name")} - {primary})
    return zones[0] if zones else LEFT_OUT


def _member_zone(group_id: str, index: int) -> str:
    """moto places the members it records; AWS spreads the others over the cache subnet group's zones."""
    backend = elasticache_backend()
    group = backend.replication_groups[group_id]
    placed = [m.get("preferred_availability_zone") for g in group.node_groups for m in g["node_group_members"]]
    if index < len(placed) and placed[index]:
        return placed[index]
    subnet_group = backend.cache_subnet_groups.get(group.cache_subnet_group_name)
    zones = sorted({subnet.get("subnet_availability_zone") for subnet in getattr(subnet_group, "subnets", ())} - {None})
    spare = [zone for zone in zones if zone not in placed] or zones or [zone for zone in placed if zone] or [naming.AZ_A]
    return spare[(index - len(placed)) % len(spare)]


def _default_parameter_group(engine: str, version: str | None) -> str | None:
    if not version:
        return None
    major = version.split(".")[0]
    family = major if major.isdigit() and int(major) >= 7 else "6.x" if major == "6" else ".".join(version.split(".")[:2])
    return f"default.{engine}{family}"


# --- XML -------------------------------------------------------------------------------------------

class _Raw:
    """The raw body of an AWSResponse the view makes (botocore reads it with stream())."""

    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def _recorded(answer: ET.Element, element: str) -> ET.Element:
    """The first `element` of a recorded answer: the shape the view fills."""
    found = answer.find(f".//{{*}}{element}")
    if found is None:
        raise ValueError(f"the recorded {_local(answer.tag)} holds no {element}")
    return found


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _qualified(parent: ET.Element, name: str) -> str:
    """`name` in the namespace of `parent` (moto's answers and AWS's name theirs)."""
    return f"{parent.tag.rsplit('}', 1)[0]}}}{name}" if parent.tag.startswith("{") else name


def _child(parent: ET.Element, name: str) -> ET.Element | None:
    return next((child for child in parent if _local(child.tag) == name), None)


def _text(parent: ET.Element, name: str) -> str | None:
    child = _child(parent, name)
    return None if child is None else (child.text or "").strip()


def _xml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return str(value)


def _clone(recorded: ET.Element, parent: ET.Element) -> ET.Element:
    """A copy of a recorded element, in the namespace of the answer it goes into."""
    element = copy.deepcopy(recorded)
    for node in element.iter():
        node.tag = _qualified(parent, _local(node.tag))
    return element


def _put(target: ET.Element, name: str, value, recorded: ET.Element) -> None:
    """Set element `name` of `target` (a path "A/B" for a nested one) to `value`, shaped as the
    same element of the recorded answer (None leaves it as it is). An element AWS never sends
    cannot be set."""
    head, _, rest = name.partition("/")
    model = _child(recorded, head)
    if model is None:
        raise KeyError(f"{head}: AWS's recorded {_local(recorded.tag)} has no such element")
    element = _child(target, head)
    if value is None:
        return
    if value is LEFT_OUT:
        if element is not None:
            target.remove(element)
        return
    if element is None:
        element = _clone(model, target)
        order = [_local(child.tag) for child in recorded]
        earlier = set(order[:order.index(head)])
        position = max((i + 1 for i, child in enumerate(target) if _local(child.tag) in earlier), default=0)
        target.insert(position, element)
    if rest:
        _put(element, rest, value, model)
    elif isinstance(value, list):
        item_model = next(iter(model), None)
        if value and item_model is None:
            raise ValueError(f"{head}: the recorded list has no item to shape new ones on")
        for item in list(element):
            element.remove(item)
        for fields in value:
            item = _clone(item_model, element)
            for key, field in fields.items():
                _put(item, key, field, item_model)
            element.append(item)
    elif len(model):
        raise ValueError(f"{head} is a structure in AWS's recorded answer, not a value")
    else:
        element.text = _xml_value(value)


def _serialize(root: ET.Element) -> bytes:
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else None
    return ET.tostring(root, encoding="utf-8", default_namespace=namespace)


def _request_parameter(body, name: str) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    values = parse_qs(body if isinstance(body, str) else "").get(name)
    return values[0] if values else None

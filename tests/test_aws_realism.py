"""Self-tests of the AWS-realism proxy (provisioning/realism) against an embedded moto.

Every call goes through boto3 so that botocore itself parses the rewritten answers and the
emitted errors (a wrong shape or a stale DynamoDB CRC fails here, not in a lab run). Scales are
small so that a 7.5-minute AWS creation takes a second or two; nothing sleeps, everything polls
with a deadline. The tests of state sequences move the proxy's clock themselves (TestClock): a
phase lasts until the test moves past it, however slow the machine (on a loaded CI host, real time
once ran past a 0.4 s CREATING before the test's fourth call).
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries import standard
from moto.server import ThreadedMotoServer

from provisioning.polling import wait_until
from provisioning.realism import start_realism_proxy
from provisioning.realism.clock import Clock
from provisioning.realism.durations import load_durations
from provisioning.realism.faults import Throttler

RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"})


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def realism(moto_url):
    """start(scale, **kw) -> proxy; every proxy started is stopped after the test."""
    started = []

    def start(scale, **kwargs):
        kwargs.setdefault("throttle_rate", 0.0)  # behaviour tests: no throttling unless asked
        proxy = start_realism_proxy(moto_url, scale, seed=7, **kwargs)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def client(service, url, config=RETRIES):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=config)


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_of(call, *args, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value


def code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def status(exc: ClientError) -> int:
    return exc.response["ResponseMetadata"]["HTTPStatusCode"]


class TestClock:
    """The proxy's clock (start_realism_proxy's `now`), moved by the test alone."""

    __test__ = False  # not a test class

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return TestClock()


class StateRecorder:
    """Reads a state probe until it reaches `final`, recording each distinct state seen, moving the
    proxy's clock a tick between reads: every phase is seen, however long a read takes."""

    def __init__(self, probe, clock: TestClock, tick: float = 0.05):
        self.probe, self.clock, self.tick, self.seen = probe, clock, tick, []

    def until(self, final, ticks: int = 5000):
        for _ in range(ticks):
            state = self.probe()
            if not self.seen or self.seen[-1] != state:
                self.seen.append(state)
            if state == final:
                return self.seen
            self.clock.advance(self.tick)
        pytest.fail(f"state {final} not reached in {ticks} ticks of {self.tick}s: {self.seen}")


def ticking(clock: TestClock, probe, tick: float = 0.1):
    """`probe` for wait_until, the clock moved a tick before each read."""
    def read():
        clock.advance(tick)
        return probe()
    return read


# --- RDS ---

def create_db(rds, db_id, retention=1):
    return rds.create_db_instance(
        DBInstanceIdentifier=db_id, DBInstanceClass="db.t3.micro", Engine="mysql", MasterUsername="admin",
        MasterUserPassword="password123", AllocatedStorage=20, BackupRetentionPeriod=retention)["DBInstance"]


def describe_db(rds, db_id):
    return rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]


def test_scale_must_be_positive(moto_url):
    for bad in (0, -1, 0.0):
        with pytest.raises(ValueError):
            start_realism_proxy(moto_url, bad)


def test_rds_create_goes_creating_backing_up_available(realism, clock):
    proxy = realism(0.002, now=clock)
    rds = client("rds", proxy.endpoint_url)
    db_id = name("db")
    created = create_db(rds, db_id, retention=1)
    assert created["DBInstanceStatus"] == "creating" and "Endpoint" not in created
    first = describe_db(rds, db_id)
    assert first["DBInstanceStatus"] == "creating" and "Endpoint" not in first
    listed = [m for m in rds.describe_db_instances()["DBInstances"] if m["DBInstanceIdentifier"] == db_id]
    assert listed[0]["DBInstanceStatus"] == "creating"  # the list gets the same rewriting
    seen = StateRecorder(lambda: describe_db(rds, db_id)["DBInstanceStatus"], clock).until("available")
    assert seen == ["creating", "backing-up", "available"]
    assert "Endpoint" in describe_db(rds, db_id)


def test_rds_refuses_what_aws_refuses_while_creating(realism, clock):
    proxy = realism(0.002, now=clock)
    rds = client("rds", proxy.endpoint_url)
    db_id = name("db")
    create_db(rds, db_id)
    replica = error_of(rds.create_db_instance_read_replica, DBInstanceIdentifier=name("replica"),
                       SourceDBInstanceIdentifier=db_id)
    modify = error_of(rds.modify_db_instance, DBInstanceIdentifier=db_id, MultiAZ=True, ApplyImmediately=True)
    delete = error_of(rds.delete_db_instance, DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)
    for exc in (replica, modify, delete):
        assert (code(exc), status(exc)) == ("InvalidDBInstanceState", 400)
        assert isinstance(exc, rds.exceptions.InvalidDBInstanceStateFault)  # botocore maps the code
    assert "currently creating" in delete.response["Error"]["Message"]
    assert proxy.stats()["refused"] == 3


def test_rds_multi_az_modification_is_pending_then_applied(realism, clock):
    proxy = realism(0.002, now=clock)
    rds = client("rds", proxy.endpoint_url)
    db_id = name("db")
    create_db(rds, db_id, retention=0)
    seen = StateRecorder(lambda: describe_db(rds, db_id)["DBInstanceStatus"], clock).until("available")
    assert seen == ["creating", "available"]  # no backup to take with retention 0
    answer = rds.modify_db_instance(DBInstanceIdentifier=db_id, MultiAZ=True, ApplyImmediately=True)["DBInstance"]
    assert answer["PendingModifiedValues"].get("MultiAZ") is True and answer["MultiAZ"] is False
    during = describe_db(rds, db_id)
    assert during["DBInstanceStatus"] == "modifying" and during["MultiAZ"] is False
    assert during["PendingModifiedValues"]["MultiAZ"] is True
    exc = error_of(rds.create_db_instance_read_replica, DBInstanceIdentifier=name("replica"),
                   SourceDBInstanceIdentifier=db_id)
    assert code(exc) == "InvalidDBInstanceState"
    StateRecorder(lambda: describe_db(rds, db_id)["DBInstanceStatus"], clock).until("available")
    after = describe_db(rds, db_id)
    assert after["MultiAZ"] is True and "MultiAZ" not in after.get("PendingModifiedValues", {})


def test_rds_read_replica_creates_without_backing_up(realism, clock):
    proxy = realism(0.002, now=clock)
    rds = client("rds", proxy.endpoint_url)
    db_id, replica_id = name("db"), name("replica")
    create_db(rds, db_id, retention=1)
    StateRecorder(lambda: describe_db(rds, db_id)["DBInstanceStatus"], clock).until("available")
    rds.create_db_instance_read_replica(DBInstanceIdentifier=replica_id, SourceDBInstanceIdentifier=db_id)
    seen = StateRecorder(lambda: describe_db(rds, replica_id)["DBInstanceStatus"], clock).until("available")
    assert seen == ["creating", "available"]


def test_rds_delete_shows_deleting_then_not_found(realism, clock):
    proxy = realism(0.002, now=clock)
    rds = client("rds", proxy.endpoint_url)
    db_id = name("db")
    create_db(rds, db_id, retention=0)
    StateRecorder(lambda: describe_db(rds, db_id)["DBInstanceStatus"], clock).until("available")
    answer = rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)["DBInstance"]
    assert answer["DBInstanceStatus"] == "deleting"
    assert describe_db(rds, db_id)["DBInstanceStatus"] == "deleting"  # moto has already forgotten it
    listed = {m["DBInstanceIdentifier"]: m for m in rds.describe_db_instances()["DBInstances"]}
    assert listed[db_id]["DBInstanceStatus"] == "deleting"
    again = error_of(rds.delete_db_instance, DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)
    assert code(again) == "InvalidDBInstanceState"

    def gone():
        try:
            describe_db(rds, db_id)
            return False
        except rds.exceptions.DBInstanceNotFoundFault:
            return True
    wait_until(ticking(clock, gone), timeout=10, what="deleted instance not found", retry_on=())


# --- ElastiCache ---

def test_elasticache_replication_group_creating_and_refusals(realism, clock):
    proxy = realism(0.002, now=clock)
    cache = client("elasticache", proxy.endpoint_url)
    subnet_group, group_id = name("csg"), name("rg")
    cache.create_cache_subnet_group(CacheSubnetGroupName=subnet_group, CacheSubnetGroupDescription="lab",
                                    SubnetIds=["subnet-12345678"])
    created = cache.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="lab", Engine="redis",
        CacheNodeType="cache.t3.micro", NumCacheClusters=2, CacheSubnetGroupName=subnet_group)
    assert created["ReplicationGroup"]["Status"] == "creating"

    def describe():
        return cache.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    during = describe()
    assert during["Status"] == "creating"
    assert all("PrimaryEndpoint" not in group for group in during.get("NodeGroups", []))
    exc = error_of(cache.delete_replication_group, ReplicationGroupId=group_id)
    assert (code(exc), status(exc)) == ("InvalidReplicationGroupState", 400)
    assert isinstance(exc, cache.exceptions.InvalidReplicationGroupStateFault)
    in_use = error_of(cache.delete_cache_subnet_group, CacheSubnetGroupName=subnet_group)
    assert isinstance(in_use, cache.exceptions.CacheSubnetGroupInUse)
    seen = StateRecorder(lambda: describe()["Status"], clock).until("available")
    assert seen == ["creating", "available"]
    assert describe()["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    cache.delete_replication_group(ReplicationGroupId=group_id)
    assert describe()["Status"] == "deleting"  # moto's own state, shown as is
    in_use = error_of(cache.delete_cache_subnet_group, CacheSubnetGroupName=subnet_group)
    assert code(in_use) == "CacheSubnetGroupInUse"  # its nodes are still being deleted


# --- DynamoDB ---

def create_table(ddb, table):
    return ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "gk", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-gk", "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )["TableDescription"]


def test_dynamodb_table_creating_updating_deleting(realism, clock):
    proxy = realism(0.02, now=clock)  # 20 s -> 0.4 s
    ddb = client("dynamodb", proxy.endpoint_url)
    table = name("orders")
    assert create_table(ddb, table)["TableStatus"] == "CREATING"
    described = ddb.describe_table(TableName=table)["Table"]  # botocore checks the recomputed CRC32
    assert described["TableStatus"] == "CREATING"
    assert described["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    item = {"pk": {"S": "1"}, "gk": {"S": "a"}}
    for call, kwargs in [
        (ddb.put_item, {"TableName": table, "Item": item}),
        (ddb.get_item, {"TableName": table, "Key": {"pk": {"S": "1"}}}),
        (ddb.scan, {"TableName": table}),
        (ddb.batch_write_item, {"RequestItems": {table: [{"PutRequest": {"Item": item}}]}}),
    ]:
        assert isinstance(error_of(call, **kwargs), ddb.exceptions.ResourceNotFoundException)
    assert isinstance(error_of(ddb.delete_table, TableName=table), ddb.exceptions.ResourceInUseException)
    seen = StateRecorder(lambda: ddb.describe_table(TableName=table)["Table"]["TableStatus"], clock).until("ACTIVE")
    assert seen == ["CREATING", "ACTIVE"]
    ddb.put_item(TableName=table, Item=item)
    updated = ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": True,
                                                                     "StreamViewType": "NEW_AND_OLD_IMAGES"})
    assert updated["TableDescription"]["TableStatus"] == "UPDATING"
    seen = StateRecorder(lambda: ddb.describe_table(TableName=table)["Table"]["TableStatus"], clock).until("ACTIVE")
    assert seen == ["UPDATING", "ACTIVE"]
    assert ddb.delete_table(TableName=table)["TableDescription"]["TableStatus"] == "DELETING"
    assert ddb.describe_table(TableName=table)["Table"]["TableStatus"] == "DELETING"
    assert ddb.delete_table(TableName=table)["TableDescription"]["TableStatus"] == "DELETING"  # no error on AWS

    def gone():
        try:
            ddb.describe_table(TableName=table)
            return False
        except ddb.exceptions.ResourceNotFoundException:
            return True
    wait_until(ticking(clock, gone), timeout=10, what="deleted table not found", retry_on=())


# --- EC2 ---

def test_ec2_instance_pending_running_shutting_down_terminated(realism, clock):
    proxy = realism(0.01, now=clock)  # 30 s -> 0.3 s; consistency window 2 s -> 20 ms
    ec2 = client("ec2", proxy.endpoint_url)
    instance_id = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                    InstanceType="t3.micro")["Instances"][0]["InstanceId"]

    def state():
        try:
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ClientError as exc:
            if code(exc) == "InvalidInstanceID.NotFound":
                return "not-yet-visible"  # eventual consistency, right after RunInstances
            raise
        found = reservations[0]["Instances"][0]["State"]
        return f'{found["Name"]}/{found["Code"]}'
    seen = [s for s in StateRecorder(state, clock).until("running/16") if s != "not-yet-visible"]
    assert seen == ["pending/0", "running/16"]
    terminating = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"][0]
    assert terminating["CurrentState"] == {"Code": 32, "Name": "shutting-down"}
    assert StateRecorder(state, clock).until("terminated/48") == ["shutting-down/32", "terminated/48"]


def test_ec2_new_ids_are_eventually_consistent(realism, clock):
    proxy = realism(0.25, now=clock)  # window 2 s -> 0.5 s
    ec2 = client("ec2", proxy.endpoint_url)

    def invisible_then_visible(resource_id, expected_code, call, **kwargs):
        exc = error_of(call, **kwargs)
        assert (code(exc), status(exc)) == (expected_code, 400)
        assert resource_id in exc.response["Error"]["Message"]
        wait_until(ticking(clock, lambda: call(**kwargs)), timeout=5, what=f"{resource_id} visible")

    # Each check right after its create: the window is half a second at this scale.
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    invisible_then_visible(vpc, "InvalidVpcID.NotFound", ec2.describe_vpcs, VpcIds=[vpc])
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    invisible_then_visible(subnet, "InvalidSubnetID.NotFound", ec2.describe_subnets, SubnetIds=[subnet])
    group = ec2.create_security_group(GroupName=name("sg"), Description="lab", VpcId=vpc)["GroupId"]
    invisible_then_visible(group, "InvalidGroup.NotFound", ec2.describe_security_groups, GroupIds=[group])
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    invisible_then_visible(gateway, "InvalidInternetGatewayID.NotFound", ec2.attach_internet_gateway,
                           InternetGatewayId=gateway, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    invisible_then_visible(table, "InvalidRouteTableID.NotFound", ec2.describe_route_tables, RouteTableIds=[table])
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 SubnetId=subnet)["Instances"][0]["InstanceId"]
    invisible_then_visible(instance, "InvalidInstanceID.NotFound", ec2.describe_instances, InstanceIds=[instance])
    assert proxy.stats()["not_found"] >= 6


# --- throttling ---

@pytest.fixture
def fast_backoff(monkeypatch):
    # botocore backs off up to 1 s, 2 s, ... after a throttle; the retry *decision* is what is
    # tested here, not AWS's backoff timing.
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.001)


@pytest.mark.usefixtures("fast_backoff")
def test_each_throttling_error_is_retried_by_botocore(realism):
    proxy = realism(0.01, throttle_rate=1.0)
    two_attempts = Config(retries={"total_max_attempts": 2, "mode": "standard"})  # one retry
    cases = [
        ("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded", 503),
        ("rds", lambda c: c.describe_db_instances(), "Throttling", 400),
        ("elasticache", lambda c: c.describe_replication_groups(), "Throttling", 400),
        ("dynamodb", lambda c: c.list_tables(), "ThrottlingException", 400),
    ]
    for service, call, expected, http_status in cases:
        exc = error_of(call, client(service, proxy.endpoint_url, two_attempts))
        assert (code(exc), status(exc)) == (expected, http_status), service
        assert exc.response["ResponseMetadata"]["RetryAttempts"] == 1, f"{service}: botocore did not retry"
    assert proxy.stats()["throttled"] == 8


@pytest.mark.usefixtures("fast_backoff")
def test_throttled_describes_succeed_with_standard_retries(realism):
    proxy = realism(0.01, throttle_rate=0.3)
    rds = client("rds", proxy.endpoint_url)
    for _ in range(50):
        rds.describe_db_instances()
    assert proxy.stats()["throttled"] > 0


def test_never_throttled_sts_data_plane_and_moto_api(realism, moto_url):
    table = name("direct")
    create_table(client("dynamodb", moto_url), table)  # made behind the proxy's back: ACTIVE
    proxy = realism(0.01, throttle_rate=1.0)
    no_retries = Config(retries={"max_attempts": 1, "mode": "standard"})
    assert client("sts", proxy.endpoint_url, no_retries).get_caller_identity()["Account"]
    ddb = client("dynamodb", proxy.endpoint_url, no_retries)
    ddb.put_item(TableName=table, Item={"pk": {"S": "1"}, "gk": {"S": "a"}})
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "1"}})["Item"]
    # moto's own API goes through untouched. Its dashboard, not data.json: moto's backends are
    # global to the process, so data.json serialises every other test's state too, and under
    # xdist that held the worker's other moto server long enough for its tests to time out.
    via_proxy = requests.get(f"{proxy.endpoint_url}/moto-api/", timeout=10)
    direct = requests.get(f"{moto_url}/moto-api/", timeout=10)
    assert (via_proxy.status_code, via_proxy.content) == (direct.status_code, direct.content)
    assert proxy.stats()["throttled"] == 0


# --- pass-through, concurrency, plumbing ---

def test_resources_made_behind_the_proxy_pass_through(realism, moto_url):
    db_id, table = name("direct"), name("direct")
    create_db(client("rds", moto_url), db_id)
    create_table(client("dynamodb", moto_url), table)
    proxy = realism(1.0)  # full AWS durations: anything simulated would show
    rds, ddb = client("rds", proxy.endpoint_url), client("dynamodb", proxy.endpoint_url)
    assert describe_db(rds, db_id)["DBInstanceStatus"] == "available"
    assert ddb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
    rds.modify_db_instance(DBInstanceIdentifier=db_id, BackupRetentionPeriod=3, ApplyImmediately=True)
    ddb.delete_table(TableName=table)  # not refused: the proxy never saw it creating
    assert proxy.stats()["refused"] == 0 and proxy.stats()["rewritten"] >= 1  # the deletion is simulated


def test_concurrent_requests_from_many_threads(realism):
    proxy = realism(0.01)
    barrier = threading.Barrier(16)

    def work(i):
        ddb = client("dynamodb", proxy.endpoint_url)
        barrier.wait(timeout=30)
        table = name(f"t{i}")
        create_table(ddb, table)
        return ddb.describe_table(TableName=table)["Table"]["TableStatus"]

    with ThreadPoolExecutor(16) as pool:
        states = list(pool.map(work, range(16)))
    assert set(states) <= {"CREATING", "ACTIVE"} and len(states) == 16
    assert proxy.stats()["requests"] >= 32


def test_stop_is_idempotent_and_stops_serving(realism):
    proxy = realism(0.01)
    proxy.stop()
    proxy.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{proxy.endpoint_url}/moto-api/", timeout=2)


def test_seeded_throttling_is_reproducible():
    first, second = Throttler(0.3, seed=42), Throttler(0.3, seed=42)
    assert [first.should_throttle() for _ in range(100)] == [second.should_throttle() for _ in range(100)]
    assert not any(Throttler(0.0, seed=1).should_throttle() for _ in range(100))


def test_durations_have_sources_and_the_lab_total():
    durations = load_durations()
    assert all(entry.source.strip() for entry in durations.entries.values())
    assert 0 < durations.throttle_rate < 1 and durations.throttle_source
    # 1.4 + 2.1 + 2.2 + 5.2 (midpoints of the lab's ranges) and three deletions of 5 min each.
    assert durations.lab_total() == 450 + 750 + 450 + 450 + 3 * 300


def test_timeline_scales_aws_durations():
    now = [100.0]
    clock = Clock(0.01, now=lambda: now[0])
    timeline = clock.timeline([("creating", 450), ("backing-up", 120)])
    assert timeline.state() == "creating"
    now[0] += 4.6
    assert timeline.state() == "backing-up"
    now[0] += 1.2
    assert timeline.state() is None
    with pytest.raises(ValueError):
        Clock(0)

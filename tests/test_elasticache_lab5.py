"""Lab 5 against the emulator and local Redis/MariaDB: provisioning, re-runs, teardown, and
every check passing on the lab as built. The seeded faults that make each check fail (and
nothing else), including faulty implementations of the caching patterns, are in
tests/faults/cache.py, run by test_fault_catalogue.py."""

from __future__ import annotations

from contextlib import closing
from types import SimpleNamespace

import pytest

import suites.test_lab5_elasticache as lab5
import suites.test_lab5_redis_caching_patterns as lab5_patterns
from fixtures.lab import LabContext
from provisioning import elasticache, naming
from provisioning import lab as lab_module
from provisioning.apps import cache
from provisioning.context import ProvisionContext
from provisioning.dataplane import REDIS_PRIMARY, REDIS_REPLICA, DataPlane
from provisioning.passwords import generate_password

GROUP = naming.REPLICATION_GROUP
SUBNET_GROUP = naming.CACHE_SUBNET_GROUP
CHECKS = {name: check for module in (lab5, lab5_patterns) for name, check in vars(module).items()
          if name.startswith("test_") and callable(check)}


def _marks(check, name):
    return [mark for mark in getattr(check, "pytestmark", ()) if mark.name == name]


WRITES_DATA = {name for name, check in CHECKS.items() if _marks(check, "writes_data")}
CONTROL_PLANE = {name for name, check in CHECKS.items()
                 if _marks(check, "step")[0].args[0] in ("5.1", "5.2") and "redis_replica" not in name}
DATA_PLANE = set(CHECKS) - CONTROL_PLANE
# moto describes no cache clusters and ignores NumCacheClusters=2 (local-engines.md).
EMULATOR_LIMITED = {
    "test_replication_group_runs_redis_7",
    "test_replication_group_uses_the_cache_security_group",
    "test_replication_group_clusters_use_the_cache_subnet_group",
    "test_replication_group_has_two_member_clusters",
}
FAILED = (AssertionError, pytest.fail.Exception)


# --- the lab's network (Lab 1.1/1.2, built here so these tests need no other module) ------------

def build_network(ec2, run_id: str = "test-lab5", private_b_zone: str = naming.AZ_B) -> dict:
    """VPC, the three subnets and the cache security group, named as the lab names them."""
    vpc = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": naming.lab_tags(run_id, naming.VPC)}])["Vpc"]["VpcId"]
    subnets = {}
    for name, (cidr, zone) in naming.SUBNETS.items():
        zone = private_b_zone if name == naming.PRIVATE_SUBNET_B else zone
        subnets[name] = ec2.create_subnet(
            VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": naming.lab_tags(run_id, name)}],
        )["Subnet"]["SubnetId"]
    cache_sg = ec2.create_security_group(GroupName=naming.CACHE_SG, Description="Security group for ElastiCache",
                                         VpcId=vpc)["GroupId"]
    return {"vpc": vpc, "subnets": subnets, "cache_sg": cache_sg}


@pytest.fixture
def messages():
    return []


def make_ctx(aws_clients, messages, dataplane=None) -> ProvisionContext:
    return ProvisionContext(clients=aws_clients, run_id="test-lab5", dataplane=dataplane or DataPlane(),
                            master_password=generate_password(), timeout=10, log=messages.append)


@pytest.fixture
def ctx(aws_clients, messages):
    return make_ctx(aws_clients, messages)


@pytest.fixture
def lab(aws_clients):
    return LabContext(clients=aws_clients, dataplane=DataPlane(), timeout=0.5, target="local")


@pytest.fixture
def network(aws_clients):
    return build_network(aws_clients("ec2"))


def provision_control_plane(ctx):
    elasticache.create_cache_subnet_group(ctx)
    elasticache.create_replication_group(ctx)


def run_check(name, lab, *args):
    """'passed', 'emulator-limited: ...' or 'failed: ...'."""
    try:
        CHECKS[name](lab, *args)
    except pytest.skip.Exception as exc:
        return str(exc.msg)
    except FAILED as exc:
        return f"failed: {exc}"
    return "passed"


def create_group(ec, sg=None, **changes):
    """The lab's replication group with some settings changed (None leaves a setting out)."""
    request = dict(ReplicationGroupId=GROUP, ReplicationGroupDescription="d", Engine="redis", EngineVersion="7.0",
                   CacheNodeType=naming.CACHE_NODE_TYPE, NumCacheClusters=2,
                   CacheSubnetGroupName=SUBNET_GROUP if sg else None, SecurityGroupIds=[sg] if sg else None,
                   AutomaticFailoverEnabled=True, MultiAZEnabled=True)
    request.update(changes)
    ec.create_replication_group(**{k: v for k, v in request.items() if v is not None})


# --- declarations ---------------------------------------------------------------------------------

def test_steps_and_teardown_are_declared_with_the_lab_ids():
    assert [s.step for s in lab_module.steps_of(elasticache, lab_module.provisioning_steps())] == ["5.1", "5.2", "5.3"]
    assert [s.step for s in lab_module.steps_of(elasticache, lab_module.teardown_steps())] == ["7.1"]


def test_every_check_is_marked_with_one_lab_5_step():
    for name, check in CHECKS.items():
        steps = [m.args[0] for m in _marks(check, "step")]
        assert len(steps) == 1 and steps[0] in ("5.1", "5.2", "5.3"), f"{name}: step marks {steps}"


def test_writes_data_checks_are_the_5_3_behaviour_checks():
    assert WRITES_DATA and all(_marks(CHECKS[name], "step")[0].args[0] == "5.3" for name in WRITES_DATA)


# --- control plane on the emulator -------------------------------------------------------------

def test_control_plane_checks_pass_or_are_emulator_limited_on_the_provisioned_lab(ctx, lab, network):
    provision_control_plane(ctx)
    outcomes = {check: run_check(check, lab) for check in sorted(CONTROL_PLANE)}
    wrong = {check: outcome for check, outcome in outcomes.items()
             if not outcome.startswith("emulator-limited" if check in EMULATOR_LIMITED else "passed")}
    assert not wrong


def test_provisioning_makes_the_labs_request(ctx, network, aws_clients):
    provision_control_plane(ctx)
    ec = aws_clients("elasticache")
    subnet_group = elasticache.describe_subnet_group(ec)
    assert subnet_group["CacheSubnetGroupDescription"] == "Cache subnet group for lab"
    assert elasticache.subnet_group_ids(subnet_group) == {
        network["subnets"][naming.PRIVATE_SUBNET_A], network["subnets"][naming.PRIVATE_SUBNET_B]}
    group = elasticache.describe_replication_group(ec)
    assert (group["Description"], group["CacheNodeType"], group["AutomaticFailover"], group["MultiAZ"]) == (
        "Redis cluster for lab", naming.CACHE_NODE_TYPE, "enabled", "enabled")
    for arn in (subnet_group["ARN"], group["ARN"]):
        tags = ec.list_tags_for_resource(ResourceName=arn)["TagList"]
        assert naming.tag_value(tags, naming.RUN_TAG_KEY) == "test-lab5", arn
        assert naming.tag_value(tags, naming.MANAGED_TAG_KEY) == naming.MANAGED_TAG_VALUE, arn


def test_replication_group_request_is_exactly_the_labs():
    request = elasticache.replication_group_request(SimpleNamespace(run_id="r"), "sg-1")
    request.pop("Tags")
    assert request == dict(
        ReplicationGroupId="database-lab-redis", ReplicationGroupDescription="Redis cluster for lab",
        Engine="redis", EngineVersion="7.0", CacheNodeType="cache.t3.micro", NumCacheClusters=2,
        CacheSubnetGroupName="database-lab-cache-subnet", SecurityGroupIds=["sg-1"],
        AutomaticFailoverEnabled=True, MultiAZEnabled=True,
    )


def control_plane_snapshot(aws_clients) -> dict:
    ec = aws_clients("elasticache")
    return {
        "subnet_groups": [g["ARN"] for g in ec.describe_cache_subnet_groups()["CacheSubnetGroups"]],
        "groups": [(g["ReplicationGroupId"], g["ReplicationGroupCreateTime"], tuple(g["MemberClusters"]))
                   for g in ec.describe_replication_groups()["ReplicationGroups"]],
    }


def test_second_provisioning_adopts_everything_and_creates_nothing(ctx, network, aws_clients, messages):
    provision_control_plane(ctx)
    first = control_plane_snapshot(aws_clients)
    provision_control_plane(ctx)
    assert control_plane_snapshot(aws_clients) == first
    assert f"cache subnet group {SUBNET_GROUP}: adopted" in messages
    assert f"replication group {GROUP}: adopted" in messages


def test_adopting_a_wrong_subnet_group_says_how_it_differs(ctx, network, aws_clients, messages):
    aws_clients("elasticache").create_cache_subnet_group(
        CacheSubnetGroupName=SUBNET_GROUP, CacheSubnetGroupDescription="x",
        SubnetIds=[network["subnets"][naming.PUBLIC_SUBNET_A], network["subnets"][naming.PRIVATE_SUBNET_B]])
    elasticache.create_cache_subnet_group(ctx)
    assert any("not the lab's private subnets" in m for m in messages), messages


def test_adopting_a_wrong_replication_group_says_how_it_differs(ctx, network, aws_clients, messages):
    elasticache.create_cache_subnet_group(ctx)
    create_group(aws_clients("elasticache"), network["cache_sg"], CacheNodeType="cache.t2.micro", MultiAZEnabled=False)
    elasticache.create_replication_group(ctx)
    assert any("differs from the lab: node type cache.t2.micro, Multi-AZ disabled" in m for m in messages), messages


def test_subnet_group_step_names_a_missing_private_subnet(ctx, aws_clients):
    aws_clients("ec2").create_vpc(CidrBlock=naming.VPC_CIDR)
    with pytest.raises(LookupError, match=naming.PRIVATE_SUBNET_A):
        elasticache.create_cache_subnet_group(ctx)


def test_replication_group_step_names_a_missing_security_group(ctx, network, aws_clients):
    elasticache.create_cache_subnet_group(ctx)
    aws_clients("ec2").delete_security_group(GroupId=network["cache_sg"])
    with pytest.raises(LookupError, match=naming.CACHE_SG):
        elasticache.create_replication_group(ctx)


def test_provisioning_after_teardown_on_the_emulator_explains_the_stuck_deletion(ctx, network):
    provision_control_plane(ctx)
    elasticache.delete_cache(ctx)
    with pytest.raises(RuntimeError, match="reset the emulator"):
        elasticache.create_replication_group(ctx)


# --- teardown 7.1 --------------------------------------------------------------------------------

def test_teardown_deletes_the_group_without_a_final_snapshot(ctx, network, aws_clients, messages):
    provision_control_plane(ctx)
    ec = aws_clients("elasticache")
    sent = []
    ec.meta.events.register("provide-client-params.elasticache.DeleteReplicationGroup",
                            lambda params, **kw: sent.append(dict(params)))
    elasticache.delete_cache(ctx)
    assert sent == [{"ReplicationGroupId": GROUP}]  # erratum 4: no final-snapshot option exists
    assert elasticache.describe_replication_group(ec)["Status"] == "deleting"
    assert f"replication group {GROUP}: left 'deleting' (moto never completes a deletion)" in messages
    assert any("does not implement its deletion" in m for m in messages), messages


def test_teardown_twice_and_on_an_empty_account_never_fails(ctx, network, messages):
    elasticache.delete_cache(ctx)  # nothing there yet
    assert f"replication group {GROUP}: already gone" in messages
    assert f"cache subnet group {SUBNET_GROUP}: already gone" in messages
    provision_control_plane(ctx)
    elasticache.delete_cache(ctx)
    elasticache.delete_cache(ctx)


def test_teardown_without_an_emulator_waits_for_the_group_to_go(ctx, network, aws_clients, monkeypatch, messages):
    # As on AWS: the group disappears a few polls after the delete; the subnet group goes after it.
    provision_control_plane(ctx)
    monkeypatch.setattr(ProvisionContext, "emulated", property(lambda self: False))
    polls = []
    real_describe = elasticache.describe_replication_group

    def describe(client):
        group = real_describe(client)
        if group is not None and group["Status"] == "deleting":
            polls.append(1)
            return group if len(polls) < 3 else None
        return group

    monkeypatch.setattr(elasticache, "describe_replication_group", describe)
    monkeypatch.setattr(elasticache, "_delete_subnet_group", lambda ctx, client: messages.append("subnet group deleted"))
    elasticache.delete_cache(ctx)
    assert len(polls) >= 3
    assert any(m.startswith(f"replication group {GROUP}: deleted in") for m in messages), messages
    assert messages[-1] == "subnet group deleted"


# --- control plane: what moto does honour -------------------------------------------------------

def test_member_count_check_passes_with_two_members(lab, aws_clients):
    # ReplicasPerNodeGroup=1 is the one request moto honours with two members.
    create_group(aws_clients("elasticache"), NumCacheClusters=None, ReplicasPerNodeGroup=1)
    assert run_check("test_replication_group_has_two_member_clusters", lab) == "passed"


# --- data plane: the lab's cache app and the Redis/MySQL checks -----------------------------------

LAB_3_TABLE = """CREATE TABLE products (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL,
    description TEXT, price DECIMAL(10,2) NOT NULL, quantity INT DEFAULT 0, category VARCHAR(50),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)"""
PRODUCTS = [("Laptop Pro", "High-performance laptop", "1299.99", 10, "Electronics"),
            ("Wireless Mouse", "Ergonomic wireless mouse", "29.99", 50, "Electronics"),
            ("Desk Chair", "Comfortable office chair", "249.99", 15, "Furniture")]
DATA_TIMEOUT = 1.0  # deadline of the checks' polls: short, because faults keep some from converging


@pytest.fixture(scope="module")
def redis_pair(tmp_path_factory):
    from provisioning.local.redis_server import start_redis_pair

    pair = start_redis_pair(tmp_path_factory.mktemp("lab5-redis"))
    yield pair
    pair.stop()


@pytest.fixture(scope="module")
def mysql_pair(tmp_path_factory):
    from provisioning.local.mariadb import start_mysql_pair

    pair = start_mysql_pair(tmp_path_factory.mktemp("lab5-mysql"), generate_password())
    yield pair
    pair.stop()


def follow_primary(redis_pair) -> None:
    """Undo the replica faults: follow the primary again, read-only, link up."""
    from provisioning.polling import wait_until

    with redis_pair.replica.connect() as replica:
        replica.config_set("replica-read-only", "yes")
        replica.replicaof(redis_pair.primary.host, redis_pair.primary.port)
        wait_until(lambda: replica.info("replication").get("master_link_status") == "up",
                   timeout=10, what="replica link up again")


@pytest.fixture
def dataplane(redis_pair, mysql_pair) -> DataPlane:
    """Empty Redis pair following its primary, and a products table with Lab 3's rows."""
    follow_primary(redis_pair)
    with redis_pair.primary.connect() as primary:
        primary.flushall()
    with closing(mysql_pair.primary.connect()) as connection, connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS products")
        cursor.execute(LAB_3_TABLE)
        cursor.executemany("INSERT INTO products (name, description, price, quantity, category) "
                           "VALUES (%s, %s, %s, %s, %s)", PRODUCTS)
    return DataPlane(mysql={naming.DB_INSTANCE: mysql_pair.primary},
                     redis={REDIS_PRIMARY: redis_pair.primary, REDIS_REPLICA: redis_pair.replica})


@pytest.fixture
def app_ctx(aws_clients, messages, dataplane):
    return make_ctx(aws_clients, messages, dataplane)


@pytest.fixture
def data_lab(aws_clients, dataplane):
    return LabContext(clients=aws_clients, dataplane=dataplane, timeout=DATA_TIMEOUT, target="local")


def primary(redis_pair):
    return redis_pair.primary.connect()


def test_cache_app_step_replays_the_labs_main(app_ctx, messages):
    run = elasticache.run_cache_app(app_ctx)
    assert (run.first_read_hit, run.second_read_hit, run.read_after_update_hit) == (False, True, False)
    assert run.price_after_update == 1149.99
    assert run.session_extended
    assert run.rate_limit[:5] == ((True, 4), (True, 3), (True, 2), (True, 1), (True, 0))
    assert [allowed for allowed, _ in run.rate_limit[5:]] == [False, False]
    assert (run.bonus_score, run.bonus_rank) == (2500, 1)
    assert list(run.top_after_bonus) == cache.lab_final_standings()
    assert run.key_ttls[cache.LEADERBOARD_KEY] == -1 and all(
        ttl > 0 for key, ttl in run.key_ttls.items() if key != cache.LEADERBOARD_KEY)
    assert messages == [m for m in messages if str(app_ctx.master_password) not in m]
    assert any(m.startswith("lab 5.3 app: read hit/miss False/True, 5 of 7") for m in messages), messages


def test_cache_app_step_without_bindings_logs_one_line_and_returns(ctx, messages):
    assert elasticache.run_cache_app(ctx) is None
    assert len(messages) == 1 and "no data-plane binding" in messages[0], messages


def test_second_cache_app_step_adopts_the_apps_end_state(app_ctx, messages, redis_pair):
    elasticache.run_cache_app(app_ctx)
    assert elasticache.run_cache_app(app_ctx) is None
    assert any("lab 5.3 app: adopted" in m for m in messages), messages
    with primary(redis_pair) as client:
        assert len(list(client.scan_iter(match=f"{cache.SESSION_KEY_PREFIX}*"))) == 1


def test_data_plane_checks_pass_after_the_app_run_and_leave_nothing(app_ctx, data_lab, redis_pair, mysql_pair):
    elasticache.run_cache_app(app_ctx)
    outcomes = {name: run_check(name, data_lab, *((cache,) if name in WRITES_DATA else ()))
                for name in sorted(DATA_PLANE)}
    assert {name: o for name, o in outcomes.items() if o != "passed"} == {}
    with primary(redis_pair) as client:
        assert list(client.scan_iter(match=f"*{naming.CHECK_SCRATCH}*")) == []
    with closing(mysql_pair.primary.connect()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM products WHERE name LIKE %s", (f"{naming.CHECK_SCRATCH}%",))
        assert cursor.fetchone()[0] == 0


# --- outcomes that are neither pass nor fail ----------------------------------------------------

def test_replica_read_only_check_is_not_reachable_where_config_is_disabled(data_lab, monkeypatch):
    from redis.exceptions import ResponseError

    def refused(self, *args, **kwargs):
        raise ResponseError("unknown command 'CONFIG'")  # what ElastiCache answers

    monkeypatch.setattr("redis.Redis.config_get", refused)
    assert run_check("test_redis_replica_is_read_only", data_lab).startswith("not-reachable:")


# --- the hint when the app never ran ------------------------------------------------------------

def test_end_state_leaderboard_check_fails_when_the_app_never_ran(data_lab):
    outcome = run_check("test_app_leaderboard_has_player1_first_after_its_bonus", data_lab)
    assert outcome.startswith("failed:") and "has not run" in outcome, outcome

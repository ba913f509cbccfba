"""Grading clients, and the resources made from them, refuse every write before it is sent."""

import pytest

from provisioning.aws import AwsClients
from provisioning.readonly import WriteRefused, is_read


@pytest.fixture
def read_only(aws_clients):
    return AwsClients(aws_clients.target, read_only=True)


def test_reads_go_through(read_only):
    assert "Vpcs" in read_only("ec2").describe_vpcs()
    assert "TableNames" in read_only("dynamodb").list_tables()
    read_only("sts").get_caller_identity()


@pytest.mark.parametrize("service, call, kwargs", [
    ("ec2", "create_vpc", {"CidrBlock": "10.0.0.0/16"}),
    ("dynamodb", "delete_table", {"TableName": "database-lab-orders"}),
    ("rds", "modify_db_instance", {"DBInstanceIdentifier": "database-lab-mysql", "MultiAZ": False}),
    ("ec2", "authorize_security_group_ingress", {"GroupId": "sg-1"}),
])
def test_writes_are_refused_before_reaching_the_account(read_only, aws_clients, service, call, kwargs):
    vpcs_before = len(aws_clients("ec2").describe_vpcs()["Vpcs"])
    with pytest.raises(WriteRefused, match=f"{service}:"):
        getattr(read_only(service), call)(**kwargs)
    assert len(aws_clients("ec2").describe_vpcs()["Vpcs"]) == vpcs_before


@pytest.mark.parametrize("operation, expected", [
    ("DescribeDBInstances", True), ("Query", True), ("GetRecords", True), ("ListTagsOfResource", True),
    ("PutItem", False), ("UpdateTable", False), ("RunInstances", False), ("CreateTags", False),
])
def test_operation_names_are_classified(operation, expected):
    assert is_read("dynamodb", operation) is expected


@pytest.fixture
def orders_table(aws_clients):
    aws_clients("dynamodb").create_table(
        TableName="database-lab-orders", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}])
    return "database-lab-orders"


def _batch_put(table, item: dict) -> None:
    with table.batch_writer() as batch:  # sends BatchWriteItem when the block ends
        batch.put_item(Item=item)


@pytest.mark.parametrize("write", [
    lambda table: table.put_item(Item={"customer_id": "CUST-999"}),
    lambda table: table.delete(),
    lambda table: table.update_item(Key={"customer_id": "CUST-001"}, UpdateExpression="SET x = :x",
                                    ExpressionAttributeValues={":x": 1}),
    lambda table: _batch_put(table, {"customer_id": "CUST-998"}),
], ids=["put_item", "delete", "update_item", "batch_writer"])
def test_writes_through_a_resource_are_refused_before_they_are_sent(read_only, aws_clients, orders_table, write):
    table = read_only.resource("dynamodb").Table(orders_table)
    sent = []
    table.meta.client.meta.events.register("before-send", lambda request, **_: sent.append(request.url))
    with pytest.raises(WriteRefused, match="dynamodb:"):
        write(table)
    assert sent == [], "a refused write never leaves the machine"
    assert aws_clients("dynamodb").scan(TableName=orders_table)["Items"] == []
    assert orders_table in aws_clients("dynamodb").list_tables()["TableNames"]


def test_reads_through_a_resource_go_through(read_only, orders_table):
    table = read_only.resource("dynamodb").Table(orders_table)
    assert table.item_count == 0 and table.scan()["Items"] == []

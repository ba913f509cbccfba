"""provisioning/read_cache.py: a read-only run asks AWS each question once, except what the lab
converges (a DynamoDB query, stream records) and answers that are not verdicts."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.aws import AwsClients, AwsTarget


@pytest.fixture
def read_only(aws_clients, moto_server):
    return AwsClients(AwsTarget(region=naming.REGION, endpoint_url=moto_server.endpoint_url), read_only=True)


def _sent(clients: AwsClients, service: str) -> list[str]:
    sent: list[str] = []
    clients(service).meta.events.register("before-send", lambda request, **_: sent.append(request.url))
    return sent


def test_the_same_question_is_sent_once_and_answered_alike(read_only, aws_clients):
    aws_clients("ec2").create_vpc(CidrBlock="10.0.0.0/16")
    sent = _sent(read_only, "ec2")
    first = read_only("ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"]
    again = read_only("ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"]
    other = read_only("ec2").describe_vpcs()["Vpcs"]
    assert first == again and len(first) == 1 and len(other) >= 1
    assert len(sent) == 2 and read_only.read_cache.hits == 1  # the third question was another one
    again[0]["CidrBlock"] = "changed by a check"  # a check's change to its answer is its own
    assert read_only("ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])[
        "Vpcs"][0]["CidrBlock"] == "10.0.0.0/16"


def test_not_found_is_a_verdict_kept_like_an_answer(read_only):
    sent = _sent(read_only, "rds")
    for _ in range(2):
        with pytest.raises(ClientError, match="DBInstanceNotFound"):
            read_only("rds").describe_db_instances(DBInstanceIdentifier=naming.DB_INSTANCE)
    assert len(sent) == 1


def test_what_the_lab_converges_is_asked_every_time(read_only, aws_clients):
    aws_clients("dynamodb").create_table(
        TableName="t", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    sent = _sent(read_only, "dynamodb")
    for _ in range(2):
        read_only("dynamodb").query(TableName="t", KeyConditionExpression="k = :k",
                                    ExpressionAttributeValues={":k": {"S": "x"}})
    assert len(sent) == 2
    aws_clients("dynamodb").put_item(TableName="t", Item={"k": {"S": "x"}})
    items = read_only("dynamodb").query(TableName="t", KeyConditionExpression="k = :k",
                                        ExpressionAttributeValues={":k": {"S": "x"}})["Items"]
    assert items == [{"k": {"S": "x"}}]


def test_a_writing_run_keeps_nothing(aws_clients):
    aws_clients("ec2").describe_vpcs()
    assert aws_clients.read_cache is None

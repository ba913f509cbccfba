"""Grading clients refuse every write before it is sent."""

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

"""dblab sweep: dry run by default, finds leftovers by the lab's names, one-line errors."""

from provisioning import naming
from lookups.inventory import lab_leftovers

from dblab.cli import main


def leave_some_lab_resources(clients):
    clients("dynamodb").create_table(
        TableName=naming.ORDERS_TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
    )
    vpc = clients("ec2").create_vpc(CidrBlock=naming.VPC_CIDR)["Vpc"]["VpcId"]
    clients("ec2").create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": naming.VPC}])
    clients("ec2").create_key_pair(KeyName=naming.KEY_PAIR)


def test_inventory_finds_what_the_lab_left_and_ignores_the_rest(aws_clients):
    aws_clients("dynamodb").create_table(
        TableName="someone-elses-table", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
    )
    assert lab_leftovers(aws_clients) == []
    leave_some_lab_resources(aws_clients)
    kinds = sorted(item.kind for item in lab_leftovers(aws_clients))
    assert kinds == ["DynamoDB table", "VPC", "key pair"]


def test_sweep_is_a_dry_run_by_default(aws_clients, capsys):
    leave_some_lab_resources(aws_clients)
    code = main(["sweep", "--endpoint-url", aws_clients.target.endpoint_url])
    out = capsys.readouterr().out
    assert code == 1
    assert naming.ORDERS_TABLE in out and "dry run: nothing deleted" in out
    assert len(lab_leftovers(aws_clients)) == 3


def test_sweep_delete_removes_every_leftover(aws_clients, capsys):
    leave_some_lab_resources(aws_clients)
    assert main(["sweep", "--delete", "--timeout", "10", "--endpoint-url", aws_clients.target.endpoint_url]) == 0
    assert lab_leftovers(aws_clients) == []


def test_sweep_of_a_clean_account_says_so(aws_clients, capsys):
    assert main(["sweep", "--endpoint-url", aws_clients.target.endpoint_url]) == 0
    assert "no lab resources" in capsys.readouterr().out


def test_unreachable_endpoint_is_one_line(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "--endpoint-url", "http://127.0.0.1:9"])
    assert "does not answer" in str(exit_info.value) and "\n" not in str(exit_info.value)


def test_bad_timeout_is_one_line_naming_the_flag():
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "--timeout", "soon"])
    assert str(exit_info.value) == "dblab sweep: --timeout takes seconds, not 'soon'"

"""Emulated student accounts: one per variation, on one moto server.

moto serves every account an assumed role names: the keys sts:AssumeRole returns act in that
account, in every region. Each variation builds in an account of its own, so none sees another's
resources, and nothing has to be reset between them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import boto3

from provisioning import naming
from provisioning.aws import AwsClients, AwsTarget

ROLE = "arn:aws:iam::{account}:role/student"


@dataclass(frozen=True)
class Account:
    account_id: str
    endpoint_url: str
    keys: dict = field(repr=False)  # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN

    def clients(self, region: str = naming.REGION) -> AwsClients:
        """boto3 clients acting in this account (the student's own hands)."""
        return AwsClients(AwsTarget(region=region, endpoint_url=self.endpoint_url), credentials={
            "aws_access_key_id": self.keys["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": self.keys["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": self.keys["AWS_SESSION_TOKEN"]})


def assume(endpoint_url: str, account_id: str) -> Account:
    """The keys of a role in `account_id`, as the emulator hands them out."""
    sts = boto3.client("sts", endpoint_url=endpoint_url, region_name=naming.REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    credentials = sts.assume_role(RoleArn=ROLE.format(account=account_id), RoleSessionName="student")["Credentials"]
    return Account(account_id, endpoint_url, {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"]})


DEFAULT_ACCOUNT = "123456789012"  # moto's own: the keys "testing" act in it (and an IAM user's keys)


def default_account(endpoint_url: str) -> Account:
    return Account(DEFAULT_ACCOUNT, endpoint_url, {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"})


def scrubbed_environment() -> dict[str, str]:
    """This process's environment without anything that says where or as whom AWS is reached,
    nor any lab setting: a grade or a replay gets exactly what its case gives it."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("AWS_", "LAB_")) and k not in ("LOCALSTACK_HOST", "PYTEST_ADDOPTS")}

"""EC2 describe filters every look-up builds alike."""


def name_filter(name: str) -> dict:
    """Resources tagged Name=`name`: how the lab names its VPC, subnets, bastion..."""
    return {"Name": "tag:Name", "Values": [name]}


def vpc_filter(vpc_id: str) -> dict:
    return {"Name": "vpc-id", "Values": [vpc_id]}

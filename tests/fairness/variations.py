"""Allowed variations: what real students do differently from the lab's literal commands, each
of which must cost nothing (issue 9). A variation is the commands its student typed (the lab's,
edited), what the student did besides, and how the instructor grades it.

`breaks` names the steps the variation itself gets wrong (a re-run step): those lose their own
points, every other step gets them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from provisioning import naming
from provisioning.lab_replay import LabStep

from . import moto_state
from .build import Built, edit, edit_everywhere, rerun_in_another_terminal, typed

OTHER_REGION = "us-west-2"
STUDENTS_OWN_ADDRESS = "203.0.113.77"  # not the replay's fixed 198.51.100.10 (--lab-ssh-cidr's default)
GRADER_CIDR = "203.0.113.250/32"  # the instructor's grading host, declared with --lab-grader-cidr
LAB_TAG = "Key=Environment,Value=Lab"
EXTRA_TAGS = "Key=Owner,Value=alice Key=Course,Value=db101"


@dataclass(frozen=True)
class Variation:
    name: str
    what: str  # what this student did differently, in one line
    typed: Callable[[], list[LabStep]] = typed  # the lab's commands, as this student typed them
    region: str = naming.REGION
    besides: Callable[[Built], None] | None = None  # what the student did besides the lab's commands
    grade_args: tuple[str, ...] = ()
    grade_env: dict[str, str] = field(default_factory=dict)
    aws_config: str | None = None  # the grader's AWS config file (AWS_CONFIG_FILE), when the case has one
    breaks: tuple[str, ...] = ()  # steps the variation itself gets wrong: they lose their own points
    same_account_as: str | None = None  # graded in another variation's account (built once)

    def __str__(self) -> str:
        return self.name


# --- what the students typed ----------------------------------------------------------------------

def in_other_region() -> list[LabStep]:
    """The lab in us-west-2: its zones are the region's (the lab's us-east-1a/b do not exist there)."""
    return edit_everywhere(typed(), "us-east-1", OTHER_REGION)


def step_1_1_twice() -> list[LabStep]:
    """Lab 1.1 run again (erratum 1: a second VPC with the same name, CIDR and subnets), then the
    rest in the same terminal: the later steps use the second run's ids."""
    return typed("1.1", "1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.2", "4.1", "4.3", "5.1", "5.2")


def step_1_1_twice_in_another_terminal() -> list[LabStep]:
    """Lab 1.1 run again in a second terminal, the rest in the first: later steps use the first VPC."""
    return rerun_in_another_terminal(step_1_1_twice(), "1.1")


def labs_4_and_5_before_the_database() -> list[LabStep]:
    """DynamoDB and ElastiCache first, then RDS and the bastion (each after its prerequisites)."""
    return typed("1.1", "1.2", "4.1", "4.3", "5.1", "5.2", "1.3", "1.5", "1.4", "2.1", "2.2")


def replica_before_multi_az() -> list[LabStep]:
    return typed("1.1", "1.2", "1.3", "1.4", "1.5", "2.2", "2.1", "4.1", "4.3", "5.1", "5.2")


def multi_az_at_creation() -> list[LabStep]:
    """The primary created Multi-AZ at once; 2.1's modification is then nothing to do."""
    steps = edit(typed("1.1", "1.2", "1.3", "1.4", "1.5", "2.2", "4.1", "4.3", "5.1", "5.2"),
                 "1.4", "--no-multi-az", "--multi-az")
    return steps


def stream_at_table_creation() -> list[LabStep]:
    """The orders table created with its stream on; 4.3's update is then nothing to do."""
    return edit(typed("1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.2", "4.1", "5.1", "5.2"),
                "4.1", "--billing-mode PAY_PER_REQUEST",
                "--stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES --billing-mode PAY_PER_REQUEST")


def own_address() -> list[LabStep]:
    """`curl checkip` gave this student their own address (the replay fixes another by default)."""
    return edit(typed(), "1.2", "$(curl -s https://checkip.amazonaws.com)", STUDENTS_OWN_ADDRESS)


def extra_tags() -> list[LabStep]:
    """Every resource tagged with the student's own tags besides the lab's."""
    steps = edit_everywhere(typed(), LAB_TAG, f"{LAB_TAG} {EXTRA_TAGS}")
    return edit_everywhere(steps, "Tags=[{Key=Name,Value=", "Tags=[{Key=Owner,Value=alice},{Key=Name,Value=")


def tags_in_another_case() -> list[LabStep]:
    return edit_everywhere(typed(), LAB_TAG, "Key=environment,Value=lab")


def private_route_table() -> list[LabStep]:
    """The private subnets given a route table of their own, with no route out (the lab leaves
    them on the VPC's main table)."""
    return edit(typed(), "1.1", 'echo "Public Subnet: $PUBLIC_SUBNET_A"', "\n".join((
        "PRIVATE_RT=$(aws ec2 create-route-table --vpc-id $VPC_ID --query 'RouteTable.RouteTableId' --output text \\",
        "    --tag-specifications 'ResourceType=route-table,Tags=[{Key=Name,Value=database-lab-private-rt}]')",
        "aws ec2 associate-route-table --route-table-id $PRIVATE_RT --subnet-id $PRIVATE_SUBNET_A",
        "aws ec2 associate-route-table --route-table-id $PRIVATE_RT --subnet-id $PRIVATE_SUBNET_B",
        'echo "Public Subnet: $PUBLIC_SUBNET_A"')))


# --- what they did besides ----------------------------------------------------------------------------

def unrelated_resources(built: Built) -> None:
    """Another project in the same account and region: a VPC with the lab's CIDR (10.0.0.0/16 is
    everyone's first choice) and subnets, security groups (one open to the world), an instance,
    a key pair, a DynamoDB table, an RDS instance and its subnet group, a Redis group."""
    clients = built.account.clients(built.region)
    ec2, rds, dynamodb, elasticache = clients("ec2"), clients("rds"), clients("dynamodb"), clients("elasticache")

    def name(kind: str, value: str) -> list[dict]:
        return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": value}, {"Key": "Environment", "Value": "Prod"}]}]

    vpc = ec2.create_vpc(CidrBlock=naming.VPC_CIDR, TagSpecifications=name("vpc", "web-app-vpc"))["Vpc"]["VpcId"]
    zones = [f"{built.region}a", f"{built.region}b"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n + 1}.0/24", AvailabilityZone=zone,
                                 TagSpecifications=name("subnet", f"web-app-{zone[-1]}"))["Subnet"]["SubnetId"]
               for n, zone in enumerate(zones)]
    web = ec2.create_security_group(GroupName="web-sg", Description="web servers", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]} for port in (22, 80)])
    db_group = ec2.create_security_group(GroupName="web-db-sg", Description="web database", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db_group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}])
    ec2.create_key_pair(KeyName="web-key")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, KeyName="web-key",
                      SubnetId=subnets[0], SecurityGroupIds=[web], TagSpecifications=name("instance", "web-server"))
    rds.create_db_subnet_group(DBSubnetGroupName="web-app-subnets", DBSubnetGroupDescription="web app",
                               SubnetIds=subnets)
    rds.create_db_instance(DBInstanceIdentifier="web-app-postgres", DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="web", MasterUserPassword="not-the-labs-1", AllocatedStorage=20,
                           DBSubnetGroupName="web-app-subnets", VpcSecurityGroupIds=[db_group],
                           Tags=[{"Key": "Environment", "Value": "Prod"}])
    dynamodb.create_table(TableName="web-sessions", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    elasticache.create_cache_subnet_group(CacheSubnetGroupName="web-cache-subnets",
                                          CacheSubnetGroupDescription="web cache", SubnetIds=subnets)
    elasticache.create_replication_group(ReplicationGroupId="web-cache", ReplicationGroupDescription="web cache",
                                         Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=1,
                                         CacheSubnetGroupName="web-cache-subnets", SecurityGroupIds=[web])


def in_transient_states(built: Built) -> None:
    """Caught mid-routine, as AWS reports them daily: the primary in its backup window, the
    replica being modified, the Redis group being modified."""
    account, region = built.account.account_id, built.region
    moto_state.set_db_instance_status(account, region, naming.DB_INSTANCE, "backing-up")
    moto_state.set_db_instance_status(account, region, naming.DB_REPLICA, "modifying")
    moto_state.set_replication_group_status(account, region, naming.REPLICATION_GROUP, "modifying")


def grader_ssh_rule(built: Built) -> None:
    """The instructor's grading host let into the bastion's group, for the SSH tunnel."""
    ec2 = built.account.clients(built.region)("ec2")
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [naming.EC2_SG]}])["SecurityGroups"]
    assert len(group) == 1, group
    ec2.authorize_security_group_ingress(GroupId=group[0]["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": GRADER_CIDR}]}])


VARIATIONS = (
    Variation("another_region", f"the lab in {OTHER_REGION} (zones {OTHER_REGION}a/b), graded with --lab-region",
              in_other_region, OTHER_REGION, grade_args=(f"--lab-region={OTHER_REGION}",)),
    Variation("another_region_from_aws_default_region",
              f"the lab in {OTHER_REGION}, graded with AWS_DEFAULT_REGION={OTHER_REGION} and no --lab-region",
              in_other_region, OTHER_REGION, grade_env={"AWS_DEFAULT_REGION": OTHER_REGION},
              same_account_as="another_region"),
    Variation("another_region_from_the_profile",
              f"the lab in {OTHER_REGION}, graded with the region in the AWS config file's profile only",
              in_other_region, OTHER_REGION, aws_config=f"[default]\nregion = {OTHER_REGION}\n",
              same_account_as="another_region"),
    Variation("rerun_1_1", "Lab 1.1 run twice (a second VPC), the rest done right in the same terminal",
              step_1_1_twice, breaks=("1.1",)),
    Variation("rerun_1_1_rest_on_the_first_vpc", "Lab 1.1 run twice in another terminal, the rest on the first VPC",
              step_1_1_twice_in_another_terminal, breaks=("1.1",)),
    Variation("labs_4_and_5_before_1_4", "DynamoDB and ElastiCache (4.1, 4.3, 5.1, 5.2) before 1.3-1.5",
              labs_4_and_5_before_the_database),
    Variation("replica_before_multi_az", "the read replica (2.2) created before Multi-AZ was enabled (2.1)",
              replica_before_multi_az),
    Variation("multi_az_at_creation", "the primary created with --multi-az, so 2.1 had nothing to do",
              multi_az_at_creation),
    Variation("stream_at_table_creation", "the orders table created with its stream, so 4.3 had nothing to do",
              stream_at_table_creation),
    Variation("unrelated_resources", "another project's VPC (same CIDR), groups, instance, table, database and cache",
              besides=unrelated_resources),
    Variation("transient_states", "primary backing-up, replica modifying, Redis modifying when graded",
              besides=in_transient_states),
    Variation("grader_cidr_rule", f"the grader's {GRADER_CIDR} let into the bastion's group, declared with --lab-grader-cidr",
              besides=grader_ssh_rule, grade_args=(f"--lab-grader-cidr={GRADER_CIDR}",)),
    Variation("students_own_address", f"SSH from the student's own {STUDENTS_OWN_ADDRESS}/32, graded without --lab-ssh-cidr",
              own_address),
    Variation("extra_tags", "the student's own tags (Owner, Course) on every resource besides the lab's", extra_tags),
    Variation("tags_in_another_case", "Environment=Lab typed environment=lab", tags_in_another_case),
    Variation("private_route_table", "the private subnets on a route table of their own, with no route out",
              private_route_table),
)

"""The lab's resource names and tags: the one place the suite spells them.

Checks find resources by these names (never by handles returned from provisioning), so
the same check grades an account that a student built by hand.
"""

REGION = "us-east-1"
# The lab names its zones us-east-1a and us-east-1b: zones "a" and "b" of its region. Graded in
# another region, the lab's zones are that region's a and b (us-west-2a, us-west-2b): checks ask
# zone(region, letter), never these literals, which are the lab's own region's (provisioning and
# the fault catalogue run there).
ZONE_A, ZONE_B = "a", "b"


def zone(region: str, letter: str) -> str:
    """The lab's zone `letter` in `region`: zone("us-west-2", "b") -> "us-west-2b"."""
    return f"{region}{letter}"


AZ_A = zone(REGION, ZONE_A)
AZ_B = zone(REGION, ZONE_B)

PREFIX = "database-lab"

# Lab 1.1
VPC = "database-lab-vpc"
VPC_CIDR = "10.0.0.0/16"
IGW = "database-lab-igw"
PUBLIC_SUBNET_A = "database-lab-public-a"
PRIVATE_SUBNET_A = "database-lab-private-a"
PRIVATE_SUBNET_B = "database-lab-private-b"
SUBNETS = {
    # name: (cidr, its zone in the lab's own region; subnet_zone(name, region) in any region)
    PUBLIC_SUBNET_A: ("10.0.1.0/24", AZ_A),
    PRIVATE_SUBNET_A: ("10.0.2.0/24", AZ_A),
    PRIVATE_SUBNET_B: ("10.0.3.0/24", AZ_B),
}
PRIVATE_SUBNETS = (PRIVATE_SUBNET_A, PRIVATE_SUBNET_B)
SUBNET_ZONES = {PUBLIC_SUBNET_A: ZONE_A, PRIVATE_SUBNET_A: ZONE_A, PRIVATE_SUBNET_B: ZONE_B}


def subnet_zone(name: str, region: str = REGION) -> str:
    """The zone the lab puts subnet `name` in, in `region`."""
    return zone(region, SUBNET_ZONES[name])
PUBLIC_ROUTE_TABLE = "database-lab-public-rt"

# Lab 1.2
EC2_SG = "database-lab-ec2-sg"
RDS_SG = "database-lab-rds-sg"
CACHE_SG = "database-lab-cache-sg"
SECURITY_GROUPS = (EC2_SG, RDS_SG, CACHE_SG)
MYSQL_PORT = 3306
REDIS_PORT = 6379
SSH_PORT = 22

# Lab 1.3 / 1.4 / 2.x
DB_SUBNET_GROUP = "database-lab-subnet-group"
DB_INSTANCE = "database-lab-mysql"
DB_REPLICA = "database-lab-mysql-replica"
DB_INSTANCE_CLASS = "db.t3.micro"
DB_ENGINE = "mysql"
DB_ENGINE_VERSION = "8.0"
DB_STORAGE_GB = 20
DB_STORAGE_TYPE = "gp2"
DB_BACKUP_RETENTION_DAYS = 7
DB_NAME = "labdb"
DB_MASTER_USER = "admin"
REPLICA_ZONE = ZONE_B  # Lab 2.2: --availability-zone us-east-1b
REPLICA_AZ = zone(REGION, REPLICA_ZONE)

# Labs 3.1, 4.2 and 5.3: the files the lab has the student write, by the step that runs them.
APP_FILES = {"3.1": "app.py", "4.2": "dynamodb_app.py", "5.3": "cache_app.py"}

# Lab 1.5
KEY_PAIR = "database-lab-key"
BASTION = "database-lab-bastion"
BASTION_INSTANCE_TYPE = "t3.micro"
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-x86_64-gp2"

# Lab 4
ORDERS_TABLE = "database-lab-orders"
STATUS_INDEX = "status-index"

# Lab 5
CACHE_SUBNET_GROUP = "database-lab-cache-subnet"
REPLICATION_GROUP = "database-lab-redis"
CACHE_NODE_TYPE = "cache.t3.micro"
CACHE_ENGINE = "redis"
CACHE_ENGINE_VERSION = "7.0"
CACHE_NODES = 2

# Tags. The lab itself tags RDS and DynamoDB with Environment=Lab and EC2 resources with
# Name; provisioning adds both everywhere plus the managed-by tag the sweeper looks for.
LAB_TAG = ("Environment", "Lab")
MANAGED_TAG_KEY = "dblab:managed-by"
MANAGED_TAG_VALUE = "dblab"
RUN_TAG_KEY = "dblab:run-id"


def lab_tags(run_id: str, name: str | None = None) -> list[dict]:
    """Tags that every resource provisioning creates carries, in the AWS list form."""
    tags = [
        {"Key": LAB_TAG[0], "Value": LAB_TAG[1]},
        {"Key": MANAGED_TAG_KEY, "Value": MANAGED_TAG_VALUE},
        {"Key": RUN_TAG_KEY, "Value": run_id},
    ]
    if name:
        tags.append({"Key": "Name", "Value": name})
    return tags


def tag_value(tags: list[dict] | None, key: str) -> str | None:
    for tag in tags or ():
        if tag.get("Key") == key:
            return tag.get("Value")
    return None


def lab_tag_value(tags: list[dict] | None) -> str | None:
    """The value of the lab's Environment tag, its key typed in any case (environment=lab is
    the student's Environment=Lab: a grader reads them alike, although AWS keeps them apart)."""
    key = LAB_TAG[0].casefold()
    for tag in tags or ():
        if str(tag.get("Key", "")).casefold() == key:
            return tag.get("Value")
    return None


def is_lab_tagged(tags: list[dict] | None) -> bool:
    value = lab_tag_value(tags)
    return value is not None and value.casefold() == LAB_TAG[1].casefold()


# Scratch data: rows, keys, customers and tables the checks and benchmarks write while exercising
# the lab's apps. Never the lab's own names, so the lab's data is told apart and a leftover of a
# killed run can be found and removed by prefix.
SCRATCH_PREFIX = "dblab-"
CHECK_SCRATCH = SCRATCH_PREFIX + "check-"  # writes_data checks
BENCH_SCRATCH = SCRATCH_PREFIX + "bench-"  # Lab 6 benchmarks


# Submitted code (issue 13): each submission graded in the local lab has a database, a Redis
# database and an orders table of its own, by its place in the class (0, 1, ...). Redis database 0
# is the lab's; the local Redis has SUBMISSION_REDIS_DATABASES.
CODE_SCRATCH = SCRATCH_PREFIX + "code-"
SUBMISSION_REDIS_DATABASES = 1024


def submission_database(index: int) -> str:
    return f"{DB_NAME}_code_{index}"


def submission_redis_db(index: int) -> int:
    return 1 + index % (SUBMISSION_REDIS_DATABASES - 1)


def submission_orders_table(index: int) -> str:
    return f"{CODE_SCRATCH}{index}-orders"


def scratch_name(kind: str, prefix: str = CHECK_SCRATCH) -> str:
    """A unique name for scratch data of one kind: dblab-check-<kind>-<12 hex>."""
    import uuid

    return f"{prefix}{kind}-{uuid.uuid4().hex[:12]}"

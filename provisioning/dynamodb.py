"""Lab 4: the orders table with its status index (4.1), the lab's app (4.2), Streams (4.3);
and its cleanup (7.2).

Everything is found by the table's name, through the same look-ups the checks use
(lookups/dynamodb.py), so a re-run adopts the table, an earlier run's data and its stream
instead of duplicating them.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from lookups.dynamodb import describe_table, read_stream_records, record_customer

from . import naming
from .apps.orders import LAB_CUSTOMERS, LAB_ORDERS, PENDING, SHIPPED, OrderRepository, products, run_lab_app
from .context import ProvisionContext
from .errors import error_code
from .polling import Progress, wait_until

TABLE = naming.ORDERS_TABLE
STREAM_VIEW_TYPE = "NEW_AND_OLD_IMAGES"
# 4.3 makes the app's changes again on this customer once the stream is on (the lab enables
# the stream after running the app, so its stream would hold nothing).
STREAM_CUSTOMER = "CUST-STREAM"
STREAM_EVENTS = ("INSERT", "MODIFY", "REMOVE")


def table_spec(run_id: str) -> dict:
    """Lab 4.1's create-table, as CreateTable arguments."""
    return dict(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "customer_id", "AttributeType": "S"},
            {"AttributeName": "order_date", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "customer_id", "KeyType": "HASH"},
            {"AttributeName": "order_date", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": naming.STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "order_date", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        Tags=naming.lab_tags(run_id, TABLE),
    )


def _active(client, progress=lambda state: state) -> dict | None:
    table = describe_table(client)
    if table is None or progress(table["TableStatus"]) != "ACTIVE":
        return None
    # An index added later backfills while the table is already ACTIVE.
    if any(index.get("IndexStatus", "ACTIVE") != "ACTIVE" for index in table.get("GlobalSecondaryIndexes", ())):
        return None
    return table


def wait_table_active(client, timeout: float, log=None) -> dict:
    progress = Progress(log, f"DynamoDB table {TABLE}")
    return wait_until(lambda: _active(client, progress), timeout=timeout, what=f"DynamoDB table {TABLE} ACTIVE").value


def _differences(existing: dict, spec: dict) -> list[str]:
    """Where an adopted table differs from Lab 4.1 in its keys or indexes (they cannot be changed in place)."""
    found = []
    if existing["KeySchema"] != spec["KeySchema"]:
        found.append(f"key schema {existing['KeySchema']} is not the lab's")
    indexes = sorted(i["IndexName"] for i in existing.get("GlobalSecondaryIndexes") or ())
    if indexes != [naming.STATUS_INDEX]:
        found.append(f"global secondary indexes {indexes}, the lab has [{naming.STATUS_INDEX!r}]")
    return found


def orders_table(ctx: ProvisionContext):
    return ctx.clients.resource("dynamodb").Table(TABLE)


# --- 4.1 -------------------------------------------------------------------------------------

def create_orders_table(ctx: ProvisionContext) -> dict:
    client = ctx.clients("dynamodb")
    existing = describe_table(client)
    if existing is not None and existing["TableStatus"] == "DELETING":
        # A teardown in flight: let it finish, then create afresh.
        wait_until(lambda: describe_table(client) is None, timeout=ctx.timeout, what=f"{TABLE} deleted")
        existing = None
    if existing is None:
        client.create_table(**table_spec(ctx.run_id))
        ctx.log(f"DynamoDB table {TABLE}: created")
    else:
        ctx.log(f"DynamoDB table {TABLE}: exists ({existing['TableStatus']}), adopted")
        for difference in _differences(existing, table_spec(ctx.run_id)):
            ctx.log(f"DynamoDB table {TABLE}: {difference} (adopted as is; the 4.1 checks will say so)")
    return wait_table_active(client, ctx.timeout, ctx.log)


# --- 4.2 -------------------------------------------------------------------------------------

def lab_app_has_run(repo: OrderRepository) -> bool:
    """The end state of the lab's main(): CUST-001's first order shipped, its second pending, CUST-002's gone."""
    first, second = (products(data) for data in LAB_ORDERS[:2])
    cust1 = repo.get_customer_orders("CUST-001")
    shipped = [o for o in cust1 if products(o) == first]
    pending = [o for o in cust1 if products(o) == second]
    return (
        bool(shipped) and all(o.get("status") == SHIPPED for o in shipped)
        and bool(pending) and all(o.get("status") == PENDING for o in pending)
        and not repo.get_customer_orders("CUST-002")
    )


def run_orders_app(ctx: ProvisionContext):
    """Run the lab's main() once. A re-run adopts its end state; a half-done earlier run is
    cleared first, because main() is not idempotent (each run adds two orders for CUST-001)."""
    repo = OrderRepository(orders_table(ctx))
    if lab_app_has_run(repo):
        ctx.log(f"lab 4.2 app: {TABLE} already holds the app's end state, adopted")
        return None
    leftovers = [o for customer in LAB_CUSTOMERS for o in repo.get_customer_orders(customer)]
    if leftovers:
        ctx.log(f"lab 4.2 app: clearing {len(leftovers)} order(s) of an unfinished earlier run")
        for order in leftovers:
            repo.delete_order(order["customer_id"], order["order_date"])
    return run_lab_app(repo.table, log=ctx.log, repository=repo)


# --- 4.3 -------------------------------------------------------------------------------------

def _stream_status(streams, arn: str) -> str | None:
    return streams.describe_stream(StreamArn=arn)["StreamDescription"]["StreamStatus"]


def _set_stream(client, enabled: bool) -> None:
    spec = {"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE} if enabled else {"StreamEnabled": False}
    client.update_table(TableName=TABLE, StreamSpecification=spec)


def enable_stream(ctx: ProvisionContext) -> str:
    """Lab 4.3, then the app's changes again so the stream holds an INSERT, a MODIFY and a REMOVE."""
    client = ctx.clients("dynamodb")
    table = wait_table_active(client, ctx.timeout, ctx.log)
    spec = table.get("StreamSpecification") or {}
    if spec.get("StreamEnabled") and spec.get("StreamViewType") == STREAM_VIEW_TYPE:
        ctx.log(f"{TABLE}: stream already on with {STREAM_VIEW_TYPE}, adopted")
    else:
        if spec.get("StreamEnabled"):
            if ctx.emulated:
                # moto 5.2.5 refuses to enable a stream on a table that ever had one
                # ("Cannot enable stream"), where AWS creates a new stream.
                raise RuntimeError(f"{TABLE}: stream view type is {spec.get('StreamViewType')}, and the emulator "
                                   "cannot replace a stream; delete the table (7.2) and rerun")
            # AWS refuses to change the view type of an enabled stream: switch it off first.
            ctx.log(f"{TABLE}: stream has view type {spec.get('StreamViewType')}, replacing it")
            _set_stream(client, enabled=False)
            wait_table_active(client, ctx.timeout, ctx.log)
        _set_stream(client, enabled=True)
        ctx.log(f"{TABLE}: stream enabled with {STREAM_VIEW_TYPE}")
        table = wait_table_active(client, ctx.timeout, ctx.log)
    arn = table["LatestStreamArn"]
    streams = ctx.clients("dynamodbstreams")
    # Writes made while the stream is still ENABLING may not be captured.
    wait_until(lambda: _stream_status(streams, arn) == "ENABLED", timeout=ctx.timeout, what=f"stream {arn} ENABLED")
    if stream_holds_changes_of(streams, arn, STREAM_CUSTOMER):
        ctx.log(f"{TABLE}: stream already holds the app's changes for {STREAM_CUSTOMER}")
    else:
        make_stream_changes(OrderRepository(orders_table(ctx)), ctx.log)
    return arn


def make_stream_changes(repo: OrderRepository, log=None) -> None:
    """Create, ship and delete one order: net zero items, three stream records."""
    data = LAB_ORDERS[1]
    order = repo.create_order(STREAM_CUSTOMER, data["items"], data["total"])
    repo.update_status(STREAM_CUSTOMER, order["order_date"], SHIPPED)
    repo.delete_order(STREAM_CUSTOMER, order["order_date"])
    if log is not None:
        log(f"lab 4.3: created, shipped and deleted order {order['order_id'][:8]} of {STREAM_CUSTOMER}")


def stream_holds_changes_of(streams, arn: str, customer_id: str) -> bool:
    events = {r["eventName"] for r in read_stream_records(streams, arn) if record_customer(r) == customer_id}
    return set(STREAM_EVENTS) <= events


# --- 7.2 -------------------------------------------------------------------------------------

def delete_orders_table(ctx: ProvisionContext) -> None:
    client = ctx.clients("dynamodb")
    table = describe_table(client)
    if table is None:
        ctx.log(f"DynamoDB table {TABLE}: not there, nothing to delete")
        return
    if table["TableStatus"] in ("CREATING", "UPDATING"):
        # DeleteTable is refused (ResourceInUseException) until the table settles.
        wait_until(lambda: describe_table(client) is None or _active(client), timeout=ctx.timeout,
                   what=f"{TABLE} settled before deletion")
    if table["TableStatus"] != "DELETING":
        try:
            client.delete_table(TableName=TABLE)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
    wait_until(lambda: describe_table(client) is None, timeout=ctx.timeout, what=f"DynamoDB table {TABLE} deleted")
    ctx.log(f"DynamoDB table {TABLE}: deleted")

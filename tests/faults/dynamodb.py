"""Faults of Lab 4: the orders table (4.1), what the app left and how it behaves (4.2), the
stream (4.3). A table-shaped fault replaces the table; reverting deletes it and runs the
lab's steps 4.1-4.3 again.
"""

from __future__ import annotations

from boto3.dynamodb.conditions import Key

from lookups.dynamodb import describe_table
from provisioning import dynamodb, naming
from provisioning.apps.orders import LAB_ORDERS, PENDING, SHIPPED, OrderRepository, products

from .model import fault

TABLE = naming.ORDERS_TABLE
FIRST, SECOND, LAST = LAB_ORDERS


def _repo(fc) -> OrderRepository:
    return OrderRepository(fc.clients.resource("dynamodb").Table(TABLE))


def _rebuild(fc, change=None, *, app: bool = True, stream: str | None = dynamodb.STREAM_VIEW_TYPE,
             before_stream=None, after_stream=dynamodb.make_stream_changes) -> None:
    """The orders table made again as the lab's steps make it, with one thing different."""
    client = fc.aws("dynamodb")
    client.delete_table(TableName=TABLE)
    fc.undo(fc.reprovision, "4.1", "4.2", "4.3")
    fc.undo(lambda: describe_table(client) and client.delete_table(TableName=TABLE))
    spec = dynamodb.table_spec(fc.run_id)
    if change is not None:
        change(spec)
    client.create_table(**spec)
    ctx = fc.provision_context()
    if app:
        dynamodb.run_orders_app(ctx)
    if before_stream is not None:
        before_stream(_repo(fc))
    if stream:
        client.update_table(TableName=TABLE, StreamSpecification={"StreamEnabled": True, "StreamViewType": stream})
        if after_stream is not None:
            after_stream(_repo(fc))


def _table_only(change, *, app: bool = True):
    # The whole of Lab 4 again on the changed table: a partly wrong 4.1 blocks nothing, so the
    # app's orders and the stream must be there for 4.2 and 4.3 to see what they see on AWS.
    # Without app: the lab's app cannot write into a table keyed another way (it fails as a
    # student's would), so what it should have left is missing, and 4.2's checks see that.
    return lambda fc: _rebuild(fc, change, app=app, after_stream=dynamodb.make_stream_changes if app else None)


# Lab 4.2's checks that need the app's orders or the lab's key to query by date: a table keyed
# otherwise fails them too (the same fault, seen from 4.2 and 4.3: each names the table).
NEEDS_THE_LAB_KEY = ("test_customer_001_has_the_labs_two_orders", "test_customer_001_totals_are_the_labs_decimals",
                     "test_customer_001_first_order_is_shipped_with_updated_at",
                     "test_pending_orders_are_found_through_status_index",
                     "test_query_by_customer_returns_every_order_in_date_order",
                     "test_query_by_customer_from_a_start_date_skips_earlier_orders",
                     "test_batch_write_then_count_sees_every_order",
                     # ...and 4.3's: the stream has no record of an app that could not run.
                     "test_stream_insert_records_carry_the_new_image_only",
                     "test_stream_modify_records_carry_both_images_of_the_status_change",
                     "test_stream_remove_records_carry_the_old_image_only")


def _index(spec) -> dict:
    return spec["GlobalSecondaryIndexes"][0]


# --- 4.1 -----------------------------------------------------------------------------------------

def _hash_only(spec):
    spec["KeySchema"] = spec["KeySchema"][:1]


def _order_date_a_number(spec):
    next(a for a in spec["AttributeDefinitions"] if a["AttributeName"] == "order_date")["AttributeType"] = "N"


def _index_without_range(spec):
    _index(spec)["KeySchema"] = _index(spec)["KeySchema"][:1]


def _keys_only_index(spec):
    _index(spec)["Projection"] = {"ProjectionType": "KEYS_ONLY"}


def _provisioned(spec):
    spec["BillingMode"] = "PROVISIONED"
    spec["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    _index(spec)["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}


def _untagged(spec):
    spec["Tags"] = [t for t in spec["Tags"] if t["Key"] != naming.LAB_TAG[0]]


FAULTS_4_1 = [
    fault("4.1", "no-sort-key", "the table's key is customer_id only (no order_date RANGE key)",
          "test_orders_table_keys_are_customer_id_hash_and_order_date_range", *NEEDS_THE_LAB_KEY,
          breaks=TABLE)(_table_only(_hash_only, app=False)),
    fault("4.1", "order-date-a-number", "order_date is declared a number", "test_orders_key_attributes_are_strings",
          *NEEDS_THE_LAB_KEY, "test_delete_order_returns_the_old_item",
          "test_status_index_query_returns_a_new_pending_order_whole", "test_update_status_returns_all_new_attributes",
          breaks=TABLE)(_table_only(_order_date_a_number, app=False)),
    fault("4.1", "index-without-sort-key", "status-index has no order_date RANGE key",
          "test_status_index_keys_are_status_hash_and_order_date_range",
          breaks=naming.STATUS_INDEX)(_table_only(_index_without_range)),
    fault("4.1", "index-keys-only", "status-index projects KEYS_ONLY, not ALL", "test_status_index_projects_all_attributes",
          "test_pending_orders_are_found_through_status_index",
          "test_status_index_query_returns_a_new_pending_order_whole", breaks=naming.STATUS_INDEX)(
        _table_only(_keys_only_index)),
    fault("4.1", "provisioned-billing", "the table bills PROVISIONED, not PAY_PER_REQUEST",
          "test_orders_table_bills_pay_per_request", breaks="PROVISIONED")(_table_only(_provisioned)),
    fault("4.1", "untagged", "the table lacks the Environment=Lab tag", "test_orders_table_is_tagged_environment_lab",
          breaks="tag Environment")(
        _table_only(_untagged)),
]


# --- 4.2 what the app left -------------------------------------------------------------------------

def _lab_order(fc, customer: str, data: dict) -> dict:
    return next(o for o in _repo(fc).get_customer_orders(customer) if products(o) == products(data))


def _after_rebuild(edit):
    """The table rebuilt as the lab makes it, then one of the lab's orders changed."""
    def apply(fc):
        _rebuild(fc)
        edit(fc, _repo(fc))
    return apply


def _second_order_deleted(fc, repo):
    repo.delete_order("CUST-001", _lab_order(fc, "CUST-001", SECOND)["order_date"])


def _first_order_not_shipped(fc, repo):
    repo.table.update_item(Key={"customer_id": "CUST-001", "order_date": _lab_order(fc, "CUST-001", FIRST)["order_date"]},
                           UpdateExpression="SET #s = :p REMOVE updated_at", ExpressionAttributeNames={"#s": "status"},
                           ExpressionAttributeValues={":p": PENDING})


def _last_order_kept(fc, repo):
    repo.create_order(LAST["customer_id"], LAST["items"], LAST["total"])


def _total_a_string(fc, repo):
    order = _lab_order(fc, "CUST-001", FIRST)
    repo.table.put_item(Item={**order, "total": str(order["total"])})


def _second_order_cancelled(fc, repo):
    order = _lab_order(fc, "CUST-001", SECOND)
    repo.table.put_item(Item={**order, "status": "CANCELLED"})


FAULTS_4_2_STATE = [
    fault("4.2", "second-order-missing", "CUST-001's mouse order is missing",
          "test_customer_001_has_the_labs_two_orders", "test_customer_001_totals_are_the_labs_decimals",
          "test_pending_orders_are_found_through_status_index", "test_dynamodb_status_index_query",
          breaks=("Wireless Mouse", "no PENDING order"))(_after_rebuild(_second_order_deleted)),
    fault("4.2", "first-order-not-shipped", "CUST-001's laptop order is still PENDING, without updated_at",
          "test_customer_001_first_order_is_shipped_with_updated_at",
          breaks="PENDING")(_after_rebuild(_first_order_not_shipped)),
    fault("4.2", "last-order-kept", "CUST-002's order was not deleted", "test_customer_002_order_was_deleted",
          breaks="CUST-002")(
        _after_rebuild(_last_order_kept)),
    fault("4.2", "total-a-string", "a total is stored as the string '1399.97'",
          "test_customer_001_totals_are_the_labs_decimals", breaks="'1399.97'")(_after_rebuild(_total_a_string)),
    fault("4.2", "pending-order-cancelled", "CUST-001's pending order is CANCELLED",
          "test_pending_orders_are_found_through_status_index", "test_dynamodb_status_index_query",
          breaks="PENDING")(_after_rebuild(_second_order_cancelled)),
]


# --- 4.2 the app's behaviour: OrderRepository methods mutated ----------------------------------------

def _newest_first(self, customer_id, start_date=None):
    condition = Key("customer_id").eq(customer_id)
    if start_date:
        condition = condition & Key("order_date").gte(start_date)
    return self._query_all(KeyConditionExpression=condition, ScanIndexForward=False)


def _start_date_ignored(self, customer_id, start_date=None):
    return self._query_all(KeyConditionExpression=Key("customer_id").eq(customer_id))


def _status_query_without_order_id(self, status):
    return [{k: v for k, v in order.items() if k != "order_id"}
            for order in self._query_all(IndexName=naming.STATUS_INDEX, KeyConditionExpression=Key("status").eq(status))]


def _update_returns_changed_only(self, customer_id, order_date, new_status):
    response = self.table.update_item(
        Key={"customer_id": customer_id, "order_date": order_date},
        UpdateExpression="SET #status = :status, updated_at = :updated", ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": new_status, ":updated": "2030-01-01T00:00:00.000000Z"},
        ReturnValues="UPDATED_NEW")
    return response["Attributes"]


def _delete_returns_nothing(self, customer_id, order_date):
    self.table.delete_item(Key={"customer_id": customer_id, "order_date": order_date})
    return None


def _batch_drops_the_last(self, orders):
    with self.table.batch_writer() as batch:
        for order in list(orders)[:-1]:
            batch.put_item(Item=order)


def _mutant(method: str, replacement):
    return lambda fc: fc.patch(OrderRepository, method, replacement)


FAULTS_4_2_BEHAVIOUR = [
    fault("4.2", "query-newest-first", "get_customer_orders returns the newest order first",
          "test_query_by_customer_returns_every_order_in_date_order",
          "test_query_by_customer_from_a_start_date_skips_earlier_orders",
          breaks=("out of order_date order", "wrong orders"))(_mutant("get_customer_orders", _newest_first)),
    fault("4.2", "query-ignores-start-date", "get_customer_orders ignores start_date",
          "test_query_by_customer_from_a_start_date_skips_earlier_orders", breaks="order_date >=")(
        _mutant("get_customer_orders", _start_date_ignored)),
    fault("4.2", "status-query-drops-order-id", "get_orders_by_status leaves out order_id",
          "test_status_index_query_returns_a_new_pending_order_whole", breaks=naming.STATUS_INDEX)(
        _mutant("get_orders_by_status", _status_query_without_order_id)),
    fault("4.2", "update-returns-changed-only", "update_status returns only the changed attributes (UPDATED_NEW)",
          "test_update_status_returns_all_new_attributes",
          breaks="update_status returned")(_mutant("update_status", _update_returns_changed_only)),
    fault("4.2", "delete-returns-nothing", "delete_order does not return the old item",
          "test_delete_order_returns_the_old_item",
          breaks="delete_order returned None")(_mutant("delete_order", _delete_returns_nothing)),
    fault("4.2", "batch-drops-an-order", "batch_write_orders drops the last order",
          "test_batch_write_then_count_sees_every_order",
          breaks="batch write of 3")(_mutant("batch_write_orders", _batch_drops_the_last)),
]


# --- 4.3 -------------------------------------------------------------------------------------------

def _only(*events: str):
    """The app's create-ship-delete on the stream customer; events not wanted happen before the stream."""
    def changes(repo):
        order = repo.create_order(dynamodb.STREAM_CUSTOMER, SECOND["items"], SECOND["total"])
        if "MODIFY" in events:
            repo.update_status(dynamodb.STREAM_CUSTOMER, order["order_date"], SHIPPED)
        if "REMOVE" in events:
            repo.delete_order(dynamodb.STREAM_CUSTOMER, order["order_date"])
    return changes


def _created_before_the_stream(repo):
    repo.create_order(dynamodb.STREAM_CUSTOMER, SECOND["items"], SECOND["total"])


def _ship_and_delete(repo):
    (order,) = repo.get_customer_orders(dynamodb.STREAM_CUSTOMER)
    repo.update_status(dynamodb.STREAM_CUSTOMER, order["order_date"], SHIPPED)
    repo.delete_order(dynamodb.STREAM_CUSTOMER, order["order_date"])


STREAM_CHECKS = ("test_stream_insert_records_carry_the_new_image_only",
                 "test_stream_modify_records_carry_both_images_of_the_status_change",
                 "test_stream_remove_records_carry_the_old_image_only")

FAULTS_4_3 = [
    fault("4.3", "no-stream", "Streams is off", "test_orders_stream_is_enabled",
          "test_orders_stream_view_type_is_new_and_old_images", *STREAM_CHECKS,
          breaks=("Streams is off", "stream view type is None", "no stream"))(lambda fc: _rebuild(fc, stream=None)),
    fault("4.3", "new-image-only", "the stream's view type is NEW_IMAGE", "test_orders_stream_view_type_is_new_and_old_images",
          *STREAM_CHECKS[1:],
          breaks=("NEW_IMAGE", "carry [['NewImage']]", "carry [[]]"))(lambda fc: _rebuild(fc, stream="NEW_IMAGE")),
    fault("4.3", "stream-enabled-after-the-app", "the stream was enabled after the app ran, as the lab orders it",
          *STREAM_CHECKS, breaks="record of the app's changes")(lambda fc: _rebuild(fc, after_stream=None)),
    fault("4.3", "no-insert-record", "the stream holds no INSERT of the app's order",
          STREAM_CHECKS[0],
          breaks="no INSERT record")(lambda fc: _rebuild(fc, before_stream=_created_before_the_stream, after_stream=_ship_and_delete)),
    fault("4.3", "no-modify-record", "the stream holds no MODIFY of the status change",
          STREAM_CHECKS[1],
          breaks="no MODIFY record")(lambda fc: _rebuild(fc, after_stream=_only("INSERT", "REMOVE"))),
    fault("4.3", "no-remove-record", "the stream holds no REMOVE of the deleted order",
          STREAM_CHECKS[2],
          breaks="no REMOVE record")(lambda fc: _rebuild(fc, after_stream=_only("INSERT", "MODIFY"))),
]

FAULTS = FAULTS_4_1 + FAULTS_4_2_STATE + FAULTS_4_2_BEHAVIOUR + FAULTS_4_3

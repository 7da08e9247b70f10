"""Ledger.put_many against a stub DynamoDB that refuses what AWS refuses in a BatchWriteItem."""

from __future__ import annotations

from botocore.exceptions import ClientError

from relay.ledger import Ledger


class StrictDynamo:
    """BatchWriteItem as AWS checks it: at most 25 requests, no two with the same key."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict] = {}
        self.calls = 0

    def batch_write_item(self, RequestItems):  # noqa: N803 - boto3's name
        self.calls += 1
        [(table, requests)] = RequestItems.items()
        keys = [(r["PutRequest"]["Item"]["pk"]["S"], r["PutRequest"]["Item"]["sk"]["S"]) for r in requests]
        if len(requests) > 25 or len(set(keys)) != len(keys):
            raise ClientError(
                {"Error": {"Code": "ValidationException", "Message": "Provided list of item keys contains duplicates"}}, "BatchWriteItem"
            )
        for key, r in zip(keys, requests, strict=True):
            self.items[key] = r["PutRequest"]["Item"]
        return {}


def test_given_two_items_with_one_key_in_one_batch_when_written_then_one_request_carries_the_last():
    # Given the same (pk, sk) twice among other items, as a duplicate S3 notification gives
    ddb = StrictDynamo()
    items = [
        {"pk": "SRC#a", "sk": "SRC", "state": "planning"},
        {"pk": "SRC#b", "sk": "SRC", "state": "planned"},
        {"pk": "SRC#a", "sk": "SRC", "state": "planned"},
    ]
    # When they are written
    Ledger(ddb, "t").put_many(items)
    # Then DynamoDB accepted the request, and the last one for the key is stored
    assert ddb.calls == 1
    assert ddb.items[("SRC#a", "SRC")]["state"] == {"S": "planned"}
    assert set(ddb.items) == {("SRC#a", "SRC"), ("SRC#b", "SRC")}


def test_given_sixty_items_when_written_then_every_request_holds_at_most_25():
    ddb = StrictDynamo()
    written = Ledger(ddb, "t").put_many({"pk": f"P#{i}", "sk": "S"} for i in range(60))
    assert written == 60 and ddb.calls == 3 and len(ddb.items) == 60

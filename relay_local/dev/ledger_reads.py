"""Reads of the PushLog table that only local tools and tests make (never on a request path).

They lived on relay.ledger.Ledger; they are here so that the Lambda bundle carries only what the
functions call. Keys come from relay.ledger_keys, like the ledger's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relay import ledger_keys as keys
from relay.dynamodb import from_item
from relay.ledger import Ledger


def scan_all(ledger: Ledger) -> list[dict[str, Any]]:
    """Every item of the table."""
    return _every_page(ledger.dynamodb.scan, {"TableName": ledger.table})


def job_items(ledger: Ledger, job_id: str) -> list[dict[str, Any]]:
    """A job's push item and all its recipients."""
    return _every_page(
        ledger.dynamodb.query,
        {
            "TableName": ledger.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.push_pk(job_id)}},
        },
    )


def _every_page(call: Callable[..., dict[str, Any]], request: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        resp = call(**request)
        items += [from_item(i) for i in resp.get("Items", [])]
        if "LastEvaluatedKey" not in resp:
            return items
        request["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def number_history(ledger: Ledger, number: str) -> list[dict[str, Any]]:
    """Every recipient item for a number (index ByNumber)."""
    value = keys.number_pk(number)
    return list(ledger.query_index("ByNumber", "number_pk", value)) if value else []


def object_fate(ledger: Ledger, bucket: str, key: str) -> list[dict[str, Any]]:
    """Everything one S3 object became (index ByObject)."""
    return list(ledger.query_index("ByObject", "object_pk", keys.object_pk(bucket, key)))


def by_vendor_id(ledger: Ledger, msg_id: str | None = None, push_id: str | None = None) -> list[dict[str, Any]]:
    """The keys of what the vendor's msg_id (a recipient, a kept event) or push_id (a push) names."""
    value = keys.msg_pk(msg_id) if msg_id is not None else keys.push_id_pk(push_id)
    return list(ledger.query_index("ByVendorId", "vendor_pk", value)) if value else []

"""DynamoDB limits the embedded AWS enforces where moto (5.x) is looser than DynamoDB.

1. **Item size, by DynamoDB's own rules.** "The maximum item size in DynamoDB is 400 KB, which
   includes both attribute name binary length (UTF-8 length) and attribute value lengths", and
   "DynamoDB denotes 1 KB = 1024 bytes" (Developer Guide, Constraints): 409,600 bytes. Sizes per
   "DynamoDB item sizes and formats": strings in UTF-8 bytes; numbers 1 byte per two significant
   digits + 1; binary its raw bytes; null and booleans 1; a list or map 3 bytes + 1 per element +
   its elements (a map's keys count as names). moto counts its own way (numbers as their text,
   no list/map overhead) against 405,000, so it refuses some items DynamoDB takes and takes some it
   refuses; its check is replaced by this one. PutItem, each put of BatchWriteItem and of
   TransactWriteItems: ValidationException "Item size has exceeded the maximum allowed size".
   UpdateItem whose *resulting* item is too large: nothing is changed, ValidationException "Item
   size to update has exceeded the maximum allowed size" (the wording DynamoDB uses for updates,
   listed under TransactionCanceledException in the API reference).
2. **BatchWriteItem is validated whole before anything is written** ("If one or more of the
   following is true, DynamoDB rejects the entire batch write operation", API reference): more than
   25 requests (in one table: "1 validation error detected: Value ... at 'requestItems' failed to
   satisfy constraint: Map value must satisfy constraint: [Member must have length less than or
   equal to 25, ...]"; across tables: "Too many items requested for the BatchWriteItem call"); two
   requests on the same key, puts and deletes together ("Provided list of item keys contains
   duplicates"; moto compared whole items, so two puts of one key with different attributes
   passed); any item over 400 KB (moto wrote the items before the oversized one). The 16 MB cap on
   a request cannot be reached once these hold (25 × 409,600 bytes is under 10 MB), so it needs no
   check of its own.

TransactWriteItems with an oversized item is rolled back whole and answered with the
ValidationException (moto's shape for a validation error in a transaction).
"""

from __future__ import annotations

import base64
import binascii
import copy
import decimal
import json
from typing import Any

#: 400 KB in DynamoDB's binary units.
MAX_ITEM_BYTES = 400 * 1024
MAX_BATCH_WRITE_REQUESTS = 25
ITEM_TOO_LARGE = "Item size has exceeded the maximum allowed size"
UPDATE_TOO_LARGE = "Item size to update has exceeded the maximum allowed size"
DUPLICATE_KEYS = "Provided list of item keys contains duplicates"


def _utf8(text: Any) -> int:
    return len(text) if isinstance(text, (bytes, bytearray)) else len(str(text).encode("utf-8"))


def _number_size(text: str) -> int:
    try:
        digits = decimal.Decimal(str(text)).normalize().as_tuple().digits
    except decimal.InvalidOperation:
        return _utf8(text)
    significant = len(digits) if any(digits) else 1
    return (significant + 1) // 2 + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return _utf8(value)


def value_size(value: Any) -> int:
    """Size of one attribute value, given as DynamoDB JSON ({"S": "..."}) or as moto's DynamoType."""
    if hasattr(value, "type") and hasattr(value, "value"):  # moto's DynamoType
        kind, inner = value.type, value.value
    else:
        ((kind, inner),) = value.items()
    if kind == "S":
        return _utf8(inner)
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return _binary_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_utf8(v) for v in inner)
    if kind == "NS":
        return sum(_number_size(v) for v in inner)
    if kind == "BS":
        return sum(_binary_size(v) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + _utf8(k) + value_size(v) for k, v in inner.items())
    return _utf8(json.dumps(inner, default=str))


def item_size(attributes: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for an item: every attribute's name and value."""
    return sum(_utf8(name) + value_size(value) for name, value in attributes.items())


def install() -> None:
    """Patch moto's DynamoDB backend and handler (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoDBBackend, "__relay_strict__", False):
        return
    # moto's own (differently counted) 405,000-byte check on every attribute set: replaced below
    LimitedSizeDict.__setitem__ = dict.__setitem__  # type: ignore[assignment,method-assign]  # patching moto in place
    _item_size(DynamoDBBackend)
    _batch_write(DynamoHandler)
    _item_level_rollback(DynamoDBBackend)
    DynamoDBBackend.__relay_strict__ = True  # type: ignore[attr-defined]  # our marker: patched once


def _validation(message: str) -> Exception:
    from moto.dynamodb.exceptions import MockValidationException

    return MockValidationException(message)


def _item_size(backend: Any) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    put_item = backend.put_item
    update_item = backend.update_item

    def checked_put_item(self: Any, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if item_size(item_attrs) > MAX_ITEM_BYTES:
            raise _validation(ITEM_TOO_LARGE)
        return put_item(self, table_name, item_attrs, *args, **kwargs)

    def checked_update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        table = self.get_table(table_name)
        try:
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            before = copy.deepcopy(table.get_item(hash_value, range_value))
        except Exception:  # noqa: BLE001 - a malformed key: moto answers it as DynamoDB would
            return update_item(self, table_name, key, *args, **kwargs)
        item = update_item(self, table_name, key, *args, **kwargs)
        if item is not None and item_size(item.attrs) > MAX_ITEM_BYTES:
            if before is None:
                table.delete_item(hash_value, range_value)
            else:
                item.attrs = before.attrs
            raise _validation(UPDATE_TOO_LARGE)
        return item

    backend.put_item = checked_put_item
    backend.update_item = checked_update_item


def _batch_write(handler: Any) -> None:
    batch_write_item = handler.batch_write_item

    def checked_batch_write_item(self: Any) -> Any:
        requests = self.body.get("RequestItems") or {}
        for table_name, table_requests in requests.items():
            if len(table_requests) > MAX_BATCH_WRITE_REQUESTS:
                raise _validation(
                    f"1 validation error detected: Value '{{{table_name}={len(table_requests)} requests}}' at "
                    "'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must "
                    "have length less than or equal to 25, Member must have length greater than or equal to 1]"
                )
        if sum(len(r) for r in requests.values()) > MAX_BATCH_WRITE_REQUESTS:
            raise _validation("Too many items requested for the BatchWriteItem call")
        seen: set[tuple[str, str]] = set()
        for table_name, table_requests in requests.items():
            try:
                table = self.dynamodb_backend.get_table(table_name)
            except Exception:  # noqa: BLE001 - an unknown table: moto answers ResourceNotFoundException
                continue
            names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
            for request in table_requests:
                kind, body = next(iter(request.items()))
                attrs = body.get("Item") if kind == "PutRequest" else body.get("Key")
                if not isinstance(attrs, dict):
                    continue
                if kind == "PutRequest" and item_size(attrs) > MAX_ITEM_BYTES:
                    raise _validation(ITEM_TOO_LARGE)
                key = (table_name, json.dumps([attrs.get(n) for n in names], sort_keys=True))
                if key in seen:
                    raise _validation(DUPLICATE_KEYS)
                seen.add(key)
        return batch_write_item(self)

    handler.batch_write_item = checked_batch_write_item


class _NoTableCopy:
    """moto's DynamoDB module's `copy`: deep copies as usual, except a whole Table (what
    transact_write_items copies to roll back, `_item_level_rollback` does it per item instead)."""

    def __init__(self) -> None:
        from moto.dynamodb.models.table import Table

        self._table = Table

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self._table):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _item_level_rollback(backend: Any) -> None:
    """moto's TransactWriteItems deep-copies every table it names before it starts (to roll back
    on failure): with the ledger at tens of thousands of items that is seconds and gigabytes per
    transaction, where DynamoDB takes milliseconds (`make soak` records thousands of incoming
    messages, one transaction each). Here only the items the transaction names are copied, and
    restored when it is cancelled: the same all-or-nothing outcome, at DynamoDB's cost."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType

    models.copy = _NoTableCopy()  # type: ignore[assignment]  # the module's name for `copy`, replaced in place
    transact_write_items = backend.transact_write_items

    def item_level(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        saved: list[tuple[Any, Any, Any, Any]] = []
        for entry in transact_items:
            try:
                _kind, op = next(iter(entry.items()))
                table = self.tables[op["TableName"]]
                attrs = op.get("Key") or op["Item"]
                hash_value = DynamoType(attrs[table.hash_key_attr])
                range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            except Exception:  # noqa: BLE001 - a malformed operation: moto refuses it before any write
                continue
            saved.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
        try:
            return transact_write_items(self, transact_items)
        except Exception:
            for table, hash_value, range_value, before in reversed(saved):
                if before is None:
                    table.delete_item(hash_value, range_value)
                elif range_value is not None:
                    table.items[hash_value][range_value] = before
                else:
                    table.items[hash_value] = before
            raise

    backend.transact_write_items = item_level

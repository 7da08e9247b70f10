"""DynamoDB's wire format and its one expected error, for the ledger and the rate limiter.

`to_item`/`from_item` convert plain values to and from attribute values (a small subset of
boto3's TypeSerializer: no Decimal, no sets; integers read back as int, the rest as float).
`conditional` runs a conditional write and answers None when its condition does not hold: the
only place `ConditionalCheckFailedException` is named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

CONDITION_FAILED = "ConditionalCheckFailedException"


def conditional(write: Callable[..., T], **request: Any) -> T | None:
    """`write(**request)`, or None when DynamoDB refused it because its condition does not hold."""
    try:
        return write(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == CONDITION_FAILED:
            return None
        raise


def attr(value: Any) -> dict[str, Any]:
    """One plain value as a DynamoDB attribute value (None inside a map is left out)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value) if isinstance(value, float) else str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [attr(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: attr(v) for k, v in value.items() if v is not None}}
    raise TypeError(f"cannot store {type(value).__name__}")


def to_item(plain: dict[str, Any]) -> dict[str, Any]:
    """An item to write: None and "" fields are left out (DynamoDB keys may not be empty)."""
    return {k: attr(v) for k, v in plain.items() if v is not None and v != ""}


def _value(attribute: dict[str, Any]) -> Any:
    ((kind, raw),) = attribute.items()
    if kind == "N":
        return int(raw) if raw.lstrip("-").isdigit() else float(raw)
    if kind == "L":
        return [_value(v) for v in raw]
    if kind == "M":
        return {k: _value(v) for k, v in raw.items()}
    if kind == "NULL":
        return None
    return raw  # S, BOOL, and anything else as it came


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def assignments(fields: dict[str, Any], tag: str = "f") -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """`#f0 = :f0`, … for an UpdateExpression's SET, with their names and values."""
    sets, names, values = [], {}, {}
    for i, (name, value) in enumerate(fields.items()):
        names[f"#{tag}{i}"] = name
        values[f":{tag}{i}"] = attr(value)
        sets.append(f"#{tag}{i} = :{tag}{i}")
    return sets, names, values


def one_of(name: str, options: list[Any], tag: str) -> tuple[str, dict[str, Any]]:
    """`<name> IN (:a0, :a1 …)` for a ConditionExpression, with its values."""
    values = {f":{tag}{i}": attr(option) for i, option in enumerate(options)}
    return f"{name} IN ({', '.join(values)})", values

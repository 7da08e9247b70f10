"""Lambda's payload limits for synchronous invocations (API Gateway → Lambda, the SQS poller).

"Invocation payload (request and response): 6 MB each for synchronous" (Lambda quotas). Lambda
refuses a larger event before the function runs (RequestEntityTooLargeException, "<n> byte payload
is too large for the RequestResponse invocation type (limit 6291456 bytes)"; API Gateway answers
the caller 413 {"message": "Request Too Long"}), and fails an invocation whose result is larger
after the function ran, its side effects done ("Response payload size exceeded maximum allowed
payload size (6291556 bytes).", errorType Function.ResponseSizeTooLarge; API Gateway answers 502).
The SQS event source mapping never builds a batch over the limit: it invokes with fewer records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

MAX_REQUEST_BYTES = 6_291_456
#: Lambda's response limit is 100 bytes above the request's (6 MiB + 100), as its error says.
MAX_RESPONSE_BYTES = 6_291_556


class RequestEntityTooLarge(Exception):
    """The event is over Lambda's synchronous request limit: the function did not run."""

    error_type = "RequestEntityTooLargeException"


class ResponseSizeTooLarge(Exception):
    """The function ran, but its result is over Lambda's response limit: the caller gets an error."""

    error_type = "Function.ResponseSizeTooLarge"


def payload_bytes(payload: Any) -> int:
    """The JSON Lambda would carry: compact, UTF-8."""
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8"))


def within_request(items: list[T], record_of: Callable[[T], Any]) -> list[list[T]]:
    """`items` cut into consecutive batches whose events (`{"Records": [record_of(item), …]}`) stay
    within MAX_REQUEST_BYTES, as an event source mapping does ("invokes with fewer records" rather
    than over the payload limit). One record over the limit on its own is a batch of its own (the
    invocation then fails with RequestEntityTooLarge, as on AWS)."""
    out: list[list[T]] = [[]]
    size = empty = payload_bytes({"Records": []})
    for item in items:
        record = payload_bytes(record_of(item)) + 1  # and its comma
        if out[-1] and size + record > MAX_REQUEST_BYTES:
            out.append([])
            size = empty
        out[-1].append(item)
        size += record
    return [b for b in out if b]


def check_request(event: Any) -> None:
    size = payload_bytes(event)
    if size > MAX_REQUEST_BYTES:
        raise RequestEntityTooLarge(
            f"{size} byte payload is too large for the RequestResponse invocation type (limit {MAX_REQUEST_BYTES} bytes)"
        )


def check_response(result: Any) -> None:
    if payload_bytes(result) > MAX_RESPONSE_BYTES:
        raise ResponseSizeTooLarge(f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).")

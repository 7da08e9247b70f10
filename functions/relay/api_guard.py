"""What the API refuses before routing: events that are not API Gateway REST (v1) proxy events,
bodies that cannot be decoded, oversized bodies, bad signatures (POST /pushes and GET /pushes/{id}),
bodies that are not UTF-8 JSON text (POST /hooks/{route}: only the size; its route verifies the
sender's own signature before reading the body). Checked on the raw event so an unsigned caller learns nothing
from validation, and before Powertools' resolver (which needs `httpMethod`)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from relay.api_models import MAX_BODY_BYTES
from relay.signing import status_payload, verify

#: the vendor's delivery reports and incoming messages are small; anything larger is not one
MAX_EVENT_BYTES = 256 * 1024
#: third-party webhooks (POST /hooks/{route}): 1 MiB. Stripe and Standard Webhooks events are a few
#: KB, but a Shopify order with many line items or a GitHub event can run to hundreds of KB, and
#: refusing one is final for the sender (a retry brings the same body). Still far below API Gateway's
#: 10 MB and Lambda's 6 MB, and small enough to verify, parse and map within the senders' 5-10 s.
MAX_HOOK_BYTES = 1024 * 1024
HOOKS = "/hooks/{route}"
REST_ONLY = (
    "ApiFunction takes API Gateway REST API (v1) proxy events, as template.yaml wires it; this is {kind}. "
    "Put it behind the stack's REST API (ApiUrl) instead."
)


class UndecodableBody(ValueError):
    """isBase64Encoded is true but the body is not base64."""


def raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise UndecodableBody("body is marked isBase64Encoded but is not valid base64") from None
    return body.encode("utf-8", "surrogatepass")


def _answer(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"message": message})}


def foreign_event(event: Any) -> dict[str, Any] | None:
    """For an event that is not a REST (v1) proxy event: a 400 in the shape its caller reads.

    HTTP API (payload 2.0) and Function URL callers read `{statusCode, headers, body}`; VPC Lattice
    reads the same plus `statusDescription` and `isBase64Encoded`. Anything else (an S3, SQS or test
    event invoked directly) gets the same 400 answer, never a traceback."""
    if isinstance(event, dict) and isinstance(event.get("httpMethod"), str):
        return None
    event = event if isinstance(event, dict) else {}
    context = event.get("requestContext") if isinstance(event.get("requestContext"), dict) else {}
    if "raw_path" in event or ("method" in event and ("path" in event or "serviceArn" in context)):
        answer = _answer(400, REST_ONLY.format(kind="a VPC Lattice event"))
        return {**answer, "isBase64Encoded": False, "statusDescription": "400 Bad Request"}
    if event.get("version") == "2.0" or isinstance(context.get("http"), dict):
        domain = str(context.get("domainName") or "")
        kind = "a Lambda Function URL event" if ".lambda-url." in domain else "an HTTP API (payload format 2.0) or Function URL event"
        return _answer(400, REST_ONLY.format(kind=kind))
    return _answer(400, REST_ONLY.format(kind="not an HTTP request event (no httpMethod)"))


def _content_type(event: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return (headers.get("content-type") or "").split(";")[0].strip().lower()


def json_text_problem(raw: bytes) -> str | None:
    """None when the body is UTF-8 text whose JSON strings are all real Unicode."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8 text"
    try:
        value = json.loads(text)
    except RecursionError:
        return "body nests too deep"
    except ValueError:
        return None  # not JSON at all: validation answers that, naming the body
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return "body has text that is not valid Unicode (a lone surrogate \\ud800-\\udfff), or nests too deep"
    return None


def refuse(event: Any, signing_secret: Callable[[], str]) -> dict[str, Any] | None:
    """An answer for a request refused before routing, or None to route it."""
    foreign = foreign_event(event)
    if foreign is not None:
        return foreign
    method, resource = event.get("httpMethod"), event.get("resource")
    headers = event.get("headers") or {}
    try:
        raw = raw_body(event)
    except UndecodableBody as exc:
        return _answer(400, str(exc))
    if method == "GET" and resource == "/pushes/{id}":
        push_id = str((event.get("pathParameters") or {}).get("id") or "")
        return None if verify(signing_secret(), headers, status_payload(push_id)) else _answer(401, "Unauthorized")
    if method != "POST" or resource not in ("/pushes", "/events/{secret}", "/inbound/{secret}", HOOKS):
        return None
    limit = {"/pushes": MAX_BODY_BYTES, HOOKS: MAX_HOOK_BYTES}.get(resource, MAX_EVENT_BYTES)
    if len(raw) > limit:
        return _answer(413, f"body is over {limit} bytes")
    if resource == HOOKS:
        return None  # the route verifies the sender's signature first, then reads the body (relay.hook_intake)
    if resource == "/pushes":
        if not verify(signing_secret(), headers, raw):
            return _answer(401, "Unauthorized")
        if _content_type(event) not in ("", "application/json"):
            return _answer(415, "send the body as application/json")
    problem = json_text_problem(raw)
    return _answer(422, problem) if problem else None

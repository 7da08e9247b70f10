"""What the API refuses before routing: oversized bodies, bad signatures, bodies that are not
UTF-8 JSON text. Checked on the raw event so an unsigned caller learns nothing from validation."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from relay.api_models import MAX_BODY_BYTES
from relay.signing import verify

#: the vendor's delivery reports are small; anything larger is not one
MAX_EVENT_BYTES = 256 * 1024


def raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8", "surrogatepass")


def _answer(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"message": message})}


def _content_type(event: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return (headers.get("content-type") or "").split(";")[0].strip().lower()


def _json_text_problem(raw: bytes) -> str | None:
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


def refuse(event: dict[str, Any], signing_secret: Callable[[], str]) -> dict[str, Any] | None:
    """An API Gateway answer for a request refused before routing, or None to route it."""
    method, resource = event.get("httpMethod"), event.get("resource")
    if method != "POST" or resource not in ("/pushes", "/events/{secret}"):
        return None
    raw = raw_body(event)
    limit = MAX_BODY_BYTES if resource == "/pushes" else MAX_EVENT_BYTES
    if len(raw) > limit:
        return _answer(413, f"body is over {limit} bytes")
    if resource == "/pushes":
        if not verify(signing_secret(), event.get("headers") or {}, raw):
            return _answer(401, "Unauthorized")
        if _content_type(event) not in ("", "application/json"):
            return _answer(415, "send the body as application/json")
    problem = _json_text_problem(raw)
    return _answer(422, problem) if problem else None

"""`relay sign-hook`: a third-party webhook delivery for `POST /hooks/<route>`, signed now the way its
sender signs (the route's `verify.scheme`), since timestamped signatures go stale in 5 minutes.

Input is an API Gateway REST proxy event (events/hook-*.json: re-signed, everything else kept) or a
raw body (built into such an event). The body is never re-serialised: the signature is over its bytes
as they are. The delivery id is kept (a second arrival of one delivery is answered as a duplicate,
which is the point); a header delivery id missing from the input is made up. Secrets: the route's
local one (relay_local.dev.hooks_local) unless given.

| scheme            | headers set                                                   | signed bytes              |
| ----------------- | ------------------------------------------------------------- | ------------------------- |
| stripe            | Stripe-Signature: t=<now>,v1=<hex>                             | `<t>.<body>`              |
| standard-webhooks | webhook-id, webhook-timestamp, webhook-signature: v1,<base64>  | `<id>.<t>.<body>` (package) |
| shopify           | X-Shopify-Hmac-Sha256: <base64>                                | body                      |
| github            | X-Hub-Signature-256: sha256=<hex>                              | body                      |
| hmac-sha256       | the route's header (prefix, hex/base64; timestamp header)      | body or `<t>.<body>`      |
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import shlex
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay.hook_models import Route

#: headers API Gateway or the network adds; a curl command leaves them out
GATEWAY_HEADERS = {"host", "via", "x-amz-cf-id", "x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "content-length"}
#: what each sender puts beside its signature in a real delivery (made when building from a raw body)
SENDER_HEADERS = {
    "stripe": {"User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"},
    "shopify": {"User-Agent": "Shopify-Captain-Hook"},
    "github": {"User-Agent": "GitHub-Hookshot/local"},
}


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def signature_headers(route: Route, secret: str, body: bytes, now: int, delivery_id: str | None = None) -> dict[str, str]:
    """The headers that sign `body` for `route`'s scheme at unix time `now` with `secret` (its first
    line: a rotated secret lists the new one first). `delivery_id`: Standard Webhooks' webhook-id."""
    secret = secret.strip().splitlines()[0].strip()
    scheme = route.verify.scheme
    if scheme == "stripe":
        return {"Stripe-Signature": f"t={now},v1={_hmac(secret.encode(), f'{now}.'.encode() + body).hex()}"}
    if scheme == "standard-webhooks":
        from standardwebhooks.webhooks import Webhook

        msg_id = delivery_id or f"msg_{uuid.uuid4().hex}"
        signed = Webhook(secret).sign(msg_id, datetime.fromtimestamp(now, tz=UTC), body.decode("utf-8"))
        return {"webhook-id": msg_id, "webhook-timestamp": str(now), "webhook-signature": signed}
    if scheme == "shopify":
        return {"X-Shopify-Hmac-Sha256": base64.b64encode(_hmac(secret.encode(), body)).decode()}
    if scheme == "github":
        return {"X-Hub-Signature-256": "sha256=" + _hmac(secret.encode(), body).hex()}
    spec = route.verify.hmac
    if spec is None:
        raise ValueError("the route's verify.scheme is hmac-sha256 but it has no verify.hmac")
    headers: dict[str, str] = {}
    signed_bytes = body
    if spec.signed == "timestamp.body":
        if not spec.timestamp_header:
            raise ValueError("the route signs timestamp.body but names no verify.hmac.timestamp_header")
        headers[spec.timestamp_header] = str(now)
        signed_bytes = f"{now}.".encode() + body
    digest = _hmac(secret.encode(), signed_bytes)
    headers[spec.header] = spec.prefix + (digest.hex() if spec.encoding == "hex" else base64.b64encode(digest).decode())
    return headers


#: the headers each fixed scheme sets (lower case): an event's old values are dropped
SCHEME_HEADERS = {
    "stripe": {"stripe-signature"},
    "standard-webhooks": {"webhook-id", "webhook-timestamp", "webhook-signature"},
    "shopify": {"x-shopify-hmac-sha256"},
    "github": {"x-hub-signature-256"},
}


def _replaced_names(route: Route) -> set[str]:
    """Lower-case names of the headers signing sets for this route (old values are dropped)."""
    names = set(SCHEME_HEADERS.get(route.verify.scheme, set()))
    spec = route.verify.hmac
    if spec is not None:
        names |= {spec.header.lower()} | ({spec.timestamp_header.lower()} if spec.timestamp_header else set())
    return names


def _get(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def body_bytes(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode("utf-8")


def build_event(route_name: str, body: bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway REST proxy event for `POST /hooks/<route_name>` carrying `body` as sent."""
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    all_headers = {"Host": "1234567890.execute-api.us-east-1.amazonaws.com", "Content-Type": "application/json", **(headers or {})}
    return {
        "body": text,
        "resource": "/hooks/{route}",
        "path": f"/hooks/{route_name}",
        "httpMethod": "POST",
        "isBase64Encoded": encoded,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"route": route_name},
        "stageVariables": None,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "123456",
            "stage": "Prod",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": all_headers.get("User-Agent")},
            "path": f"/Prod/hooks/{route_name}",
            "resourcePath": "/hooks/{route}",
            "httpMethod": "POST",
            "apiId": "1234567890",
            "protocol": "HTTP/1.1",
        },
    }


def resign_hook(
    event: dict[str, Any], route_name: str, route: Route, secret: str, now: int | None = None, extra_headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """`event` (a hook event, or {"body": …} alone) signed afresh for `route`: its old signature
    headers replaced, its body and every other header kept; `extra_headers` added (replacing ones of
    the same name, any case). A header delivery id it lacks is made up (a fresh uuid)."""
    now = int(time.time()) if now is None else now
    body = body_bytes(event)
    if "httpMethod" not in event:
        event = build_event(route_name, body, SENDER_HEADERS.get(route.verify.scheme))
    event = copy.deepcopy(event)
    extra = extra_headers or {}
    drop = _replaced_names(route) | {k.lower() for k in extra}
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() not in drop}
    headers.update(extra)
    msg_id = None
    if route.verify.scheme == "standard-webhooks":  # its signature covers webhook-id: keep the event's
        msg_id = _get(extra, "webhook-id") or _get(event.get("headers") or {}, "webhook-id") or f"msg_{uuid.uuid4().hex}"
    id_header = route.delivery_id.header
    if id_header and not _get(headers, id_header) and not (msg_id and id_header.lower() == "webhook-id"):
        headers[id_header] = str(uuid.uuid4())
    headers.update(signature_headers(route, secret, body, now, msg_id))
    path = {**(event.get("pathParameters") or {}), "route": route_name}
    return {
        **event,
        "path": f"/hooks/{route_name}",
        "pathParameters": path,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
    }


def curl_command(event: dict[str, Any], url: str, body_file: Path) -> str:
    """A curl command that sends `event` to `url` as its sender would: its headers (not the gateway's)
    and its body, byte for byte, from `body_file` (written here)."""
    body_file.write_bytes(body_bytes(event))
    parts = ["curl", "-sS", "-X", "POST", url]
    for name, value in (event.get("headers") or {}).items():
        if name.lower() not in GATEWAY_HEADERS:
            parts += ["-H", f"{name}: {value}"]
    parts += ["--data-binary", f"@{body_file}"]
    return " ".join(shlex.quote(p) for p in parts)


def read_input(path: Path) -> dict[str, Any]:
    """A hook event file, or a raw body file (anything that is not an API Gateway event) as {"body"}."""
    raw = path.read_bytes()
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("httpMethod"), str):
        return doc
    try:
        return {"body": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(raw).decode(), "isBase64Encoded": True}

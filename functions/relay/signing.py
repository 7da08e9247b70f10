"""Request signatures for the HTTP API (README, "Signing requests").

    X-Relay-Timestamp: <unix seconds>
    X-Relay-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<signed payload>")>

The signed payload is
- for `POST /pushes`: the raw body, byte for byte as sent;
- for `GET /pushes/{id}`: the ASCII line `GET /pushes/<id>` (no body, no query, no stage or base
  path), so a signature read off one status call cannot be used for another push id. A JSON body
  never starts with `GET `, so a GET signature is never a valid POST signature either.

Anything missing, malformed, stale (more than MAX_SKEW_SECONDS away from now) or wrong is
refused, with one answer for all, compared in constant time. A valid POST signature is accepted
once: the API keeps its first answer (Powertools idempotency, keyed on the signature when the
caller sends no Idempotency-Key), so a replay within the window plans nothing new.
"""

from __future__ import annotations

import hashlib
import hmac
import time

MAX_SKEW_SECONDS = 300
TIMESTAMP_HEADER = "X-Relay-Timestamp"
SIGNATURE_HEADER = "X-Relay-Signature"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def status_payload(push_id: str) -> bytes:
    """What a `GET /pushes/{id}` signs in place of a body."""
    return b"GET /pushes/" + push_id.encode("utf-8", "surrogatepass")


def sign(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers a caller sends with `body` (POST), or with `status_payload(id)` (GET)."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def sign_status(secret: str, push_id: str, now: float | None = None) -> dict[str, str]:
    """The headers a caller sends with `GET /pushes/<push_id>`."""
    return sign(secret, status_payload(push_id), now)


def given_signature(headers: dict[str, str] | None) -> str:
    """The X-Relay-Signature header as sent ('' when absent)."""
    return next((v for k, v in (headers or {}).items() if k.lower() == SIGNATURE_HEADER.lower()), "") or ""


def verify(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> bool:
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "") or ""
    given = lower.get(SIGNATURE_HEADER.lower(), "") or ""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    expected = signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))

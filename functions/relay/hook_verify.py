"""Who sent a delivery to POST /hooks/{route}: each sender's own signature over the RAW body.

Schemes (README, "Webhooks from other services"):
- `standard-webhooks`: the `standardwebhooks` package (`webhook-id`, `webhook-timestamp`,
  `webhook-signature: v1,<base64> …`, the secret `whsec_<base64>`), 5-minute tolerance.
- `stripe`: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`, HMAC-SHA256 of `<t>.<raw body>` keyed with
  the secret string as it is (`whsec_…` included); every v1 is tried, v0 ignored; 5-minute tolerance.
- `shopify`: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the raw body>`.
- `github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
- `hmac-sha256`: the route's HmacSpec (header, prefix, hex/base64, body or `<timestamp>.<body>`).

Every comparison is constant-time (hmac.compare_digest). The SSM parameter may hold several
secrets, one per line: during a key rotation a delivery signed with any of them is accepted.

What a failure says: only a reason class (`missing`, `malformed`, `stale`, `mismatch`) for the log;
the caller always gets the same 401. Never the signature, secret or payload.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence

from relay.hook_models import HmacSpec, Verify

#: timestamped schemes refuse a timestamp further than this from our clock (either way)
TOLERANCE_SECONDS = 300


class Unverified(Exception):
    """The delivery's signature is missing, malformed, stale or wrong. `reason` is a class, never data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def secrets_of(value: str) -> list[str]:
    """The secrets in an SSM parameter's value: one per line (several during a key rotation)."""
    return [line.strip() for line in value.splitlines() if line.strip()]


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _fresh(timestamp: str, now: float) -> None:
    try:
        at = int(timestamp.strip())
    except ValueError:
        raise Unverified("malformed") from None
    if abs(now - at) > TOLERANCE_SECONDS:
        raise Unverified("stale")


def _any_equal(expected: Sequence[bytes], given: Sequence[bytes]) -> bool:
    """Constant-time for each pair; every pair is compared (no early exit on the first secret)."""
    matched = False
    for e in expected:
        for g in given:
            matched |= hmac.compare_digest(e, g)
    return matched


def _standard(secrets: Sequence[str], headers: Mapping[str, str], raw: bytes, now: float) -> None:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    if not all(headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")):
        raise Unverified("missing")
    _fresh(headers["webhook-timestamp"], now)  # the package checks it too; this names the reason
    for secret in secrets:
        try:
            Webhook(secret).verify(raw, dict(headers), json_parse=False)
            return
        except WebhookVerificationError:
            continue
        except (ValueError, UnicodeDecodeError):  # a malformed header (`v1` without a comma), a bad secret
            continue
    raise Unverified("mismatch")


def _stripe(secrets: Sequence[str], headers: Mapping[str, str], raw: bytes, now: float) -> None:
    header = headers.get("stripe-signature")
    if not header:
        raise Unverified("missing")
    fields = [part.split("=", 1) for part in header.split(",")]
    timestamps = [v.strip() for k, v in (f for f in fields if len(f) == 2) if k.strip() == "t"]
    given = [v.strip() for k, v in (f for f in fields if len(f) == 2) if k.strip() == "v1"]
    if len(timestamps) != 1 or not given:
        raise Unverified("malformed")
    _fresh(timestamps[0], now)
    signed = timestamps[0].encode() + b"." + raw
    expected = [_mac(s.encode(), signed).hex().encode() for s in secrets]
    if not _any_equal(expected, [g.lower().encode() for g in given]):
        raise Unverified("mismatch")


def _hmac(spec: HmacSpec, secrets: Sequence[str], headers: Mapping[str, str], raw: bytes, now: float) -> None:
    header = headers.get(spec.header.lower())
    if not header:
        raise Unverified("missing")
    if not header.startswith(spec.prefix):
        raise Unverified("malformed")
    given = header[len(spec.prefix) :].strip()
    signed = raw
    if spec.signed == "timestamp.body":
        assert spec.timestamp_header is not None  # relay.hook_routes.check_route
        timestamp = headers.get(spec.timestamp_header.lower())
        if not timestamp:
            raise Unverified("missing")
        _fresh(timestamp, now)
        signed = timestamp.strip().encode() + b"." + raw
    macs = [_mac(s.encode(), signed) for s in secrets]
    if spec.encoding == "hex":
        expected, candidate = [m.hex().encode() for m in macs], given.lower().encode()
    else:
        try:
            candidate = base64.b64decode(given, validate=True)
        except (binascii.Error, ValueError):
            raise Unverified("malformed") from None
        expected = macs
    if not _any_equal(expected, [candidate]):
        raise Unverified("mismatch")


SHOPIFY = HmacSpec(header="X-Shopify-Hmac-Sha256", encoding="base64")
GITHUB = HmacSpec(header="X-Hub-Signature-256", prefix="sha256=", encoding="hex")


def verify(spec: Verify, secret_value: str, headers: Mapping[str, str], raw: bytes, clock: Callable[[], float] = time.time) -> None:
    """Raises Unverified unless `raw` carries a valid signature of the route's sender under one of
    the secrets in `secret_value`. `headers`: lower-case names."""
    secrets = secrets_of(secret_value)
    if not secrets:
        raise Unverified("no secret")
    now = clock()
    if spec.scheme == "standard-webhooks":
        _standard(secrets, headers, raw, now)
    elif spec.scheme == "stripe":
        _stripe(secrets, headers, raw, now)
    elif spec.scheme == "shopify":
        _hmac(SHOPIFY, secrets, headers, raw, now)
    elif spec.scheme == "github":
        _hmac(GITHUB, secrets, headers, raw, now)
    else:
        assert spec.hmac is not None  # relay.hook_routes.check_route
        _hmac(spec.hmac, secrets, headers, raw, now)

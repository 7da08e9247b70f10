"""`relay sign-event`, and `relay invoke` of a signed API event: an API Gateway event signed afresh
(event files go stale in 5 minutes), with the relay's own signing (relay.signing)."""

from __future__ import annotations

import base64


def resign(event: dict, secret: str | None = None) -> dict:
    """An API Gateway event whose X-Relay-Signature is made now (event files go stale in 5 minutes):
    over the body for a POST, over `GET /pushes/<id>` for a status read (relay.signing)."""
    from relay.signing import sign, sign_status
    from relay_local.dev.session import LOCAL_SIGNING_SECRET

    secret = secret or LOCAL_SIGNING_SECRET
    headers = {k: v for k, v in (event.get("headers") or {}).items() if not k.lower().startswith("x-relay-")}
    if event.get("httpMethod") == "GET":
        headers.update(sign_status(secret, str((event.get("pathParameters") or {}).get("id") or "")))
    else:
        body = event.get("body") or ""
        headers.update(sign(secret, base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()))
    return {**event, "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()}}

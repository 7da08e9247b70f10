"""The API's OpenAPI document, generated from the code (routes + pydantic models).

docs/openapi.json is this document, committed; tests/test_openapi.py fails when they drift
(`relay openapi > docs/openapi.json` refreshes it)."""

from __future__ import annotations

import json
from typing import Any

from relay_local.template import ROOT

COMMITTED = ROOT / "docs" / "openapi.json"
DESCRIPTION = (
    "Signed push requests (POST /pushes: X-Relay-Timestamp + X-Relay-Signature over `<timestamp>.<body>`, see README), "
    "their per-recipient state (GET /pushes/{id}, signed the same way over `<timestamp>.GET /pushes/<id>`), and the "
    "Picky Assist Event Webhook (POST /events/{secret}) and Global Webhook (incoming messages: POST /inbound/{secret}), and "
    "third-party webhooks (POST /hooks/{route}: Stripe, Shopify, GitHub, Standard Webhooks or a generic HMAC-SHA256, each "
    "verified by its sender's own signature and mapped by the route file functions/routes/<route>.json, see README)."
)


def document() -> str:
    from api.app import app

    doc = json.loads(app.get_openapi_json_schema(title="Picky Assist media relay", version="1", description=DESCRIPTION))
    return json.dumps(with_version_header(doc), indent=2, sort_keys=True) + "\n"


def with_version_header(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with X-Relay-Version on every answer of every route, described once under
    components/headers. Here rather than in each route's `responses`: ApiFunction stamps every answer
    (relay.api_answers.versioned), including the 422 Powertools documents by itself."""
    from relay.api_answers import VERSION_HEADER, VERSION_HEADER_DOC

    doc.setdefault("components", {}).setdefault("headers", {})[VERSION_HEADER] = VERSION_HEADER_DOC
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {})[VERSION_HEADER] = {"$ref": f"#/components/headers/{VERSION_HEADER}"}
    return doc

"""ApiFunction: POST /pushes (signed), GET /pushes/{id} (signed), POST /events/{secret} and
POST /inbound/{secret} (the vendor's Event and Global Webhooks), POST /hooks/{route} (third-party
webhooks, each verified by its sender's own signature: relay.hook_intake).

Thin: event kind, size, signature and text encoding are checked before routing (relay.api_guard), so
an unsigned caller learns nothing from validation errors; routing and body validation are
Powertools'; the rules live in relay.pushes, relay.delivery_reports and relay.inbound; answers and the error mapping in
relay.api_answers (which also stamps every answer with X-Relay-Version); the collaborators come from relay.wiring.

Replays: every POST /pushes goes through Powertools idempotency. Its key is the caller's
Idempotency-Key, else the request's signature, so a signed request replayed inside the 5-minute
window gets the first answer and plans nothing new (a different body needs a different signature).
The push id is an HMAC of that key under the signing secret (relay.pushes.request_id_for).
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from relay import api_answers
from relay.api_answers import ERRORS, IDEMPOTENCY_HEADER, answer, error, versioned
from relay.api_guard import raw_body, refuse
from relay.api_models import ErrorBody, EventsAccepted, HookAccepted, HookIgnored, InboundRecorded, PushAccepted, PushRequest, PushStatus
from relay.delivery_reports import VendorEvent, apply_event
from relay.inbound import InboundMessage, InboundRefused, record_message
from relay.observability import logger, metrics
from relay.signing import given_signature
from relay.wiring import container

app = APIGatewayRestResolver(enable_validation=True)

#: the idempotency key of a request sent without Idempotency-Key: its signature, accepted once
SIGNATURE_KEY_PREFIX = "X-Relay-Signature:"
PUSH_ID = re.compile(r"^[0-9a-f]{24}$")


@app.post(
    "/pushes",
    status_code=202,
    responses={
        202: {"description": "Planned", "content": {"application/json": {"model": PushAccepted}}},
        **{code: doc for code, doc in ERRORS.items() if code != 404},
    },
)
def create_push(push: PushRequest):  # noqa: ANN201 - answers are documented in `responses`
    headers = app.current_event.headers
    key = headers.get(IDEMPOTENCY_HEADER) or headers.get(IDEMPOTENCY_HEADER.lower())
    if key and len(key) > 255:
        return error(422, "Idempotency-Key is longer than 255 characters", IDEMPOTENCY_HEADER)
    # api_guard verified the signature before routing, so it is there
    key = key or SIGNATURE_KEY_PREFIX + given_signature(app.current_event.raw_event.get("headers"))
    body = raw_body(app.current_event.raw_event).decode("utf-8", "replace")
    return answer(202, container().create_push(call={"key": key, "body": body}))


@app.get(
    "/pushes/<id>",
    responses={
        200: {"description": "Per-recipient state", "content": {"application/json": {"model": PushStatus}}},
        401: ERRORS[401],
        404: ERRORS[404],
    },
)
def get_push(id: str):  # noqa: A002, ANN201 - the route's name for it
    """Signed like a POST, over the line `GET /pushes/<id>` (relay.signing); 404 only after that."""
    status = container().push_service.report(id) if PUSH_ID.match(id) else None
    if status is None:
        return error(404, "no push with this id")
    return answer(200, status)


@app.post(
    "/events/<secret>",
    responses={
        200: {"description": "Applied", "content": {"application/json": {"model": EventsAccepted}}},
        404: {"description": "Wrong secret", "content": {"application/json": {"model": ErrorBody}}},
        413: {"description": "Body over 256 KiB", "content": {"application/json": {"model": ErrorBody}}},
        422: {"description": "Not a Picky Assist event", "content": {"application/json": {"model": ErrorBody}}},
    },
)
def vendor_events(secret: str):  # noqa: ANN201 - answers are documented in `responses`
    if not hmac.compare_digest(secret.encode(), container().events_secret().encode()):
        return error(404, "not found")
    try:
        event = VendorEvent.model_validate_json(raw_body(app.current_event.raw_event) or b"{}")
    except ValidationError as exc:
        return error(422, f"not a Picky Assist event: {exc.errors()[0]['msg']}", ".".join(map(str, exc.errors()[0]["loc"])))
    report = apply_event(container().ledger, event, container().template_fallbacks)
    logger.info("vendor event", extra={"event_id": event.event_id, **report.__dict__})
    return answer(200, EventsAccepted(**report.__dict__))


@app.post(
    "/inbound/<secret>",
    responses={
        200: {"description": "Recorded, or known already (no instant reply)", "content": {"application/json": {"model": InboundRecorded}}},
        404: {"description": "Wrong secret", "content": {"application/json": {"model": ErrorBody}}},
        413: {"description": "Body over 256 KiB", "content": {"application/json": {"model": ErrorBody}}},
        422: {"description": "Not a Picky Assist incoming message", "content": {"application/json": {"model": ErrorBody}}},
    },
)
def inbound_message(secret: str):  # noqa: ANN201 - answers are documented in `responses`
    """The vendor's Global Webhook: the customer's 24-hour window (relay.inbound). Same secret as /events."""
    if not hmac.compare_digest(secret.encode(), container().events_secret().encode()):
        return error(404, "not found")
    raw = raw_body(app.current_event.raw_event) or b"{}"
    try:
        message = InboundMessage.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(map(str, first["loc"])) or "body"
        return error(422, f"not a Picky Assist incoming message: {field}: {first['msg'].removeprefix('Value error, ')}", field)
    settings = container().settings
    try:
        outcome = record_message(container().ledger, message, raw, settings.picky_application, settings.session_channels)
    except InboundRefused as exc:
        return error(422, f"not a Picky Assist incoming message: {exc.field}: {exc.reason}", exc.field)
    logger.info("inbound message", extra={"recorded": outcome.recorded, "channel": message.application, "type": message.type})
    return answer(200, InboundRecorded(recorded=outcome.recorded, reason=outcome.reason))


@app.post(
    "/hooks/<route>",
    status_code=202,
    responses={
        202: {
            "description": "Verified and queued (and for every later arrival of the same delivery)",
            "content": {"application/json": {"model": HookAccepted}},
        },
        200: {
            "description": "Verified and ignored (the route's `when` is not true: stored nowhere), or the event cannot fill the push"
            " (the recipient is `rejected` in the ledger with the reason; not retried)",
            "content": {"application/json": {"model": HookIgnored | HookAccepted}},
        },
        400: {
            "description": "Body not JSON (field `body`), or no delivery id in the event",
            "content": {"application/json": {"model": ErrorBody}},
        },
        401: {
            "description": "Missing, malformed, stale or wrong signature of the route's sender",
            "content": {"application/json": {"model": ErrorBody}},
        },
        404: {"description": "No such route", "content": {"application/json": {"model": ErrorBody}}},
        413: {"description": "Body over 1 MiB", "content": {"application/json": {"model": ErrorBody}}},
    },
)
def third_party_hook(route: str):  # noqa: ANN201 - answers are documented in `responses`
    """A third-party webhook (Stripe, Shopify, GitHub, Standard Webhooks …) through its route file
    functions/routes/<route>.json: relay.hook_intake."""
    event = app.current_event
    outcome = container().hook_intake.receive(route, event.headers or {}, raw_body(event.raw_event))
    return answer(outcome.status, outcome.body)


api_answers.register(app)


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    container().idempotency_config.register_lambda_context(context)
    refused = refuse(event, lambda: container().signing_secret())
    return versioned(refused if refused is not None else app.resolve(event, context))

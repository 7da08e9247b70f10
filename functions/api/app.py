"""ApiFunction: POST /pushes (signed), GET /pushes/{id} (signed), POST /events/{secret} (vendor webhook).

Thin: event kind, size, signature and text encoding are checked before routing (relay.api_guard), so
an unsigned caller learns nothing from validation errors; routing and body validation are
Powertools'; the rules live in relay.pushes and relay.status; errors map to HTTP in one place.

Replays: every POST /pushes goes through Powertools idempotency. Its key is the caller's
Idempotency-Key, else the request's signature, so a signed request replayed inside the 5-minute
window gets the first answer and plans nothing new (a different body needs a different signature).
The push id is an HMAC of that key under the signing secret (relay.pushes.request_id_for).
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from relay.api_guard import raw_body, refuse
from relay.api_models import MAX_BODY_BYTES, ErrorBody, ErrorDetail, EventsAccepted, PushAccepted, PushRequest, PushStatus
from relay.observability import logger
from relay.pushes import AlreadyAccepted, InvalidRequest
from relay.signing import given_signature
from relay.status import VendorEvent, apply_event
from relay.wiring import container

app = APIGatewayRestResolver(enable_validation=True)
IDEMPOTENCY_HEADER = "Idempotency-Key"

_ERRORS = {
    401: {"description": "Missing, malformed, stale or wrong signature", "content": {"application/json": {"model": ErrorBody}}},
    400: {"description": "Body marked base64 but not base64, or not an API Gateway REST (v1) proxy event",
          "content": {"application/json": {"model": ErrorBody}}},
    404: {"description": "Unknown push id", "content": {"application/json": {"model": ErrorBody}}},
    409: {"description": "Idempotency-Key in use by a request still running", "content": {"application/json": {"model": ErrorBody}}},
    413: {"description": f"Body over {MAX_BODY_BYTES} bytes", "content": {"application/json": {"model": ErrorBody}}},
    415: {"description": "Body not sent as application/json", "content": {"application/json": {"model": ErrorBody}}},
    422: {"description": "Invalid body, or Idempotency-Key reused with another body", "content": {"application/json": {"model": ErrorBody}}},
}


#: the idempotency key of a request sent without Idempotency-Key: its signature, accepted once
SIGNATURE_KEY_PREFIX = "X-Relay-Signature:"
PUSH_ID = re.compile(r"^[0-9a-f]{24}$")


def _json(status: int, body: Any) -> Response:
    payload = body.model_dump_json(exclude_none=True) if hasattr(body, "model_dump_json") else json.dumps(body)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=payload)


def _error(status: int, message: str, field: str | None = None) -> Response:
    return _json(status, ErrorBody(message=message, field=field))


@app.post("/pushes", status_code=202, responses={202: {"description": "Planned", "content": {"application/json": {"model": PushAccepted}}},
                                                 **{code: answer for code, answer in _ERRORS.items() if code != 404}})
def create_push(push: PushRequest):  # noqa: ANN201 - answers are documented in `responses`
    headers = app.current_event.headers
    key = headers.get(IDEMPOTENCY_HEADER) or headers.get(IDEMPOTENCY_HEADER.lower())
    if key and len(key) > 255:
        return _error(422, "Idempotency-Key is longer than 255 characters", IDEMPOTENCY_HEADER)
    # api_guard verified the signature before routing, so it is there
    key = key or SIGNATURE_KEY_PREFIX + given_signature(app.current_event.raw_event.get("headers"))
    body = raw_body(app.current_event.raw_event).decode("utf-8", "replace")
    return _json(202, container().create_push(call={"key": key, "body": body}))


@app.get("/pushes/<id>", responses={200: {"description": "Per-recipient state", "content": {"application/json": {"model": PushStatus}}},
                                    401: _ERRORS[401], 404: _ERRORS[404]})
def get_push(id: str):  # noqa: A002, ANN201 - the route's name for it
    """Signed like a POST, over the line `GET /pushes/<id>` (relay.signing); 404 only after that."""
    status = container().push_service.status(id) if PUSH_ID.match(id) else None
    if status is None:
        return _error(404, "no push with this id")
    return _json(200, status)


@app.post(
    "/events/<secret>",
    responses={200: {"description": "Applied", "content": {"application/json": {"model": EventsAccepted}}},
               404: {"description": "Wrong secret", "content": {"application/json": {"model": ErrorBody}}},
               413: {"description": "Body over 256 KiB", "content": {"application/json": {"model": ErrorBody}}},
               422: {"description": "Not a Picky Assist event", "content": {"application/json": {"model": ErrorBody}}}},
)
def vendor_events(secret: str):  # noqa: ANN201
    if not hmac.compare_digest(secret.encode(), container().events_secret().encode()):
        return _error(404, "not found")
    try:
        event = VendorEvent.model_validate_json(raw_body(app.current_event.raw_event) or b"{}")
    except ValidationError as exc:
        return _error(422, f"not a Picky Assist event: {exc.errors()[0]['msg']}", ".".join(map(str, exc.errors()[0]["loc"])))
    report = apply_event(container().ledger, event)
    logger.info("vendor event", extra={"event_id": event.event_id, **report.__dict__})
    return _json(200, EventsAccepted(**report.__dict__))


@app.exception_handler(RequestValidationError)
def _validation(exc: RequestValidationError) -> Response:
    """422 naming the field; our own texts and pydantic's, never the input or code paths."""
    detail = [
        ErrorDetail(loc=[p for p in e["loc"] if p != "body"] or ["body"], msg=str(e.get("msg", e["type"])).removeprefix("Value error, "), type=e["type"])
        for e in exc.errors()
    ]
    first = detail[0]
    if first.type == "json_invalid":  # Powertools puts the character offset where the field goes
        return _json(422, ErrorBody(message=_json_error(exc), field="body",
                                    detail=[ErrorDetail(loc=["body"], msg=_json_error(exc), type="json_invalid")]))
    field = ".".join(str(p) for p in first.loc)
    return _json(422, ErrorBody(message=f"{field}: {first.msg}", field=field, detail=detail))


def _json_error(exc: RequestValidationError) -> str:
    """`body is not valid JSON: <what> at line L column C`, from the decoder's own words."""
    error = exc.errors()[0]
    why = str((error.get("ctx") or {}).get("error") or "invalid JSON")
    offset = next((p for p in error.get("loc", ()) if isinstance(p, int)), None)
    doc = exc.body if isinstance(exc.body, str) else ""
    if offset is None or offset > len(doc):
        return f"body is not valid JSON: {why}"
    line = doc.count("\n", 0, offset) + 1
    column = offset - (doc.rfind("\n", 0, offset) + 1) + 1
    return f"body is not valid JSON: {why} at line {line} column {column}"


@app.exception_handler(InvalidRequest)
def _invalid(exc: InvalidRequest) -> Response:
    return _error(422, exc.message, exc.field)


@app.exception_handler(AlreadyAccepted)
def _already(exc: AlreadyAccepted) -> Response:
    return _error(409, f"push {exc.request_id} was already accepted; GET /pushes/{exc.request_id}")


@app.exception_handler(IdempotencyValidationError)
def _key_reused(exc: Exception) -> Response:
    return _error(422, "Idempotency-Key was used before with a different body", IDEMPOTENCY_HEADER)


@app.exception_handler(IdempotencyAlreadyInProgressError)
def _key_busy(exc: Exception) -> Response:
    return _error(409, "a request with this Idempotency-Key is still being processed; retry shortly", IDEMPOTENCY_HEADER)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    container().idempotency_config.register_lambda_context(context)
    refused = refuse(event, lambda: container().signing_secret())
    if refused is not None:
        return refused
    return app.resolve(event, context)

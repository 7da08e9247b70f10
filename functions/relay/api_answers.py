"""ApiFunction's answers: JSON responses, the error body, the OpenAPI description of each error, and
the exception → HTTP mapping (`register`), in one place so that the handler's routes read as
parse → one call → answer.

Error texts are our own or pydantic's, never the input or code paths.

Every answer of ApiFunction carries `X-Relay-Version` (relay.version), added in one place: the
handler passes whatever it returns (the guard's refusals and the resolver's answers, errors
included) through `versioned`. Answers API Gateway makes by itself (a 502 when the function fails,
a 504 after 29 s, a throttle) do not carry it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from relay.api_models import MAX_BODY_BYTES, ErrorBody, ErrorDetail
from relay.pushes import AlreadyAccepted, InvalidRequest
from relay.version import __version__

if TYPE_CHECKING:  # types only: not loaded at run time
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

IDEMPOTENCY_HEADER = "Idempotency-Key"
#: on every answer: the relay's version (relay.version); its OpenAPI description (relay_local.ops.openapi
#: puts it on every answer of the document, Powertools' own 422s included)
VERSION_HEADER = "X-Relay-Version"
VERSION_HEADER_DOC = {"description": "The relay's version (relay/version.py), on every answer of ApiFunction", "schema": {"type": "string"}}

#: the OpenAPI description of each error answer (routes pick theirs)
ERRORS: dict[int, OpenAPIResponse] = {
    401: {"description": "Missing, malformed, stale or wrong signature", "content": {"application/json": {"model": ErrorBody}}},
    400: {
        "description": "Body marked base64 but not base64, or not an API Gateway REST (v1) proxy event",
        "content": {"application/json": {"model": ErrorBody}},
    },
    404: {"description": "Unknown push id", "content": {"application/json": {"model": ErrorBody}}},
    409: {"description": "Idempotency-Key in use by a request still running", "content": {"application/json": {"model": ErrorBody}}},
    413: {"description": f"Body over {MAX_BODY_BYTES} bytes", "content": {"application/json": {"model": ErrorBody}}},
    415: {"description": "Body not sent as application/json", "content": {"application/json": {"model": ErrorBody}}},
    422: {
        "description": "Invalid body, or Idempotency-Key reused with another body",
        "content": {"application/json": {"model": ErrorBody}},
    },
}


def versioned(result: dict[str, Any]) -> dict[str, Any]:
    """`result` (a REST API proxy answer) with the X-Relay-Version header, in the header map it uses
    (Powertools' resolver answers with `multiValueHeaders`, the guard with `headers`)."""
    if isinstance(result.get("multiValueHeaders"), dict):
        result["multiValueHeaders"][VERSION_HEADER] = [__version__]
    else:
        result["headers"] = {**(result.get("headers") or {}), VERSION_HEADER: __version__}
    return result


def answer(status: int, body: Any) -> Response[str]:
    payload = body.model_dump_json(exclude_none=True) if hasattr(body, "model_dump_json") else json.dumps(body)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=payload)


def error(status: int, message: str, field: str | None = None) -> Response[str]:
    return answer(status, ErrorBody(message=message, field=field))


def invalid_body(exc: RequestValidationError) -> Response[str]:
    """422 naming the field; our own texts and pydantic's, never the input or code paths."""
    detail = [
        ErrorDetail(
            loc=[p for p in e["loc"] if p != "body"] or ["body"],
            msg=str(e.get("msg", e["type"])).removeprefix("Value error, "),
            type=e["type"],
        )
        for e in exc.errors()
    ]
    first = detail[0]
    if first.type == "json_invalid":  # Powertools puts the character offset where the field goes
        return answer(
            422,
            ErrorBody(message=json_error(exc), field="body", detail=[ErrorDetail(loc=["body"], msg=json_error(exc), type="json_invalid")]),
        )
    field = ".".join(str(p) for p in first.loc)
    return answer(422, ErrorBody(message=f"{field}: {first.msg}", field=field, detail=detail))


def json_error(exc: RequestValidationError) -> str:
    """`body is not valid JSON: <what> at line L column C`, from the decoder's own words."""
    err = exc.errors()[0]
    why = str((err.get("ctx") or {}).get("error") or "invalid JSON")
    offset = next((p for p in err.get("loc", ()) if isinstance(p, int)), None)
    doc = exc.body if isinstance(exc.body, str) else ""
    if offset is None or offset > len(doc):
        return f"body is not valid JSON: {why}"
    line = doc.count("\n", 0, offset) + 1
    column = offset - (doc.rfind("\n", 0, offset) + 1) + 1
    return f"body is not valid JSON: {why} at line {line} column {column}"


def register(app: APIGatewayRestResolver) -> None:
    """Map the core's and Powertools' exceptions to answers on `app`."""

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response[str]:
        return invalid_body(exc)

    @app.exception_handler(InvalidRequest)
    def _invalid(exc: InvalidRequest) -> Response[str]:
        return error(422, exc.message, exc.field)

    @app.exception_handler(AlreadyAccepted)
    def _already(exc: AlreadyAccepted) -> Response[str]:
        return error(409, f"push {exc.request_id} was already accepted; GET /pushes/{exc.request_id}")

    @app.exception_handler(IdempotencyValidationError)
    def _key_reused(exc: Exception) -> Response[str]:
        return error(422, "Idempotency-Key was used before with a different body", IDEMPOTENCY_HEADER)

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def _key_busy(exc: Exception) -> Response[str]:
        return error(409, "a request with this Idempotency-Key is still being processed; retry shortly", IDEMPOTENCY_HEADER)

"""The relay's HTTP API bodies (POST /pushes, GET /pushes/{id}, vendor events answer).

These models are the OpenAPI document: docs/openapi.json is generated from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from relay.channels import VOICE_APPLICATION
from relay.lifecycle import RecipientState
from relay.templates import ID_PATTERN, LANGUAGE_PATTERN, MAX_HEADER, MAX_VALUES, Form, Session, header_problem, value_problem
from relay.text_rules import check_identifier, check_message, text_problem

#: Largest request body accepted (base64 media included); larger → 413.
MAX_BODY_BYTES = 5 * 1024 * 1024
#: Most recipients in one POST /pushes; more → 422.
MAX_RECIPIENTS = 1000
#: a recipient's state as GET /pushes/{id} shows it: the values of relay.lifecycle.RecipientState,
#: as an inline enum in the OpenAPI document
if TYPE_CHECKING:  # built from the enum at import, which a type checker cannot follow: it sees a str
    RecipientStateName = str
else:
    RecipientStateName = Literal[tuple(state.value for state in RecipientState)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MediaSpec(_In):
    """Exactly one of: `key` (an object in the media bucket), `url` (a public https URL the vendor
    fetches itself), or `base64` with `filename` (stored in the media bucket, then presigned)."""

    key: str | None = Field(default=None, min_length=1, max_length=1024)
    url: str | None = Field(default=None, min_length=9, max_length=2048, pattern=r"^https://[^\s]+$")
    base64: str | None = Field(default=None, min_length=1)
    filename: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^[^/\\]+$")

    @field_validator("key", "filename")
    @classmethod
    def _identifier_text(cls, value: str | None) -> str | None:
        return None if value is None else check_identifier(value)

    @model_validator(mode="after")
    def _one_source(self) -> MediaSpec:
        given = [name for name in ("key", "url", "base64") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of key, url, base64")
        if self.base64 is not None and self.filename is None:
            raise ValueError("base64 media needs a filename")
        return self


def _check_values(values: list[str] | None) -> list[str] | None:
    """Template values: each non-empty, one line, at most four consecutive spaces (relay.templates)."""
    for n, value in enumerate(values or (), start=1):
        problem = value_problem(value) or text_problem(value, layout=False)
        if problem is not None:
            raise ValueError(f"template value {n} ({{{{{n}}}}}) {problem}")
    return values


def _check_header(header: str | None) -> str | None:
    """The header's own rules (≤ 60 characters, one line); that it needs document media is the
    planner's (a per-recipient rejection)."""
    if header is not None:
        problem = header_problem(header, None)
        if problem is not None:
            raise ValueError(problem)
        check_identifier(header)
    return header


TemplateValues = Annotated[list[StrictStr], Field(max_length=MAX_VALUES)]


class TemplateSpec(_In):
    """The push's template (WhatsApp's 24-hour window: README). The push's `media` (or each
    recipient's) is the template's header media."""

    id: str = Field(pattern=ID_PATTERN, description="The approved template's id (e.g. XY6479)")
    language: str = Field(pattern=LANGUAGE_PATTERN, description="The template's language code (e.g. en, pt_BR)")
    values: TemplateValues | None = Field(
        default=None, description="Values of {{1}}, {{2}} … for every recipient without its own `template_values`"
    )
    header: str | None = Field(default=None, max_length=MAX_HEADER, description="Document templates: the file name shown (≤ 60 characters)")
    session: Session = Field(
        default="auto",
        description="auto: free-form inside the customer's 24-hour window, else the template; template: always the"
        " template (the message is not sent); freeform: never the template",
    )

    _values = field_validator("values")(_check_values)
    _header = field_validator("header")(_check_header)


class RecipientIn(_In):
    number: Annotated[StrictStr, Field(max_length=64)] | StrictInt = Field(
        description="Full international number; +, spaces, dashes allowed"
    )
    message: str | None = Field(default=None, description="This recipient's text/caption (else the push's `message`)")
    media: MediaSpec | None = Field(
        default=None, description="This recipient's own media (dynamic media); with a `template`, its header media"
    )
    reference: str | None = Field(default=None, max_length=128, description="Your id, echoed in delivery events")
    template_values: TemplateValues | None = Field(default=None, description="This recipient's template values (else the template's)")
    template_header: str | None = Field(
        default=None, max_length=MAX_HEADER, description="This recipient's document header name (else the template's)"
    )

    _values = field_validator("template_values")(_check_values)
    _header = field_validator("template_header")(_check_header)

    @field_validator("number")
    @classmethod
    def _number_text(cls, value: str | int) -> str | int:
        return check_identifier(value) if isinstance(value, str) else value

    @field_validator("reference")
    @classmethod
    def _reference_text(cls, value: str | None) -> str | None:
        return None if value is None else check_identifier(value)

    @field_validator("message")
    @classmethod
    def _message_text(cls, value: str | None) -> str | None:
        return None if value is None else check_message(value)


class PushRequest(_In):
    application: int | None = Field(default=None, ge=1, le=100_000, description="Channel; default from configuration (8)")
    priority: Literal["0", "1"] | None = None
    message: str | None = Field(default=None, description="Text/caption for recipients without their own")
    media: MediaSpec | None = Field(
        default=None, description="One media for every recipient (static media); with a `template`, its header media"
    )
    media_name: str | None = Field(default=None, min_length=1, max_length=255, description="Document display name (≤ 20 chars sent)")
    voice: bool = Field(default=False, description=f"Send audio as a voice note (WhatsApp Web Automation, application {VOICE_APPLICATION})")
    send_at: AwareDatetime | None = Field(default=None, description="Hold the push until then (at most 7 days ahead)")
    expires_at: AwareDatetime | None = Field(default=None, description="Give up recipients still unsent by then (recorded as expired)")
    template: TemplateSpec | None = Field(default=None, description="Send an approved template (WhatsApp's 24-hour window)")
    recipients: list[RecipientIn] = Field(min_length=1, max_length=MAX_RECIPIENTS)

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("message")
    @classmethod
    def _message_text(cls, value: str | None) -> str | None:
        return None if value is None else check_message(value)

    @field_validator("media_name")
    @classmethod
    def _name_text(cls, value: str | None) -> str | None:
        return None if value is None else check_identifier(value)

    @field_validator("voice")
    @classmethod
    def _voice_channel(cls, voice: bool, info: ValidationInfo) -> bool:
        # an explicit other channel is refused here; without `application`, PushService checks the
        # configured default (relay.pushes), since the model does not know it
        if voice and info.data.get("application") not in (None, VOICE_APPLICATION):
            raise ValueError(f"voice notes are only sent on WhatsApp Web Automation (application {VOICE_APPLICATION})")
        return voice


class Rejected(BaseModel):
    number: str
    reason: str


class PushAccepted(BaseModel):
    id: str = Field(description="What GET /pushes/{id} takes")
    recipients: int = Field(description="Messages planned")
    jobs: int = Field(description="Push API requests planned")
    rejected: list[Rejected]
    send_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None


class RecipientStatus(BaseModel):
    id: str = Field(description="This message's id in the ledger: what `caption_for`, `fallback_for` and `fallback_rid` name")
    number: str
    state: RecipientStateName
    message: str | None = None
    media: str | None = None
    reference: str | None = None
    push_id: str | None = None
    msg_id: str | None = None
    credit: str | None = None
    vendor_status: int | None = None
    vendor_message: str | None = None
    delivery_status: int | None = None
    reason: str | None = None
    error_code: str | None = Field(default=None, description="The vendor's error code from a failed delivery report")
    error_message: str | None = Field(default=None, description="The vendor's error message from a failed delivery report")
    caption_for: str | None = None
    form: Form | None = Field(default=None, description="The form that went out: template or freeform (set once sent)")
    template_id: str | None = Field(default=None, description="The push's template, when it has one")
    form_reason: str | None = Field(default=None, description="Why this recipient got that form")
    fallback_for: str | None = Field(
        default=None, description="On a template sent after a free-form message failed outside the window: that message's id"
    )
    fallback_rid: str | None = Field(default=None, description="On a free-form message that failed outside the window: its fallback's id")
    updated_at: str


class PushStatus(BaseModel):
    id: str
    recipients: list[RecipientStatus]
    counts: dict[str, int]
    state: Literal["queued"] | None = Field(
        default=None,
        description="queued: a webhook delivery (POST /hooks/{route}) accepted and waiting to be planned (its media fetched);"
        " its recipients appear once planned",
    )


class EventsAccepted(BaseModel):
    received: int
    updated: int
    unchanged: int
    unmatched: int
    ignored: int


class InboundRecorded(BaseModel):
    """POST /inbound/{secret}'s answer. No reply field: the vendor reads its webhook's JSON answer
    as an instant reply to the customer (relay.inbound)."""

    recorded: bool = Field(description="true: a new incoming message, on record; false: a re-post, or not incoming")
    reason: str | None = Field(default=None, description="why nothing was recorded")


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    message: str
    field: str | None = None
    detail: list[ErrorDetail] | None = None


class HookAccepted(BaseModel):
    """POST /hooks/{route}'s answer to a verified delivery (the same for every arrival of it)."""

    id: str = Field(description="The push id GET /pushes/{id} takes")
    rejected: list[Rejected] | None = Field(
        default=None, description="The event could not fill the push (answered 200, so the sender does not retry): why"
    )


class HookIgnored(BaseModel):
    """POST /hooks/{route}'s answer to a verified delivery the route's `when` does not take (stored nowhere)."""

    ignored: str = Field(description="Why: the route's condition is not true for this event")

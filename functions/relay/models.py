"""The relay's own data: what flows from the planner through the send queue to the ledger."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from relay import ledger_keys
from relay.media import MediaKind
from relay.templates import Form, TemplateRef

MAX_TEXT = 4096


def iso_at(epoch: float) -> str:
    """Unix seconds as the ledger writes times: ISO 8601 UTC, milliseconds, `Z`."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def short_hash(*parts: object, size: int = 24) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:size]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Model):
    """Where recipients came from: one S3 object (or, later, one API call)."""

    kind: Literal["outbox", "manifest", "api"]
    #: for "api": the push request id (what GET /pushes/{id} takes); bucket is the media bucket
    bucket: str
    key: str
    #: versionId, else the event's sequencer, else the eTag: what tells two uploads of one key apart.
    revision: str = ""

    @property
    def source_id(self) -> str:
        if self.kind == "api":
            return f"api:{self.key}"
        return f"s3://{self.bucket}/{self.key}#{self.revision}"

    @property
    def object_pk(self) -> str:
        """What the ByObject index groups by: the S3 object, or the API push request."""
        return ledger_keys.request_pk(self.key) if self.kind == "api" else ledger_keys.object_pk(self.bucket, self.key)


class MediaRef(_Model):
    """An S3 object that passed the media checks (presigned only when the request is sent), or a
    caller's own public URL (`url`), which is sent as it is."""

    bucket: str
    key: str
    kind: MediaKind
    content_type: str
    size: int
    filename: str
    url: str | None = None
    #: the S3 version the media check read (versioned bucket): the presigned URL asks for exactly
    #: that version, so an object overwritten before it is sent still sends the bytes that were
    #: checked and planned (the overwrite is its own upload, planned and sent on its own).
    version_id: str | None = None


class Entry(_Model):
    """One message to one recipient (one `data[]` element of a Push API request)."""

    rid: str
    number: str
    message: str = ""
    media: MediaRef | None = None
    reference: str | None = None
    object_pk: str
    #: set on the text message that carries a caption the media kind cannot take.
    caption_for: str | None = None
    #: the template's variable values for this recipient ({{1}}, {{2}} … in order; relay.templates)
    template_values: tuple[str, ...] = ()
    #: a document template's header (the file name shown), at most 60 characters
    template_header: str | None = None
    #: why this recipient gets the job's form (set at send time when the relay decided it)
    form_reason: str | None = None
    #: on a template send that follows a free-form message the vendor reported failed because the
    #: 24-hour window was closed (WhatsApp 131047): the rid of that first attempt
    fallback_for: str | None = None


class Job(_Model):
    """One Push API request: what the send queue carries (no secrets, no presigned URLs)."""

    job_id: str
    application: int
    priority: Literal["0", "1"] = "0"
    global_media: MediaRef | None = None
    media_name: str | None = None
    #: audio as a voice note (WhatsApp Web Automation only)
    voice: bool = False
    entries: list[Entry] = Field(min_length=1)
    sources: list[str] = Field(default_factory=list)
    planned_at: str = Field(default_factory=utc_now)
    #: unix seconds before which the job must not be sent (send_at; spacing on one-recipient channels).
    not_before: float | None = None
    #: unix seconds after which the job is not sent any more: its recipients become `expired`.
    expires_at: float | None = None
    #: the template its recipients may (or must) get instead of a free-form message (relay.templates)
    template: TemplateRef | None = None
    #: the form the request is sent in; None: decided per recipient at send time (session `auto`)
    form: Form | None = None

    @property
    def dynamic(self) -> bool:
        return any(entry.media is not None for entry in self.entries)


class Rejection(_Model):
    """A recipient the relay will not send, with the reason; written to the ledger as `rejected`."""

    rid: str
    number: str
    reason: str
    object_pk: str
    source_id: str
    message: str = ""
    media_key: str | None = None
    reference: str | None = None


def job_id_for(entries: list[Entry]) -> str:
    """Deterministic: the same recipients planned again give the same job id."""
    return short_hash(*sorted(entry.rid for entry in entries), size=32)

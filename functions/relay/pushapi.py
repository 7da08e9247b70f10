"""The Picky Assist Push API client: the only code that talks to the vendor.

The token travels in the JSON body (the vendor's design). It is added here, at the last moment,
and never logged, stored or put into an exception message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from relay.models import Entry, PushJob

#: Vendor status 100: accepted and queued (not yet delivered).
ACCEPTED = 100
#: Vendor statuses worth another try later (service unavailable).
RETRYABLE_VENDOR_STATUSES = frozenset({101})
TIMEOUT = httpx.Timeout(connect=5.0, read=25.0, write=10.0, pool=5.0)


def _text(value: object) -> object:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class PushResultEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    msg_id: str | None = None
    number: str | None = None
    credit: str | None = None

    _coerce = field_validator("msg_id", "number", "credit", mode="before")(lambda cls, v: _text(v))


class PushResult(BaseModel):
    """The vendor's answer. Ids may arrive as strings or integers: both become strings."""

    model_config = ConfigDict(extra="allow")

    status: int
    push_id: str | None = None
    message: str = ""
    data: list[PushResultEntry] = Field(default_factory=list)

    _coerce = field_validator("push_id", mode="before")(lambda cls, v: _text(v))

    @field_validator("message", mode="before")
    @classmethod
    def _message(cls, value: object) -> object:
        return "" if value is None else _text(value)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> object:
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value

    @field_validator("data", mode="before")
    @classmethod
    def _data(cls, value: object) -> object:
        return [] if value in (None, "", {}) else value

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED


class TransportError(Exception):
    """No usable answer (connection failure, timeout, HTTP 429/5xx, unreadable body)."""

    def __init__(self, reason: str, http_status: int | None = None, sent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        #: True when the request may have been processed and its answer lost (read timeout, broken
        #: answer): an ambiguous outcome, never re-sent blindly. HTTP 429/5xx answers are not: the
        #: vendor said it did not take the request, so it is retried.
        self.sent = sent


def build_request(job: PushJob, presign: Callable[[Any], str]) -> dict[str, Any]:
    """The Push API body for a job, without the token. Media are presigned now, at send time."""
    body: dict[str, Any] = {"application": str(job.application), "priority": job.priority}
    messages = {entry.message for entry in job.entries}
    shared_message = messages.pop() if len(messages) == 1 else None
    body["globalmessage"] = shared_message or ""
    # One recipient with its own media is sent in the static form (globalmedia), which every
    # channel takes; per-entry `media` only where several recipients get different files.
    global_media = job.global_media or (job.entries[0].media if len(job.entries) == 1 else None)
    if global_media is not None:
        body["globalmedia"] = presign(global_media)
    if job.media_name:
        body["media_name"] = job.media_name
    if job.voice:
        body["voice"] = 1
    per_entry = global_media is None
    body["data"] = [_data_entry(e, presign, include_message=shared_message is None, media=per_entry) for e in job.entries]
    return body


def _data_entry(entry: Entry, presign: Callable[[Any], str], include_message: bool, media: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"number": entry.number, "message": entry.message if include_message else ""}
    if media and entry.media is not None:
        data["media"] = presign(entry.media)
    # the caller's reference, else our recipient id: what a delivery report is matched back by
    data["reference_number"] = entry.reference or entry.rid
    return data


class PushApiClient:
    def __init__(self, url: str, token: Callable[[], str], http: httpx.Client | None = None) -> None:
        self.url = url
        self._token = token
        self._http = http or httpx.Client(timeout=TIMEOUT, headers={"User-Agent": "picky-media-relay/0.1"})

    def push(self, body: dict[str, Any]) -> PushResult:
        payload = {**body, "token": self._token()}
        try:
            resp = self._http.post(self.url, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
            raise TransportError(f"could not reach the Push API: {type(exc).__name__}") from None
        except httpx.TimeoutException as exc:
            raise TransportError(f"no answer from the Push API: {type(exc).__name__}", sent=True) from None
        except httpx.HTTPError as exc:  # the request may have arrived: an ambiguous outcome
            raise TransportError(f"Push API exchange failed: {type(exc).__name__}", sent=True) from None
        if resp.status_code == 429 or resp.status_code >= 500:  # not taken: retried, not ambiguous
            raise TransportError(f"Push API answered HTTP {resp.status_code}", http_status=resp.status_code)
        try:
            return PushResult.model_validate_json(resp.content)
        except ValidationError:
            raise TransportError(
                f"Push API answered HTTP {resp.status_code} with a body that is not a push result",
                http_status=resp.status_code,
                sent=True,
            ) from None

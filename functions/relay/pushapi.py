"""The Picky Assist Push API client: the only code that talks to the vendor.

The token travels in the JSON body (the vendor's design). It is added here, at the last moment,
and never logged, stored or put into an exception message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from relay.models import Entry, Job
from relay.vendor_http import deadline, vendor_client

#: Vendor status 100: accepted and queued (not yet delivered).
ACCEPTED = 100
#: Vendor statuses worth another try later: 101 service unavailable; 404 "unable to communicate
#: with your phone" (the account's phone is offline for a while: it comes back).
RETRYABLE_VENDOR_STATUSES = frozenset({101, 404})
TIMEOUT = httpx.Timeout(connect=5.0, read=25.0, write=10.0, pool=5.0)
#: default total time for one request, answer included (PUSH_TIMEOUT_SECONDS)
DEADLINE_SECONDS = 25.0
#: the most of an answer read (the vendor's answer for 100 recipients is a few KB); more is not a push result
MAX_ANSWER_BYTES = 1024 * 1024


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


class HttpRefused(TransportError):
    """An HTTP 3xx/4xx answer (not 429) that is not the vendor's push result: a wrong PickyApiUrl,
    a redirect, a firewall/WAF in front of the vendor. The request was answered, and not taken, so
    it is neither ambiguous nor worth retrying until someone fixes the cause: the job fails, is
    kept on the dead-letter queue for `relay redrive`, and the `VendorHttpErrors` metric alarms."""

    def __init__(self, reason: str, http_status: int) -> None:
        super().__init__(reason, http_status=http_status, sent=False)


def build_request(job: Job, presign: Callable[[Any], str]) -> dict[str, Any]:
    """The Push API body for a job, without the token. Media are presigned now, at send time.
    A job whose form is `template` goes out as the template (relay.templates): its media is the
    template's header, its values `template_globalmessage` (shared) or `data[].template_message`."""
    body: dict[str, Any] = {"application": str(job.application), "priority": job.priority}
    template = job.form == "template" and job.template is not None
    # One recipient with its own media is sent in the static form (globalmedia), which every
    # channel takes; per-entry `media` only where several recipients get different files.
    global_media = job.global_media or (job.entries[0].media if len(job.entries) == 1 else None)
    if global_media is not None:
        body["globalmedia"] = presign(global_media)
    per_entry_media = global_media is None
    if template:
        assert job.template is not None
        body["template_id"] = job.template.id
        body["language"] = job.template.language
        shared_values = _shared(tuple(e.template_values) for e in job.entries)
        if shared_values:
            body["template_globalmessage"] = list(shared_values)
        shared_header = _shared(e.template_header for e in job.entries)
        if shared_header:
            body["template_header"] = shared_header
        body["data"] = [
            _template_entry(e, presign, values=shared_values is None, header=shared_header is None, media=per_entry_media)
            for e in job.entries
        ]
        return body
    shared_message = _shared(entry.message for entry in job.entries)
    body["globalmessage"] = shared_message or ""
    if job.media_name:
        body["media_name"] = job.media_name
    if job.voice:
        body["voice"] = 1
    body["data"] = [_data_entry(e, presign, include_message=shared_message is None, media=per_entry_media) for e in job.entries]
    return body


def _shared(values: Any) -> Any:
    """The one value every entry has, or None when they differ."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _data_entry(entry: Entry, presign: Callable[[Any], str], include_message: bool, media: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"number": entry.number, "message": entry.message if include_message else ""}
    if media and entry.media is not None:
        data["media"] = presign(entry.media)
    # the caller's reference, else our recipient id: what a delivery report is matched back by
    data["reference_number"] = entry.reference or entry.rid
    return data


def _template_entry(entry: Entry, presign: Callable[[Any], str], values: bool, header: bool, media: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"number": entry.number}
    if values and entry.template_values:
        data["template_message"] = list(entry.template_values)
    if header and entry.template_header:
        data["template_header"] = entry.template_header
    if media and entry.media is not None:
        data["media"] = presign(entry.media)
    data["reference_number"] = entry.reference or entry.rid
    return data


class AnswerTooLarge(httpx.HTTPError):
    """An answer over MAX_ANSWER_BYTES: not read further (the request may have been taken)."""

    def __init__(self, http_status: int, cap: int) -> None:
        super().__init__(f"answered HTTP {http_status} with more than {cap:,} bytes")
        self.http_status = http_status


class PushApiClient:
    def __init__(
        self,
        url: str,
        token: Callable[[], str],
        http: httpx.Client | None = None,
        deadline_seconds: float = DEADLINE_SECONDS,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.url = url
        self._token = token
        self._http = http or vendor_client(TIMEOUT)
        self.deadline_seconds = deadline_seconds
        self.max_answer_bytes = max_answer_bytes

    def push(self, body: dict[str, Any]) -> PushResult:
        """POST one request: done (answer read and parsed) within `deadline_seconds` in all,
        reading at most `max_answer_bytes` of the answer; beyond either, the request may have been
        taken and its answer is lost: TransportError(sent=True), an ambiguous outcome."""
        payload = {**body, "token": self._token()}
        try:
            with deadline(self.deadline_seconds) as until:
                status, content = self._exchange(payload, until)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
            raise TransportError(f"could not reach the Push API: {type(exc).__name__}") from None
        except AnswerTooLarge as exc:
            raise TransportError(f"Push API {exc}: not read; it may have been taken", http_status=exc.http_status, sent=True) from None
        except httpx.TimeoutException as exc:
            raise TransportError(
                f"no answer from the Push API within {self.deadline_seconds:g}s: {type(exc).__name__}", sent=True
            ) from None
        except httpx.HTTPError as exc:  # the request may have arrived: an ambiguous outcome
            raise TransportError(f"Push API exchange failed: {type(exc).__name__}", sent=True) from None
        if status == 429 or status >= 500:  # not taken: retried, not ambiguous
            raise TransportError(f"Push API answered HTTP {status}", http_status=status)
        try:
            result = PushResult.model_validate_json(content)
        except ValidationError:
            result = None
        if 300 <= status < 500 and (result is None or status == 404):
            # HTTP 404 is the URL's answer, whatever the body: the vendor's "unable to communicate
            # with your phone" is its status 404 in a normal (2xx) answer
            raise HttpRefused(
                f"Push API answered HTTP {status} without a push result: check PickyApiUrl ({self.url}) and"
                " any firewall/WAF between the relay and the vendor; nothing was sent",
                http_status=status,
            )
        if result is None:
            raise TransportError(
                f"Push API answered HTTP {status} with a body that is not a push result",
                http_status=status,
                sent=True,
            )
        return result

    def _exchange(self, payload: dict[str, Any], until: float) -> tuple[int, bytes]:
        """Status and body, read in chunks with the deadline checked between them (the transport
        also bounds each socket read by it; a plain httpx client gets the between-chunk check)."""
        with self._http.stream("POST", self.url, json=payload) as resp:
            if resp.status_code == 429 or resp.status_code >= 500:
                return resp.status_code, b""  # not taken: its body is not needed
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_answer_bytes:
                raise AnswerTooLarge(resp.status_code, self.max_answer_bytes)
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > self.max_answer_bytes:
                    raise AnswerTooLarge(resp.status_code, self.max_answer_bytes)
                chunks.append(chunk)
                if time.monotonic() > until:
                    raise httpx.ReadTimeout("the request's total deadline passed")
            return resp.status_code, b"".join(chunks)

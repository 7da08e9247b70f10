"""The Push API stand-in's WhatsApp 24-hour window: who wrote when, and what the "vendor" posts back.

With `session_window=True` the stand-in behaves as WhatsApp does through the vendor
(picky-assist-api.md, "Template messages", [unofficial]): a free-form message (no `template_id`)
on a session channel (default 8) to a number that sent no message in the last 24 hours is
ACCEPTED (status 100, ids as usual) and then FAILED by a delivery report:

    {"project_id": "<project>", "event_id": 1, "data": [{"push_id", "number", "msg_id",
     "status": 2, "reference_number", "error_code": "131047", "error_message": "Re-engagement message",
     "channel_id": 8}]}

posted to `relay_url + /events/<events_secret>`, one call per push request. With
`deliver_reports=True` the other accepted messages get a report with status 1 (delivered).

Reports are QUEUED, not posted at once, so tests are deterministic: `standin.post_reports()` (or
`POST /_reports`) posts what is queued and returns what the relay answered. With
`report_delay=<seconds>` a background timer also posts them that long after each answer (for
`relay serve` users); tests leave it off.

The window remembers, per channel and number, when the customer last wrote: `customer_writes()`
(in-process) or `POST /_inbound` (`{number, application?, message?, minutes_ago?, post?}`) records
it and posts the vendor's Global Webhook body (picky-assist-api.md, "Inbound webhook") to
`relay_url + /inbound/<events_secret>`. That body carries no time (the vendor's has none), so the
relay takes its arrival time: `minutes_ago` moves only the stand-in's memory. A test that needs the
relay to see an old message seeds its ledger instead (`post=False`).
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

log = logging.getLogger("relay.standin")

WINDOW_SECONDS = 24 * 3600
CLOSED_WINDOW_CODE = "131047"
CLOSED_WINDOW_MESSAGE = "Re-engagement message"
DELIVERY_REPORT = 1
FAILED, DELIVERED = 2, 1
PROJECT_ID = "1001"
#: the inbound webhook's `type`, as in the vendor's example (its meaning is not documented)
INBOUND_TYPE = "2"


@dataclass
class Posted:
    """One call the stand-in made to the relay: the path (the secret masked), what it sent and got."""

    path: str
    body: dict[str, Any]
    status: int | None  # None: the relay could not be reached
    answer: Any = None
    error: str | None = None


class SessionWindow:
    """Per (channel, number): unix seconds of the customer's last message. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}

    def record(self, channel: str, number: str, at: float) -> None:
        with self._lock:
            key = (channel, number)
            self._last[key] = max(at, self._last.get(key, at))

    def last(self, channel: str, number: str) -> float | None:
        with self._lock:
            return self._last.get((channel, number))

    def is_open(self, channel: str, number: str, now: float) -> bool:
        last = self.last(channel, number)
        return last is not None and now - last < WINDOW_SECONDS

    def clear(self) -> None:
        with self._lock:
            self._last.clear()


class RelayPoster:
    """Posts JSON to the relay's vendor-facing routes; remembers every call (`posted`)."""

    def __init__(self, relay_url: str | None = None, events_secret: str | None = None) -> None:
        self.relay_url = relay_url.rstrip("/") if relay_url else None
        self.events_secret = events_secret
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._posted: list[Posted] = []
        # the vendor's unique-ids are digits; a random start keeps two stand-ins (two `relay serve`
        # runs against one stack) from posting the same id, which the relay would take as a re-post
        self._unique = itertools.count(random.randrange(10**8, 9 * 10**8))

    @property
    def enabled(self) -> bool:
        return bool(self.relay_url and self.events_secret)

    def next_unique_id(self) -> str:
        return str(next(self._unique))

    def queue_report(self, report: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append(report)

    @property
    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._pending)

    @property
    def posted(self) -> list[Posted]:
        with self._lock:
            return list(self._posted)

    def flush(self) -> list[Posted]:
        """Post every queued delivery report to `/events/<secret>`, in order; returns the calls.
        Without a relay_url/events_secret the reports stay queued."""
        if not self.enabled:
            return []
        with self._lock:
            reports, self._pending = self._pending, []
        return [self.post("events", report) for report in reports]

    def post(self, route: str, body: dict[str, Any]) -> Posted:
        """POST `body` to `relay_url/<route>/<secret>`. The secret is never logged or recorded."""
        assert self.relay_url and self.events_secret
        shown = f"/{route}/***"
        try:
            response = httpx.post(f"{self.relay_url}/{route}/{quote(self.events_secret, safe='')}", json=body, timeout=30.0)
        except httpx.HTTPError as exc:
            call = Posted(shown, body, None, error=type(exc).__name__)
        else:
            try:
                answer: Any = response.json()
            except ValueError:
                answer = response.text[:500]
            call = Posted(shown, body, response.status_code, answer)
        log.debug("stand-in posted %s -> %s", shown, call.status)
        with self._lock:
            self._posted.append(call)
        return call

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._posted.clear()


def inbound_body(number: str, channel: str, message: str, unique_id: str, name: str = "Customer") -> dict[str, Any]:
    """The vendor's Global Webhook body for one incoming text message (picky-assist-api.md)."""
    return {
        "number": number,
        "message-in": quote_plus(message),
        "message_in_raw": message,
        "application": channel,
        "type": INBOUND_TYPE,
        "media-url": "",
        "project-id": PROJECT_ID,
        "unique-id": unique_id,
        "direction": 0,  # incoming (1: the vendor's echo of an outgoing message)
        "name": name,
    }


def delivery_report(channel: str, push_id: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One Event Webhook call with a report per row (`number`, `msg_id`, `reference_number`, `status`)."""
    data = []
    for row in rows:
        entry: dict[str, Any] = {
            "push_id": push_id,
            "number": row["number"],
            "msg_id": row["msg_id"],
            "status": row["status"],
            "reference_number": row.get("reference_number") or "",
            "channel_id": int(channel),
        }
        if row["status"] == FAILED:
            entry["error_code"] = CLOSED_WINDOW_CODE
            entry["error_message"] = CLOSED_WINDOW_MESSAGE
        data.append(entry)
    return {"project_id": PROJECT_ID, "event_id": DELIVERY_REPORT, "data": data}


def reports_for(
    body: dict[str, Any], answer: dict[str, Any], channel: str, window: SessionWindow, deliver: bool, now: float
) -> dict[str, Any] | None:
    """The delivery report an accepted push earns, or None: each free-form message to a number whose
    window is closed fails with 131047; with `deliver`, the others are delivered."""
    free_form = not body.get("template_id")
    rows = []
    for entry, result in zip(body.get("data") or [], answer.get("data") or [], strict=False):
        number = str(entry.get("number"))
        closed = free_form and not window.is_open(channel, number, now)
        if not closed and not deliver:
            continue
        rows.append(
            {
                "number": result.get("number"),
                "msg_id": result.get("msg_id"),
                "reference_number": entry.get("reference_number"),
                "status": FAILED if closed else DELIVERED,
            }
        )
    return delivery_report(channel, answer.get("push_id"), rows) if rows else None


def minutes_ago_time(minutes_ago: object) -> float:
    if isinstance(minutes_ago, bool) or not isinstance(minutes_ago, int | float) or minutes_ago < 0:
        raise ValueError("minutes_ago must be a number >= 0")
    return time.time() - float(minutes_ago) * 60.0

"""The vendor's Global Webhook (incoming messages) → the customers' 24-hour windows (POST /inbound/{secret}).

WhatsApp lets a business send free-form messages only within 24 hours of the customer's last message
(relay.templates decides the form at send time from `Ledger.last_inbound`). Each incoming message
moves that customer's window item (per channel and number) to the time the relay received it.

Decisions (README, "WhatsApp's 24-hour window"):
- **Only on SESSION_CHANNELS.** The Global Webhook carries every channel (Messenger and Instagram
  too, whose `number` is no phone number): a message on a channel where the window does not apply
  is answered 200 `recorded: false` with the reason, and stores nothing (not a 422: it is a valid
  message the vendor must not retry).
- **The number** is normalised exactly as the planner normalises recipients (relay.numbers), so
  the window key is the one the sender looks up. On a session channel a number that cannot be
  normalised is a 422 naming `number`: such a body can never become valid, and the vendor's
  retries (1 min, 15 min, 2 h, 6 h) then stop by themselves.
- **The channel** is `application` as an integer (the vendor sends it as text or number); a body
  without one is taken as the relay's own channel (PICKY_APPLICATION), the one it sends on.
- **The time** is when the relay received the message (the body carries none), never the vendor's.
- **Idempotent by `unique-id`** (within `project-id`): a re-post is answered `recorded: false` and
  does not move the window, whatever time it arrives. A body without `unique-id` gets a stable id
  from the hash of its canonical JSON, so an identical re-post is still recognised.
- **Only incoming messages open the window.** `direction` 0 (or absent) is incoming; 1 is the
  vendor's "outbound" echo (WhatsApp Web Automation, when enabled in its settings). Any other value
  is not trusted to be the customer's: it is answered `recorded: false` and changes nothing (a
  window wrongly open would send a free-form message WhatsApp then fails; a template always goes).
- **What is kept**: the number, channel, message type, direction, the sender's name (cut to
  NAME_KEEP characters) and the project; never the message text, media URL or button payload:
  the window needs only the time, and the relay is no message archive (privacy, item size).
  Both items expire by the table's TTL (relay.ledger.INBOUND_KEEP_SECONDS, a week) after the
  message: the dedupe item outlives the vendor's last retry; a week-old window is no window.
  (moto, locally, records the TTL setting but never deletes expired items.)
- **The answer** is 200 `{"recorded": true|false, "reason"?}` and nothing else: the vendor reads a
  JSON answer to its webhook as an instant reply to the customer, so it carries no reply field.
  (Refusals, 404 wrong secret / 413 / 422, carry `{"message": …}` as every API error does; they are
  not 200, so the vendor treats them as failed deliveries, not replies: our assumption.)
- **The secret** is /events' (EVENTS_SECRET / EventsSecretParameter), checked in constant time before
  the body is read; a wrong one is a 404, as on /events.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from relay.ledger import Ledger
from relay.numbers import InvalidNumber, normalize_number

#: how much of the sender's display name is kept (the vendor's own field; not needed for the window)
NAME_KEEP = 100
#: `direction` values that mean the customer wrote (the vendor documents 0 = inbound, 1 = outbound)
INCOMING = frozenset({"", "0", "in", "inbound", "incoming"})
#: a unique-id or project-id longer than this is not the vendor's (keys stay small)
MAX_ID = 100


def _text(value: object) -> object:
    """Ids and codes arrive as text or numbers: keep them as text (a bool is neither)."""
    if isinstance(value, bool):
        raise ValueError("must be text or a number")
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, int) or value.is_integer() else str(value)
    return value


class InboundMessage(BaseModel):
    """One Global Webhook body. Only what the window needs is checked; other fields (the vendor
    adds some: `contact`, `Location`, `interactive`, custom variables) are tolerated and dropped."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    number: str
    application: str | None = None
    type: str | None = Field(default=None, max_length=20)
    direction: str | None = Field(default=None, max_length=20)
    name: str | None = None
    project_id: str | None = Field(default=None, alias="project-id", max_length=MAX_ID)
    unique_id: str | None = Field(default=None, alias="unique-id", max_length=MAX_ID)
    # documented by the vendor, read by nobody here: named so that the model says what arrives
    message_in: Any = Field(default=None, alias="message-in", exclude=True)
    message_in_raw: Any = Field(default=None, exclude=True)
    media_url: Any = Field(default=None, alias="media-url", exclude=True)
    context_msg_id: Any = Field(default=None, alias="context-msg-id", exclude=True)
    payload: Any = Field(default=None, exclude=True)

    @field_validator("application", "type", "direction", "project_id", "unique_id", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        return _text(value)

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        value = _text(value)
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            raise ValueError("must be the sender's number (text or digits, at most 64 characters)")
        return value

    @field_validator("application")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not (value.isascii() and value.isdigit() and 0 < int(value) < 10**6):
            raise ValueError("must be the channel's number (e.g. 8 for WhatsApp Official)")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return value[:NAME_KEEP] if value else value


class InboundRefused(ValueError):
    """A message the relay must track that can never be recorded (HTTP 422 naming `field`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class InboundOutcome:
    recorded: bool
    reason: str | None = None


def body_id(raw: bytes) -> str:
    """A stable id for a body without `unique-id`: its canonical JSON's hash, so a re-post of the
    same body (same number, text, time fields) is recognised."""
    canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def record_message(
    ledger: Ledger,
    message: InboundMessage,
    raw: bytes,
    default_channel: int,
    session_channels: frozenset[int] = frozenset({8}),
    now: float | None = None,
) -> InboundOutcome:
    """Record one incoming message (at `now`, the time received); see the module's decisions."""
    direction = (message.direction or "").lower()
    if direction not in INCOMING:
        return InboundOutcome(False, "not an incoming message (direction is not 0): only the customer's own messages open the window")
    channel = int(message.application) if message.application else default_channel
    if channel not in session_channels:
        return InboundOutcome(False, f"the 24-hour window is not tracked on channel {channel} (SESSION_CHANNELS)")
    try:
        number = normalize_number(message.number)
    except InvalidNumber:
        raise InboundRefused("number", "must be the sender's full international number: 8 to 15 digits, no leading 0") from None
    unique_id = message.unique_id or body_id(raw)
    project = message.project_id or "-"
    fields = {"type": message.type, "direction": message.direction, "name": message.name, "project": message.project_id}
    at = time.time() if now is None else now
    if ledger.record_inbound(channel, number, at, project, unique_id, fields):
        return InboundOutcome(True)
    return InboundOutcome(False, "this unique-id was recorded before (a re-post)")

"""The vendor's Event Webhook (POST /events/{secret}) → ledger updates.

A delivery report (event_id 1) carries `data[]`, one entry per message, with the vendor's `status`:
0 unknown, 1 delivered, 2 failed, 3 read, 4 submitted, 5 refunded (a failure). Each entry is found
in the ledger by `msg_id` (index ByVendorId), else by `reference_number` + `number` (index
ByReference), and its recipient item moves forward only:

    submitted/accepted → delivered → read        submitted/accepted/delivered → failed

`read`, `failed`, `rejected`, `expired` and `planned` never change by a webhook. The rule is
enforced by a DynamoDB condition on `state`, so replays, out-of-order reports and concurrent
calls cannot regress an item (the moves: relay.lifecycle). Statuses 0 and 4 do not move `state`;
they are recorded as `delivery_status` while nothing better is known. Entries that match no
recipient, and events that are not delivery reports, are stored as they came (`unmatched_event` /
`other_event` items, relay.ledger): nothing is silently dropped.

A report that fails a free-form message because WhatsApp's 24-hour window was closed (131047) may
earn the recipient one template send (relay.fallback: the rule, and why never more than one).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from relay.ledger import Ledger
from relay.lifecycle import REPORT_STATUS_ONLY_FROM, RecipientState, report_allowed_from
from relay.models import utc_now
from relay.observability import count
from relay.templates import closed_window_failure

if TYPE_CHECKING:
    from relay.template_fallbacks import TemplateFallbacks

DELIVERY_REPORT = 1

#: vendor status → the state it moves a recipient to (absent: the status does not move `state`).
STATE_FOR_STATUS: dict[int, RecipientState] = {
    1: RecipientState.DELIVERED,
    2: RecipientState.FAILED,
    3: RecipientState.READ,
    5: RecipientState.FAILED,  # refunded: the message was not delivered and the credit came back
}
#: the metric a recipient's move counts in (the dashboard's "Recipients" widgets). Counted only when
#: the ledger's condition let the move happen, so replays and late reports count nothing. A report
#: that jumps accepted → read counts RecipientsRead only: RecipientsDelivered counts the reports of
#: delivery that arrived, not every message that was delivered.
METRIC_FOR_STATE: dict[RecipientState, str] = {
    RecipientState.DELIVERED: "RecipientsDelivered",
    RecipientState.READ: "RecipientsRead",
    RecipientState.FAILED: "RecipientsFailed",
}
#: for such a status, the earlier `delivery_status` values it may replace (besides none at all):
#: 4 (submitted) says more than 0 (unknown); nothing replaces 4.
_STATUS_ONLY_REPLACES: dict[int, tuple[int, ...]] = {4: (0,)}

#: most characters of a raw event kept on its item (items stop at 400 KB).
MAX_RAW = 100_000
#: keys never stored from a raw event, whatever the vendor sends.
_SECRET_KEYS = frozenset({"token", "secret", "password", "api_key", "apikey", "authorization"})


# -- the vendor's body ------------------------------------------------------------------------------
def _text(value: object) -> object:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class DeliveryEntry(BaseModel):
    """One `data[]` element of an event. Ids and numbers may come as integers: kept as strings.
    Fields newer accounts add (message, message_type, media, channel_id …) are kept as extras."""

    model_config = ConfigDict(extra="allow")

    push_id: str | None = None
    number: str | None = None
    msg_id: str | None = None
    status: int
    reference_number: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    _coerce = field_validator("push_id", "number", "msg_id", "reference_number", "error_code", "error_message", mode="before")(
        lambda cls, v: _text(v)
    )

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> object:
        return int(value.strip()) if isinstance(value, str) and value.strip().isdigit() else value


class VendorEvent(BaseModel):
    """The Event Webhook body: `data` is a list of entries (a single object is accepted too)."""

    model_config = ConfigDict(extra="allow")

    project_id: str | None = None
    event_id: int
    data: list[DeliveryEntry] = Field(default_factory=list)

    _coerce = field_validator("project_id", mode="before")(lambda cls, v: _text(v))

    @field_validator("event_id", mode="before")
    @classmethod
    def _event_id(cls, value: object) -> object:
        return int(value.strip()) if isinstance(value, str) and value.strip().isdigit() else value

    @field_validator("data", mode="before")
    @classmethod
    def _data(cls, value: object) -> object:
        if value in (None, "", {}):
            return []
        return [value] if isinstance(value, dict) else value


@dataclass
class StatusReport:
    """What one webhook call did. For a delivery report, updated + unchanged + unmatched == received;
    an event that is not a delivery report counts 1 in `ignored` (its entries in `received` only)."""

    received: int = 0
    updated: int = 0
    unchanged: int = 0
    unmatched: int = 0
    ignored: int = 0


# -- the rules (pure) -----------------------------------------------------------------------------
def target_state(vendor_status: int) -> RecipientState | None:
    """The state a vendor status moves a recipient to; None for 0 (unknown), 4 (submitted), unknown codes."""
    return STATE_FOR_STATUS.get(vendor_status)


def allowed_from(target: str) -> tuple[str, ...]:
    """The states from which `target` may be reached by a webhook (empty: never; relay.lifecycle)."""
    return tuple(str(s) for s in report_allowed_from(target))


def next_state(current: str, vendor_status: int) -> str | None:
    """The new state when the report moves `current` forward; None when it changes no state."""
    target = target_state(vendor_status)
    if target is None or current not in allowed_from(target):
        return None
    return str(target)


def status_only_replaces(vendor_status: int) -> tuple[int, ...]:
    """For a status that does not move `state`: which earlier `delivery_status` it may overwrite."""
    return _STATUS_ONLY_REPLACES.get(vendor_status, ())


#: most characters of the vendor's error code / message kept in `reason` (the fields themselves are kept whole)
MAX_REASON_PART = 500


def failure_reason(vendor_status: int, error_message: str | None, error_code: str | None = None) -> str:
    """What a failed delivery report says, for people: the status, the vendor's (WhatsApp's) error
    code when it sent one, and its text, e.g. "vendor delivery status 2: error 131047: Re-engagement
    message". The code and the text are also kept as they came in `error_code` / `error_message`."""
    code = f"error {error_code[:MAX_REASON_PART]}: " if error_code else ""
    return f"vendor delivery status {vendor_status}: {code}{(error_message or 'failed')[:MAX_REASON_PART]}"


# -- applying an event --------------------------------------------------------------------------
def apply_event(ledger: Ledger, event: VendorEvent, fallbacks: TemplateFallbacks | None = None) -> StatusReport:
    """`fallbacks`: where a closed-window failure plans its template fallback (None: not planned)."""
    report = StatusReport(received=len(event.data))
    if event.event_id != DELIVERY_REPORT:
        report.ignored = 1
        ledger.keep_other_event({"event_id": event.event_id, "project_id": event.project_id, "raw": _raw(event.model_dump(mode="json"))})
        return report
    for n, entry in enumerate(event.data):
        outcome = _apply_entry(ledger, entry, fallbacks)
        if outcome is None:
            report.unmatched += 1
            _keep_unmatched(ledger, event, entry, n)
        elif outcome:
            report.updated += 1
        else:
            report.unchanged += 1
    return report


def _apply_entry(ledger: Ledger, entry: DeliveryEntry, fallbacks: TemplateFallbacks | None = None) -> bool | None:
    """True: applied; False: matched but not a forward move (replay, late, final state); None: no match."""
    keys = ledger.recipients_by_msg_id(entry.msg_id) if entry.msg_id else []
    if not keys and entry.reference_number:
        keys = _match_by_reference(ledger, entry)
    if not keys:
        return None
    target = target_state(entry.status)
    now = utc_now()
    fields: dict[str, Any] = {"delivery_status": entry.status, "delivery_at": now, "at": now}
    if target is RecipientState.FAILED:
        fields |= {
            "error_code": entry.error_code,
            "error_message": entry.error_message,
            "reason": failure_reason(entry.status, entry.error_message, entry.error_code),
        }
    applied = False
    for pk, sk in keys:
        if target is not None:
            ok = ledger.apply_delivery(pk, sk, str(target), allowed_from(target), fields)
            if ok:
                count(METRIC_FOR_STATE[target])
        else:
            ok = ledger.apply_delivery(
                pk,
                sk,
                None,
                [str(s) for s in REPORT_STATUS_ONLY_FROM],
                fields,
                delivery_status_from=status_only_replaces(entry.status),
            )
        applied = applied or ok
    if fallbacks is not None and target is RecipientState.FAILED and closed_window_failure(entry.error_code, entry.error_message):
        # also when the state did not move now: a report replayed after a crash still plans it (once)
        for pk, sk in keys:
            fallbacks.consider(pk, sk)
    return applied


def _digits(number: str | None) -> str:
    return re.sub(r"\D", "", number or "")


def _match_by_reference(ledger: Ledger, entry: DeliveryEntry) -> list[tuple[str, str]]:
    """The one recipient with this reference and number; none when there are several or none.
    A recipient that already has a different msg_id is another message, never this one."""
    number = _digits(entry.number)
    if not number or entry.reference_number is None:
        return []
    found = []
    for pk, sk in ledger.recipients_by_reference(entry.reference_number):
        item = ledger.recipient(pk, sk)
        if item is None or _digits(item.number) != number:
            continue
        if entry.msg_id and item.msg_id not in (None, entry.msg_id):
            continue
        found.append((pk, sk))
    return found if len(found) == 1 else []


def _keep_unmatched(ledger: Ledger, event: VendorEvent, entry: DeliveryEntry, n: int) -> None:
    # the documented fields on the item; everything as it came (extras included) under `raw`, so no
    # vendor field can land on an index key attribute
    ledger.keep_unmatched_event(
        entry.msg_id or entry.reference_number or entry.number or "unknown",
        n,
        entry.msg_id,
        {
            **{name: getattr(entry, name) for name in DeliveryEntry.model_fields},
            "raw": _raw(entry.model_dump(mode="json")),
            "event_id": event.event_id,
            "project_id": event.project_id,
        },
    )


def _raw(value: Any) -> str:
    """The event as it came, as JSON text: any number DynamoDB could not hold stays as written,
    and a huge event is cut at MAX_RAW characters rather than refused."""
    text = json.dumps(_clean(value), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= MAX_RAW else text[:MAX_RAW] + "…(cut)"


def _clean(value: Any) -> Any:
    """What DynamoDB can store: no None (inside lists too), no secret-looking keys."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if v is not None and str(k).lower() not in _SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value if v is not None]
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)

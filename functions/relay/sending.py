"""Sender logic: one PushJob → one Push API request → ledger outcome.

Seams for "never lose, never duplicate, never exceed" (rate limiter, send claims, ambiguous
outcomes) are the `before_send` hook and the TransportError.sent flag.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from relay.ledger import Ledger, push_item, recipient_item
from relay.models import MediaRef, PushJob, State
from relay.pushapi import RETRYABLE_VENDOR_STATUSES, PushApiClient, PushResult, TransportError, build_request


class Deferred(Exception):
    """The job must wait: put it back on the queue for `seconds`."""

    def __init__(self, seconds: int, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason


class RetryLater(Exception):
    """A failure a later try can fix (transport error, vendor 101): the queue redelivers."""


@dataclass(frozen=True)
class SendOutcome:
    job_id: str
    state: State
    push_id: str | None
    vendor_status: int | None
    vendor_message: str


class Sender:
    def __init__(
        self,
        api: PushApiClient,
        ledger: Ledger,
        presign: Callable[[MediaRef], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.ledger = ledger
        self.presign = presign
        self.clock = clock

    def send(self, job: PushJob) -> SendOutcome:
        now = self.clock()
        if job.expires_at is not None and now >= job.expires_at:
            return self._expire(job)
        if job.not_before is not None and job.not_before > now + 0.5:
            seconds = int(job.not_before - now + 0.999)
            raise Deferred(seconds, f"job {job.job_id} waits {seconds}s for its slot")
        body = build_request(job, self.presign)
        self.ledger.put(push_item(job, State.SUBMITTED))
        try:
            result = self.api.push(body)
        except TransportError as exc:
            self.ledger.put(push_item(job, State.SUBMITTED, last_error=exc.reason, ambiguous=exc.sent or None))
            raise RetryLater(exc.reason) from None
        if result.status in RETRYABLE_VENDOR_STATUSES:
            self.ledger.put(push_item(job, State.SUBMITTED, vendor_status=result.status, vendor_message=result.message))
            raise RetryLater(f"vendor status {result.status}: {result.message}")
        return self._record(job, result)

    def _expire(self, job: PushJob) -> SendOutcome:
        """Too late to be useful (an OTP an hour late is worse than none): recorded, never sent."""
        reason = f"expired at {datetime.fromtimestamp(job.expires_at or 0, UTC).isoformat(timespec='seconds')} before it was sent"
        items = [recipient_item(job, entry, State.EXPIRED, reason=reason) for entry in job.entries]
        self.ledger.put_many([*items, push_item(job, State.EXPIRED, reason=reason)])
        return SendOutcome(job.job_id, State.EXPIRED, None, None, reason)

    def _record(self, job: PushJob, result: PushResult) -> SendOutcome:
        vendor = {"vendor_status": result.status, "vendor_message": result.message}
        if result.accepted:
            state = State.ACCEPTED
            ids = _match_ids(job, result)
            items = []
            for entry in job.entries:
                msg_id, credit = ids.get(entry.rid, (None, None))
                items.append(
                    recipient_item(
                        job, entry, state, push_id=result.push_id, msg_id=msg_id, credit=credit,
                        vendor_pk=f"MSG#{msg_id}" if msg_id else None, **vendor,
                    )
                )
            push = push_item(job, state, push_id=result.push_id, vendor_pk=f"PID#{result.push_id}" if result.push_id else None, **vendor)
        else:
            state = State.FAILED
            reason = f"vendor status {result.status}: {result.message}"
            items = [recipient_item(job, entry, state, reason=reason, **vendor) for entry in job.entries]
            push = push_item(job, state, reason=reason, **vendor)
        self.ledger.put_many([*items, push])
        return SendOutcome(job.job_id, state, result.push_id, result.status, result.message)


def _match_ids(job: PushJob, result: PushResult) -> dict[str, tuple[str | None, str | None]]:
    """msg_id and credit per entry: by position when the vendor echoes our numbers in order,
    else by number (the n-th answer for a number goes to the n-th entry with it)."""
    data = result.data
    if len(data) == len(job.entries) and all(d.number in (None, e.number) for d, e in zip(data, job.entries, strict=True)):
        return {e.rid: (d.msg_id, d.credit) for d, e in zip(data, job.entries, strict=True)}
    by_number: dict[str, deque] = defaultdict(deque)
    for d in data:
        if d.number is not None:
            by_number[d.number].append(d)
    matched = {}
    for entry in job.entries:
        if by_number[entry.number]:
            d = by_number[entry.number].popleft()
            matched[entry.rid] = (d.msg_id, d.credit)
    return matched

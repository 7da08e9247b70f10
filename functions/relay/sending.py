"""Sender logic: one Job → at most one Push API request at a time → ledger outcome.

Guarantees (README, "Never lose, never duplicate, never exceed"):
- a job is sent only by whoever holds its claim (a conditional write on its push item); a second
  delivery of the same job finds the claim, or the final state, and sends nothing;
- a request goes out only with a slot from the shared rate limiter;
- a request whose answer never came (timeout after it left) is `ambiguous`: never re-sent
  blindly, settled by the vendor's delivery report (matched by reference_number);
- a job is claimed only when the invocation has the time to finish its send (else it is put back);
- an HTTP 3xx/4xx answer that is not a push result (wrong URL, a WAF) fails the job, dead-letters it
  and alarms (VendorHttpErrors): answered, so not ambiguous; not taken, so redriven once fixed;
- what a retry can fix (HTTP 429/5xx, connection errors, vendor 101 and 404) is retried with backoff, at
  most MAX_SEND_ATTEMPTS times; then every recipient is `failed` with the last reason and the job
  goes to the dead-letter queue, as do jobs the vendor refused for account reasons (401, 403, 405,
  408, 409): `relay redrive` sends them again once the cause is fixed;
- 406 (invalid number) on a request for several recipients splits it into one job per recipient,
  so only the bad number is rejected;
- a job with a template and no fixed form gets each recipient's form decided just before its
  request (relay.form_choice: the customers' windows are read then, once per job): sent in that
  form, split into one job per form (no vendor request, no rate-limit slot), or skipped.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from relay.channels import one_recipient_per_request
from relay.form_choice import FormPlan, needs_decision, needs_windows, plan_forms, split_by_form, with_form
from relay.ledger import JobRecord, Ledger
from relay.lifecycle import FINAL_JOB_STATES, JobState, RecipientState
from relay.models import Job, MediaRef, short_hash, utc_now
from relay.pushapi import (
    RETRYABLE_VENDOR_STATUSES,
    HttpRefused,
    PushApiClient,
    PushResult,
    TransportError,
    build_request,
)
from relay.ratelimit import RateLimiter
from relay.sendqueue import SendQueue

#: vendor answers about the account, not the message: stop, alarm, keep the job for a redrive
ACCOUNT_STATUSES = frozenset({401, 403, 405, 408, 409})
INVALID_NUMBER = 406


class Deferred(Exception):
    """The job must wait: put it back on the queue for `seconds`."""

    def __init__(self, seconds: int, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason


class RetryLater(Exception):
    """A failure a later try can fix: the queue redelivers it after a backoff (by `attempt`)."""

    def __init__(self, reason: str, attempt: int = 1) -> None:
        super().__init__(reason)
        self.attempt = attempt


@dataclass(frozen=True)
class SendOutcome:
    job_id: str
    state: str
    push_id: str | None = None
    vendor_status: int | None = None
    vendor_message: str = ""
    #: the job should be kept on the dead-letter queue (for `relay redrive`)
    dead_letter: bool = False
    #: nothing was done: another delivery of this job already did it
    duplicate: bool = False
    metrics: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SendPolicy:
    max_attempts: int = 8
    #: how long a claim protects an attempt in flight; longer than one attempt can take (the request's
    #: deadline plus the ledger writes: a claim is taken only with that much function time left)
    lease_seconds: float = 120.0
    #: a rate-limit slot this close is waited for in place; a longer wait goes back to the queue
    #: (SQS delays come in whole seconds, too coarse for a slot due in 200 ms)
    wait_in_place_seconds: float = 1.0
    #: channels that take per-recipient media in one request; on the others, such requests go one
    #: recipient at a time, spaced by the `channel_limiter` across every sender (the vendor's rule)
    dynamic_channels: frozenset[int] = frozenset({8})
    #: the function time a send needs (the request's total deadline, PUSH_TIMEOUT_SECONDS, plus the
    #: ledger writes and the presigning around it): with less left, the job is not claimed but put
    #: back on the queue for the next invocation, so a send is never cut off by the function timeout
    time_needed_seconds: float = 35.0
    #: how long a job put back for lack of function time stays invisible (the next invocation, or
    #: the other concurrent sender, takes it)
    no_time_wait_seconds: int = 0
    #: WhatsApp's 24-hour window (relay.templates): the channels it applies on (SESSION_CHANNELS),
    #: and how long before it closes the template is sent instead (SESSION_MARGIN_SECONDS)
    session_channels: frozenset[int] = frozenset({8})
    session_margin_seconds: float = 600.0


class Sender:
    def __init__(
        self,
        api: PushApiClient,
        ledger: Ledger,
        presign: Callable[[MediaRef], str],
        limiter: RateLimiter | None = None,
        queue: SendQueue | None = None,
        policy: SendPolicy | None = None,
        channel_limiter: Callable[[int], RateLimiter] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.ledger = ledger
        self.presign = presign
        self.limiter = limiter
        self.queue = queue
        self.policy = policy or SendPolicy()
        self.clock = clock
        self.sleep = sleep
        #: a one-slot limiter per channel without dynamic media (None: the planner's spacing only)
        self.channel_limiter = channel_limiter

    def send(self, job: Job, time_left: Callable[[], float] | None = None) -> SendOutcome:
        """`time_left`: seconds this invocation still has (the Lambda context's remaining time)."""
        now = self.clock()
        if job.not_before is not None and job.not_before > now + 0.5 and (job.expires_at is None or job.expires_at > now):
            seconds = int(job.not_before - now + 0.999)
            raise Deferred(seconds, f"job {job.job_id} waits {seconds}s for its time")
        if time_left is not None and (left := time_left()) < self.policy.time_needed_seconds:
            # before the claim: nothing to release, the job is simply sent by the next invocation
            raise Deferred(
                self.policy.no_time_wait_seconds,
                f"job {job.job_id} put back unclaimed: {left:.0f}s left in this invocation,"
                f" a send needs {self.policy.time_needed_seconds:g}s",
            )
        token = uuid.uuid4().hex
        attempt = self.ledger.claim_job(job.job_id, token, utc_now())
        if attempt is None:
            return self._claimed_elsewhere(job)
        if job.expires_at is not None and now >= job.expires_at:
            return self._expire(job, token)
        if not needs_decision(job):
            return self._send_claimed(job, token, attempt)
        plan = self._decide(job)
        if plan.skipped:
            self.ledger.record_skipped(job, plan.skipped)
        outcome = self._send_decided(job, token, attempt, plan)
        if not plan.skipped:
            return outcome
        return replace(outcome, metrics={**outcome.metrics, "RecipientsSkipped": len(plan.skipped)})

    def _decide(self, job: Job) -> FormPlan:
        """Each recipient's form now, from the customers' windows (one read, only when they matter)."""
        p = self.policy
        windows = (
            self.ledger.last_inbound(job.application, (e.number for e in job.entries)) if needs_windows(job, p.session_channels) else {}
        )
        return plan_forms(job, windows, self.clock(), p.session_margin_seconds, p.session_channels)

    def _send_decided(self, job: Job, token: str, attempt: int, plan: FormPlan) -> SendOutcome:
        """One form: the job goes out in it. Several: one job per form, planned and queued, this one
        `split`. None (every recipient skipped): `skipped`, nothing sent."""
        forms = [form for form, entries in plan.by_form.items() if entries]
        if not forms:
            why = f"every recipient skipped: {plan.skipped[0][1]}"
            self.ledger.set_job_state(job.job_id, JobState.SKIPPED, token, reason=why)
            return SendOutcome(job.job_id, JobState.SKIPPED, vendor_message=why)
        if len(forms) == 1:
            return self._send_claimed(with_form(job, forms[0], plan.by_form[forms[0]]), token, attempt)
        parts = split_by_form(job, plan)
        queue = self.queue
        if queue is None:  # a sender built without a queue (a tool): the job stays for one that has it
            self.ledger.put_back(job.job_id, token, attempts=attempt - 1)
            raise RuntimeError(f"job {job.job_id} needs a split by form but this sender has no send queue")
        self.ledger.split_job(job, parts)
        queue.enqueue(parts)
        sent = job.model_copy(update={"entries": [e for part in parts for e in part.entries]})
        why = "recipients get different forms: " + ", ".join(f"{len(p.entries)} {p.form}" for p in parts)
        self.ledger.finish_split(sent, token, reason=why)
        return SendOutcome(job.job_id, JobState.SPLIT, vendor_message=why)

    def _send_claimed(self, job: Job, token: str, attempt: int) -> SendOutcome:
        """The claimed job (its form known) takes its rate-limit slots and goes out."""
        limiters = self._limiters(job)
        for limiter, what, _from_sent in limiters:
            wait = limiter.acquire()
            if 0 < wait <= self.policy.wait_in_place_seconds:
                self.sleep(wait)
                wait = limiter.acquire()
            if wait > 0:
                self.ledger.put_back(job.job_id, token, attempts=attempt - 1)
                raise Deferred(max(1, int(wait + 0.999)), f"{what}: next slot in {wait:.1f}s")
        body = build_request(job, self.presign)
        try:
            result = self.api.push(body)
        except HttpRefused as exc:
            return self._http_refused(job, token, exc)
        except TransportError as exc:
            if exc.sent:
                return self._ambiguous(job, token, exc.reason)
            return self._retry_or_give_up(job, token, attempt, exc.reason, vendor_status=None)
        finally:
            for limiter, _what, from_sent in limiters:
                if from_sent:
                    limiter.restart_from_now()
        if result.status in RETRYABLE_VENDOR_STATUSES:
            return self._retry_or_give_up(
                job, token, attempt, f"vendor status {result.status}: {result.message}", vendor_status=result.status
            )
        if result.status == INVALID_NUMBER and len(job.entries) > 1 and self.queue is not None:
            return self._split(job, token, result)
        return self._record(job, token, result)

    def _limiters(self, job: Job) -> list[tuple[RateLimiter, str, bool]]:
        """The slots the job takes: (limiter, what it is, whether its window restarts once the request
        has gone out). A spaced channel's does (RateLimiter.restart_from_now): the vendor's spacing is
        about what it receives, and a cold container's first request can take most of a second from its
        slot to the vendor. The shared per-minute limit keeps counting from the grant: its window has a
        margin for that instead (RATE_WINDOW_SECONDS 61), where one more write per request would cost on
        every send."""
        limiters = []
        spaced = one_recipient_per_request(job.application, job.dynamic, self.policy.dynamic_channels)
        if spaced and self.channel_limiter is not None:
            limiters.append((self.channel_limiter(job.application), f"channel {job.application} spacing", True))
        if self.limiter is not None:
            limiters.append((self.limiter, "rate limit", False))
        return limiters

    # -- outcomes -------------------------------------------------------------------------------
    def _claimed_elsewhere(self, job: Job) -> SendOutcome:
        item = self.ledger.job(job.job_id) or JobRecord(state="")
        if item.state in FINAL_JOB_STATES:
            return SendOutcome(job.job_id, item.state, item.push_id, duplicate=True)
        claimed_at = _epoch(item.claimed_at)
        if item.state == JobState.SENDING and claimed_at is not None and self.clock() - claimed_at > self.policy.lease_seconds:
            # the attempt holding the claim died after taking it: it may have sent
            return self._ambiguous(job, str(item.claim or ""), "a send attempt stopped mid-flight; it may have been sent")
        raise Deferred(int(self.policy.lease_seconds), f"job {job.job_id} is being sent by another invocation")

    def _expire(self, job: Job, token: str) -> SendOutcome:
        """Too late to be useful (an OTP an hour late is worse than none): recorded, never sent."""
        when = datetime.fromtimestamp(job.expires_at or 0, UTC).isoformat(timespec="seconds")
        reason = f"expired at {when} before it was sent"
        self.ledger.record_outcome(job, token, RecipientState.EXPIRED, reason)
        return SendOutcome(job.job_id, JobState.EXPIRED, vendor_message=reason, metrics={"RecipientsExpired": len(job.entries)})

    def _ambiguous(self, job: Job, token: str, reason: str) -> SendOutcome:
        why = f"{reason}: maybe sent; not re-sent; the vendor's delivery report will settle it"
        self.ledger.record_outcome(job, token or None, RecipientState.AMBIGUOUS, why, job_fields={"ambiguous": True})
        return SendOutcome(job.job_id, JobState.AMBIGUOUS, vendor_message=why, metrics={"RecipientsAmbiguous": len(job.entries)})

    def _retry_or_give_up(self, job: Job, token: str, attempt: int, reason: str, vendor_status: int | None) -> SendOutcome:
        if attempt < self.policy.max_attempts:
            self.ledger.put_back(job.job_id, token, last_error=reason, vendor_status=vendor_status)
            raise RetryLater(f"attempt {attempt}/{self.policy.max_attempts}: {reason}", attempt)
        why = f"gave up after {attempt} attempts: {reason}"
        self.ledger.record_outcome(job, token, RecipientState.FAILED, why, vendor_status=vendor_status)
        return SendOutcome(
            job.job_id,
            JobState.FAILED,
            vendor_status=vendor_status,
            vendor_message=why,
            dead_letter=True,
            metrics={"RecipientsFailed": len(job.entries), "SendsGivenUp": 1},
        )

    def _http_refused(self, job: Job, token: str, exc: HttpRefused) -> SendOutcome:
        """Answered, not taken (wrong URL, a WAF): failed, kept for a redrive once fixed, alarmed."""
        self.ledger.record_outcome(job, token, RecipientState.FAILED, exc.reason, http_status=exc.http_status)
        return SendOutcome(
            job.job_id,
            JobState.FAILED,
            vendor_message=exc.reason,
            dead_letter=True,
            metrics={"RecipientsFailed": len(job.entries), "VendorHttpErrors": 1},
        )

    def _split(self, job: Job, token: str, result: PushResult) -> SendOutcome:
        """406 names no number: send each recipient alone, so that only the bad one is rejected."""
        parts = [job.model_copy(update={"job_id": short_hash(job.job_id, "split", e.rid, size=32), "entries": [e]}) for e in job.entries]
        queue = self.queue
        assert queue is not None, "send() splits only with a queue"
        self.ledger.split_job(job, parts)
        queue.enqueue(parts)
        self.ledger.finish_split(job, token, vendor_status=result.status, vendor_message=result.message)
        return SendOutcome(job.job_id, JobState.SPLIT, vendor_status=result.status, vendor_message=result.message)

    def _record(self, job: Job, token: str, result: PushResult) -> SendOutcome:
        vendor: dict[str, Any] = {"vendor_status": result.status, "vendor_message": result.message}
        if result.accepted:
            self.ledger.record_accepted(job, token, result.push_id, _match_ids(job, result), **vendor)
            form = "FormTemplate" if job.form == "template" else "FormFreeform"
            return SendOutcome(
                job.job_id,
                JobState.ACCEPTED,
                result.push_id,
                result.status,
                result.message,
                metrics={"RecipientsAccepted": len(job.entries), form: len(job.entries)},
            )
        reason = f"vendor status {result.status}: {result.message}"
        state = RecipientState.REJECTED if result.status == INVALID_NUMBER else RecipientState.FAILED
        self.ledger.record_outcome(job, token, state, reason, **vendor)
        account = result.status in ACCOUNT_STATUSES
        metric = "RecipientsRejected" if state == RecipientState.REJECTED else "RecipientsFailed"
        return SendOutcome(
            job.job_id,
            JobState(state),
            None,
            result.status,
            result.message,
            dead_letter=account,
            metrics={metric: len(job.entries), **({"VendorAccountFailures": 1} if account else {})},
        )


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _match_ids(job: Job, result: PushResult) -> dict[str, tuple[str | None, str | None]]:
    """msg_id and credit per entry: by position when the vendor echoes our numbers in order,
    else by number (the n-th answer for a number goes to the n-th entry with it)."""
    data = result.data
    if len(data) == len(job.entries) and all(d.number in (None, e.number) for d, e in zip(data, job.entries, strict=True)):
        return {e.rid: (d.msg_id, d.credit) for d, e in zip(data, job.entries, strict=True)}
    by_number: dict[str, deque[Any]] = defaultdict(deque)
    for d in data:
        if d.number is not None:
            by_number[d.number].append(d)
    matched = {}
    for entry in job.entries:
        if by_number[entry.number]:
            d = by_number[entry.number].popleft()
            matched[entry.rid] = (d.msg_id, d.credit)
    return matched

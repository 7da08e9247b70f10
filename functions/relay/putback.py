"""Putting a send job back on the queue for later: a visibility timeout, or a fresh copy.

A job waits for many reasons: its `send_at` (up to 7 days ahead), the spacing on one-recipient
channels, a rate-limit slot, a backoff after a retryable failure, another invocation's claim, or
too little time left in this invocation. SQS gives two ways to wait, each with a hard limit:

- ChangeMessageVisibility on the message in hand. SQS counts a message's visibility from its
  FIRST receive: it refuses any change that would keep it invisible beyond 12 hours
  (43,200 s) after that first receive. Every wait is also a receive, and after `maxReceiveCount`
  (24, template.yaml) receives SQS moves the message to the dead-letter queue.
- A fresh copy of the job sent to the queue with DelaySeconds (at most 900 s), the message in hand
  then acknowledged. The copy has a new 12-hour budget and a receive count of 0. It is sent FIRST:
  a crash between the two leaves two copies, and the push item's claim lets only one send.

The rule (`plan`): wait by visibility while it fits the message's remaining budget (12 h since the
first receive, less a margin for clocks and this invocation's own run) and the message has been
received fewer than RECEIVES_BEFORE_COPY times; when only part of the wait fits, wait what fits by
visibility if that is at least 15 minutes (fewer messages than a copy every 15 minutes); otherwise
send a copy delayed by min(wait, 900 s).

So `send_at` 7 days ahead costs one copy per ~12 hours: the copy comes back after 15 minutes, waits
the rest of its budget by visibility, comes back, and is copied again; each copy is received twice.
The receive count: a message is received once per wait and once per attempt. With deferrals
moved to a copy from the RECEIVES_BEFORE_COPY-th receive on (16), only invocations that crashed or
timed out holding it (no put back, no acknowledgement) can take one message from 16 to 24 receives:
8 such in a row dead-letter it, as they should (nothing else does). Send attempts are bounded by
the ledger (MAX_SEND_ATTEMPTS counts claims on the push item), not by receives, so copies do not
reset them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from relay.observability import logger

#: SQS: at most 12 hours of visibility from a message's first receive
MAX_VISIBLE_SPAN = 43_200
#: kept off that budget: clock differences and the time this invocation has run since it received
BUDGET_MARGIN = 300
#: SQS: DelaySeconds at most 15 minutes
MAX_DELAY = 900
#: from this receive on, a wait is a fresh copy (template.yaml SendQueue maxReceiveCount is 24)
RECEIVES_BEFORE_COPY = 16


@dataclass(frozen=True)
class PutBack:
    how: Literal["visibility", "copy"]
    seconds: int


def remaining_budget(attributes: dict[str, Any], now: float) -> float:
    """Seconds the message in hand may still be kept invisible (ChangeMessageVisibility's limit),
    less BUDGET_MARGIN. Without its first-receive time, its send time bounds it (a message is
    received after it is sent); without either, nothing is assumed left."""
    first = attributes.get("ApproximateFirstReceiveTimestamp") or attributes.get("SentTimestamp")
    try:
        first_s = int(str(first)) / 1000
    except (TypeError, ValueError):
        return 0.0
    return MAX_VISIBLE_SPAN - (now - first_s) - BUDGET_MARGIN


def plan(wait: float, attributes: dict[str, Any], now: float) -> PutBack:
    """How to wait `wait` seconds with the message whose SQS `attributes` are given."""
    wait = max(0, int(wait + 0.999))
    try:
        received = int(attributes.get("ApproximateReceiveCount") or 1)
    except (TypeError, ValueError):
        received = 1
    budget = int(remaining_budget(attributes, now))
    if received < RECEIVES_BEFORE_COPY:
        if wait <= budget:
            return PutBack("visibility", wait)
        if budget >= MAX_DELAY:
            return PutBack("visibility", budget)
    return PutBack("copy", min(wait, MAX_DELAY))


def put_back(sqs: Any, queue_url: str, record: dict[str, Any], wait: float, now: float) -> PutBack:
    """Carry out `plan` for an SQS record (Lambda's event shape). "visibility": the caller reports
    the record as a batch item failure; "copy": the caller acknowledges it (the copy is on the queue).
    A visibility change SQS refuses (its 12-hour rule, a stale receipt handle) becomes a copy."""
    decision = plan(wait, record.get("attributes") or {}, now)
    if decision.how == "visibility":
        try:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=decision.seconds)
            return decision
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            logger.warning("visibility change refused: the job goes back as a fresh copy", extra={"error_code": code})
            decision = PutBack("copy", min(max(0, int(wait + 0.999)), MAX_DELAY))
    sqs.send_message(QueueUrl=queue_url, MessageBody=record["body"], DelaySeconds=decision.seconds)
    return decision

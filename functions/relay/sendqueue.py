"""SQS adapter for the send queue: put PushJobs on it in batches; put a received job back for later
(relay.putback's rule), after a jittered backoff when it is a retry; keep a job on the dead-letter
queue for `relay redrive`. Everything the sender does with SQS is here."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from typing import Any

from relay.models import Job
from relay.putback import MAX_DELAY, PutBack, put_back

MAX_BATCH_ENTRIES = 10
#: SQS takes 256 KiB per message and per batch; keep a margin for attributes.
MAX_BATCH_BYTES = 240 * 1024


def backoff_seconds(attempt: int, base: int) -> int:
    """Exponential backoff with equal jitter (between half and all of the step), capped at 15 minutes.
    `attempt`: the send attempts made so far (the push item's count, not SQS receives, which
    deferrals and fresh copies also change)."""
    return int(random.uniform(0.5, 1.0) * min(900, base * 2 ** max(0, attempt - 1)))


class EnqueueError(RuntimeError):
    pass


def delay_for(job: Job, now: float) -> int:
    if job.not_before is None:
        return 0
    return max(0, min(MAX_DELAY, math.ceil(job.not_before - now)))


class SendQueue:
    def __init__(self, sqs: Any, queue_url: str, dead_letter_url: str = "") -> None:
        self._sqs = sqs
        self.url = queue_url
        #: the send queue's dead-letter queue ("" where none is configured: nothing is kept)
        self.dead_letter_url = dead_letter_url

    def put_back(self, record: dict[str, Any], seconds: float, now: float | None = None) -> PutBack:
        """Wait `seconds` with a received record (Lambda's event shape): a visibility timeout (the
        caller reports the record as a batch item failure) or a fresh delayed copy (the caller
        acknowledges it). The rule is relay.putback's."""
        return put_back(self._sqs, self.url, record, seconds, time.time() if now is None else now)

    def dead_letter(self, body: str, reason: str) -> bool:
        """Keep a job body on the dead-letter queue with its reason; False when there is none."""
        if not self.dead_letter_url:
            return False
        self._sqs.send_message(
            QueueUrl=self.dead_letter_url,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:256] or "unknown"}},
        )
        return True

    def enqueue(self, jobs: Sequence[Job], now: float | None = None) -> None:
        now = time.time() if now is None else now
        batch: list[dict[str, Any]] = []
        size = 0
        for job in jobs:
            body = job.model_dump_json(exclude_defaults=True)
            nbytes = len(body.encode())  # SQS counts UTF-8 bytes
            entry = {"Id": job.job_id[:80], "MessageBody": body, "DelaySeconds": delay_for(job, now)}
            if nbytes > MAX_BATCH_BYTES:
                raise EnqueueError(f"job {job.job_id} is {nbytes} bytes; the planner must split it")
            if batch and (len(batch) == MAX_BATCH_ENTRIES or size + nbytes > MAX_BATCH_BYTES):
                self._send(batch)
                batch, size = [], 0
            batch.append(entry)
            size += nbytes
        if batch:
            self._send(batch)

    def _send(self, entries: list[dict[str, Any]]) -> None:
        for _attempt in range(3):
            resp = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            failed = {f["Id"] for f in resp.get("Failed", [])}
            if not failed:
                return
            entries = [e for e in entries if e["Id"] in failed]
        raise EnqueueError(f"SQS refused {len(entries)} job(s): {sorted(failed)}")

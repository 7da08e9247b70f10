"""SQS adapter: put PushJobs on the send queue in batches."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from relay.models import PushJob

MAX_BATCH_ENTRIES = 10
#: SQS takes 256 KiB per message and per batch; keep a margin for attributes.
MAX_BATCH_BYTES = 240 * 1024
MAX_DELAY = 900


class EnqueueError(RuntimeError):
    pass


def delay_for(job: PushJob, now: float) -> int:
    if job.not_before is None:
        return 0
    return max(0, min(MAX_DELAY, math.ceil(job.not_before - now)))


class SendQueue:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self.url = queue_url
        self.requests = 0

    def enqueue(self, jobs: Sequence[PushJob], now: float | None = None) -> None:
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
            self.requests += 1
            resp = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            failed = {f["Id"] for f in resp.get("Failed", [])}
            if not failed:
                return
            entries = [e for e in entries if e["Id"] in failed]
        raise EnqueueError(f"SQS refused {len(entries)} job(s): {sorted(failed)}")

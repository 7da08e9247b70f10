"""SenderFunction's batch: SQS records → push jobs → `Sender.send` → what becomes of each record.

A record's job is sent, or waits (a deferral, or a retry after a jittered backoff: put back on the
send queue, relay.sendqueue), or is kept on the dead-letter queue (not a push job, a malformed
record, a vendor refusal for account reasons, attempts run out). Malformed records follow
relay.sqs_records (the sender reports none of them: see there). Each outcome is counted and logged
here, with the job's id on its lines only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from relay.lifecycle import JobState
from relay.models import Job
from relay.observability import count, logger
from relay.sending import Deferred, RetryLater, Sender, SendOutcome
from relay.sendqueue import SendQueue, backoff_seconds
from relay.sqs_records import log_malformed, sort_records

#: outcomes logged as warnings (the others at info)
WARNED = frozenset({JobState.FAILED, JobState.AMBIGUOUS, JobState.REJECTED})


class PutBackLater(Exception):
    """The record is back on the queue with a visibility timeout: report it as a batch item failure."""


class SendRecords:
    """One per container: `run(event, context)` answers Lambda with the batch item failures."""

    def __init__(self, sender: Callable[[], Sender], queue: SendQueue, retry_base_seconds: int) -> None:
        #: built on the first well-formed job (a batch of malformed records needs no Push API client)
        self._sender = sender
        self.queue = queue
        self.retry_base_seconds = retry_base_seconds
        self.processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def run(self, event: object, context: LambdaContext | None) -> dict[str, Any]:
        checked = sort_records(event.get("Records") if isinstance(event, dict) else None, need_receipt_handle=True)
        log_malformed(logger, checked, reported=False)
        malformed = [*checked.dropped, *checked.failed]
        for bad in malformed:
            count("MalformedJobs")
            if bad.body:
                self.queue.dead_letter(bad.body, "malformed SQS record")
        with self.processor(records=checked.good, handler=self.send_record, lambda_context=context):
            self.processor.process()
        response = self.processor.response()
        logger.info(
            "batch done",
            extra={
                "records": len(checked.good),
                "malformed": len(malformed),
                "put_back_or_failed": len(response.get("batchItemFailures", [])),
            },
        )
        return dict(response)

    def send_record(self, record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
        try:
            job = Job.model_validate_json(record.body)
        except ValidationError as exc:
            # no retry can fix it: straight to the dead-letter queue, reported, never swallowed
            logger.error("not a push job: dead-lettered", extra={"message_id": record.message_id, "error": str(exc)[:500]})
            count("MalformedJobs")
            if not self.queue.dead_letter(record.body, "not a push job"):
                raise
            return
        # the job's keys are on this record's lines only (removed in `finally`, never left for the next)
        logger.append_keys(job_id=job.job_id)
        try:
            self._send_job(record, job, lambda_context)
        finally:
            logger.remove_keys(["job_id"])

    def _send_job(self, record: SQSRecord, job: Job, lambda_context: LambdaContext | None) -> None:
        time_left = (lambda: lambda_context.get_remaining_time_in_millis() / 1000) if lambda_context is not None else None
        try:
            outcome = self._sender().send(job, time_left=time_left)
        except Deferred as wait:
            count("SendDeferrals")
            self._put_back(record, wait.seconds, wait.reason)
            return
        except RetryLater as exc:
            count("SendRetries")
            delay = backoff_seconds(exc.attempt, self.retry_base_seconds)
            logger.warning("will retry", extra={"reason": str(exc), "retry_in_s": delay})
            self._put_back(record, delay, str(exc))
            return
        self._record(record, job, outcome)

    def _put_back(self, record: SQSRecord, seconds: float, why: str) -> None:
        """Wait `seconds`; raises PutBackLater when the record must be reported failed (it comes back)."""
        decision = self.queue.put_back(record.raw_event, seconds)
        if decision.how == "copy":
            logger.info("put back as a fresh copy", extra={"reason": why, "delay_s": decision.seconds, "wait_s": seconds})
            return
        raise PutBackLater(why)

    def _record(self, record: SQSRecord, job: Job, outcome: SendOutcome) -> None:
        for name, value in outcome.metrics.items():
            count(name, value)
        if outcome.vendor_status is not None and outcome.vendor_status != 100:
            count(f"VendorStatus{outcome.vendor_status}")
        if outcome.dead_letter:
            self.queue.dead_letter(record.body, outcome.vendor_message or outcome.state)
        log = logger.warning if outcome.state in WARNED else logger.info
        log(
            "sent" if not outcome.duplicate else "duplicate delivery: already handled",
            extra={
                "push_id": outcome.push_id,
                "state": outcome.state,
                "vendor_status": outcome.vendor_status,
                "recipients": len(job.entries),
                "reason": outcome.vendor_message if outcome.state != JobState.ACCEPTED else None,
            },
        )

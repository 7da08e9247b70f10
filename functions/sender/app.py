"""SenderFunction: push jobs from the send queue → Picky Assist → ledger (rules in relay.sending)."""

from __future__ import annotations

import random
import warnings
from functools import cache
from typing import Any

import httpx
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from relay import wiring
from relay.aws import client
from relay.models import PushJob
from relay.pushapi import TIMEOUT, PushApiClient
from relay.ratelimit import RateLimiter
from relay.sending import Deferred, RetryLater, Sender, SendOutcome, SendPolicy
from relay.settings import get_settings
from relay.token import token_provider

logger = Logger()
metrics = Metrics(namespace="PickyRelay")
# a batch of duplicates or deferrals has nothing to count: not worth a warning per invocation
warnings.filterwarnings("ignore", message="No application metrics to publish")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def sender() -> Sender:
    settings = get_settings()
    signer = wiring.presigner(settings)
    rate_table = settings.rate_limit_table or settings.push_log_table
    http = httpx.Client(timeout=httpx.Timeout(connect=TIMEOUT.connect, read=settings.push_timeout_seconds,
                                              write=TIMEOUT.write, pool=TIMEOUT.pool),
                        headers={"User-Agent": "picky-media-relay/0.1"})
    return Sender(
        api=PushApiClient(settings.picky_api_url, token_provider(settings), http=http),
        ledger=wiring.ledger(settings),
        presign=lambda media: signer.presign(media, settings.presign_ttl_seconds),
        limiter=RateLimiter(client("dynamodb"), rate_table, settings.rate_limit_per_minute, settings.rate_window_seconds),
        queue=wiring.send_queue(settings),
        policy=SendPolicy(max_attempts=settings.max_send_attempts, lease_seconds=settings.send_lease_seconds,
                          dynamic_channels=settings.dynamic_media_channels),
        channel_limiter=lambda application: RateLimiter(
            client("dynamodb"), rate_table, 1, settings.per_recipient_spacing_seconds, scope=f"channel-{application}"),
    )


def backoff_seconds(receive_count: int, base: int) -> int:
    """Exponential backoff with equal jitter (between half and all of the step), capped at 15 minutes."""
    return int(random.uniform(0.5, 1.0) * min(900, base * 2 ** max(0, receive_count - 1)))


def _return_to_queue(record: SQSRecord, seconds: int) -> None:
    """Visible again after `seconds` (the caller then reports a batch item failure)."""
    client("sqs").change_message_visibility(
        QueueUrl=get_settings().send_queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=max(0, min(seconds, 43_200))
    )


def _dead_letter(record: SQSRecord, outcome: SendOutcome) -> None:
    """Keep a job the vendor refused for account reasons, or that ran out of attempts, for `relay redrive`."""
    url = get_settings().send_dlq_url
    if url:
        client("sqs").send_message(
            QueueUrl=url, MessageBody=record.body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": outcome.vendor_message[:256] or outcome.state}},
        )


def send_record(record: SQSRecord) -> None:
    try:
        job = PushJob.model_validate_json(record.body)
    except ValidationError as exc:
        # no retry can fix it: straight to the dead-letter queue, reported, never swallowed
        logger.error("not a push job: dead-lettered", extra={"message_id": record.message_id, "error": str(exc)[:500]})
        metrics.add_metric(name="MalformedJobs", unit=MetricUnit.Count, value=1)
        _dead_letter(record, SendOutcome(job_id="", state="malformed", vendor_message="not a push job"))
        if not get_settings().send_dlq_url:
            raise
        return
    logger.append_keys(job_id=job.job_id)
    try:
        outcome = sender().send(job)
    except Deferred as wait:
        metrics.add_metric(name="SendDeferrals", unit=MetricUnit.Count, value=1)
        _return_to_queue(record, wait.seconds)
        raise
    except RetryLater as exc:
        metrics.add_metric(name="SendRetries", unit=MetricUnit.Count, value=1)
        delay = backoff_seconds(int(record.attributes.approximate_receive_count or 1), get_settings().retry_base_seconds)
        logger.warning("will retry", extra={"reason": str(exc), "retry_in_s": delay})
        _return_to_queue(record, delay)
        raise
    for name, value in outcome.metrics.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if outcome.vendor_status is not None and outcome.vendor_status != 100:
        metrics.add_metric(name=f"VendorStatus{outcome.vendor_status}", unit=MetricUnit.Count, value=1)
    if outcome.dead_letter:
        _dead_letter(record, outcome)
    log = logger.warning if outcome.state in ("failed", "ambiguous", "rejected") else logger.info
    log("sent" if not outcome.duplicate else "duplicate delivery: already handled",
        extra={"push_id": outcome.push_id, "state": outcome.state, "vendor_status": outcome.vendor_status,
               "recipients": len(job.entries), "reason": outcome.vendor_message if outcome.state != "accepted" else None})


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with processor(records=event.get("Records") or [], handler=send_record, lambda_context=context):
        processor.process()
    return processor.response()

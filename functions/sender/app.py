"""SenderFunction: push jobs from the send queue → Picky Assist → ledger (rules in relay.sending)."""

from __future__ import annotations

import random
import time
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
from relay.putback import put_back
from relay.ratelimit import RateLimiter
from relay.sending import Deferred, RetryLater, Sender, SendPolicy
from relay.settings import get_settings
from relay.token import token_provider
from relay.vendor_http import vendor_client

logger = Logger()
metrics = Metrics(namespace="PickyRelay")
# a batch of duplicates or deferrals has nothing to count: not worth a warning per invocation
warnings.filterwarnings("ignore", message="No application metrics to publish")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


#: function time kept beyond a request's total deadline for what surrounds the send: the claim,
#: presigning, up to a second's wait for a rate-limit slot, and the ledger writes of up to 100
#: recipients (4 BatchWriteItems and the push item). template.yaml sizes the function with it.
SEND_OVERHEAD_SECONDS = 10


@cache
def sender() -> Sender:
    settings = get_settings()
    signer = wiring.presigner(settings)
    rate_table = settings.rate_limit_table or settings.push_log_table
    # each socket operation bounded as before; the whole request (answer included) by the deadline
    http = vendor_client(httpx.Timeout(connect=TIMEOUT.connect, read=settings.push_timeout_seconds,
                                       write=TIMEOUT.write, pool=TIMEOUT.pool))
    return Sender(
        api=PushApiClient(settings.picky_api_url, token_provider(settings), http=http,
                          deadline_seconds=settings.push_timeout_seconds),
        ledger=wiring.ledger(settings),
        presign=lambda media: signer.presign(media, settings.presign_ttl_seconds),
        limiter=RateLimiter(client("dynamodb"), rate_table, settings.rate_limit_per_minute, settings.rate_window_seconds),
        queue=wiring.send_queue(settings),
        policy=SendPolicy(max_attempts=settings.max_send_attempts, lease_seconds=settings.send_lease_seconds,
                          dynamic_channels=settings.dynamic_media_channels,
                          time_needed_seconds=settings.push_timeout_seconds + SEND_OVERHEAD_SECONDS),
        channel_limiter=lambda application: RateLimiter(
            client("dynamodb"), rate_table, 1, settings.per_recipient_spacing_seconds, scope=f"channel-{application}"),
    )


def backoff_seconds(attempt: int, base: int) -> int:
    """Exponential backoff with equal jitter (between half and all of the step), capped at 15 minutes.
    `attempt`: the send attempts made so far (the push item's count, not SQS receives, which
    deferrals and fresh copies also change)."""
    return int(random.uniform(0.5, 1.0) * min(900, base * 2 ** max(0, attempt - 1)))


def _put_back(record: SQSRecord, seconds: float, why: str) -> bool:
    """Wait `seconds` (relay.putback: a visibility timeout, or a fresh delayed copy past SQS's
    12-hour limit). True: the record must be reported failed (it comes back); False: acknowledged."""
    decision = put_back(client("sqs"), get_settings().send_queue_url, record.raw_event, seconds, time.time())
    if decision.how == "copy":
        logger.info("put back as a fresh copy", extra={"reason": why, "delay_s": decision.seconds, "wait_s": seconds})
    return decision.how == "visibility"


def _dead_letter(body: str, reason: str) -> None:
    """Keep a job the vendor refused for account reasons, or that ran out of attempts, for `relay redrive`."""
    url = get_settings().send_dlq_url
    if url:
        client("sqs").send_message(
            QueueUrl=url, MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:256] or "unknown"}},
        )


class PutBackLater(Exception):
    """The record is back on the queue with a visibility timeout: report it as a batch item failure."""


def send_record(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    try:
        job = PushJob.model_validate_json(record.body)
    except ValidationError as exc:
        # no retry can fix it: straight to the dead-letter queue, reported, never swallowed
        logger.error("not a push job: dead-lettered", extra={"message_id": record.message_id, "error": str(exc)[:500]})
        metrics.add_metric(name="MalformedJobs", unit=MetricUnit.Count, value=1)
        _dead_letter(record.body, "not a push job")
        if not get_settings().send_dlq_url:
            raise
        return
    # the job's keys are on this record's lines only (removed in `finally`, never left for the next)
    logger.append_keys(job_id=job.job_id)
    try:
        _send_job(record, job, lambda_context)
    finally:
        logger.remove_keys(["job_id"])


def _send_job(record: SQSRecord, job: PushJob, lambda_context: LambdaContext | None) -> None:
    time_left = (lambda: lambda_context.get_remaining_time_in_millis() / 1000) if lambda_context is not None else None
    try:
        outcome = sender().send(job, time_left=time_left)
    except Deferred as wait:
        metrics.add_metric(name="SendDeferrals", unit=MetricUnit.Count, value=1)
        if _put_back(record, wait.seconds, wait.reason):
            raise PutBackLater(wait.reason) from None
        return
    except RetryLater as exc:
        metrics.add_metric(name="SendRetries", unit=MetricUnit.Count, value=1)
        delay = backoff_seconds(exc.attempt, get_settings().retry_base_seconds)
        logger.warning("will retry", extra={"reason": str(exc), "retry_in_s": delay})
        if _put_back(record, delay, str(exc)):
            raise PutBackLater(str(exc)) from None
        return
    for name, value in outcome.metrics.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if outcome.vendor_status is not None and outcome.vendor_status != 100:
        metrics.add_metric(name=f"VendorStatus{outcome.vendor_status}", unit=MetricUnit.Count, value=1)
    if outcome.dead_letter:
        _dead_letter(record.body, outcome.vendor_message or outcome.state)
    log = logger.warning if outcome.state in ("failed", "ambiguous", "rejected") else logger.info
    log("sent" if not outcome.duplicate else "duplicate delivery: already handled",
        extra={"push_id": outcome.push_id, "state": outcome.state, "vendor_status": outcome.vendor_status,
               "recipients": len(job.entries), "reason": outcome.vendor_message if outcome.state != "accepted" else None})


def well_formed(records: object) -> tuple[list[dict[str, Any]], list[object]]:
    """SQS records Lambda could have sent (a dict with a messageId, a receiptHandle and a string
    body) apart from the rest. The rest cannot be reported as batch item failures (no messageId)
    nor put back (no receipt handle): they are logged and their body, if any, dead-lettered."""
    good: list[dict[str, Any]] = []
    bad: list[object] = []
    for record in records if isinstance(records, list) else [records] if records else []:
        if (isinstance(record, dict) and isinstance(record.get("messageId"), str) and record["messageId"]
                and isinstance(record.get("receiptHandle"), str) and isinstance(record.get("body"), str)):
            good.append(record if isinstance(record.get("attributes"), dict) else {**record, "attributes": {}})
        else:
            bad.append(record)
    return good, bad


def _malformed_record(record: object) -> None:
    keys = sorted(map(str, record))[:20] if isinstance(record, dict) else None
    logger.error("malformed SQS record: skipped, its neighbours are processed",
                 extra={"record_type": type(record).__name__, "record_keys": keys})
    metrics.add_metric(name="MalformedJobs", unit=MetricUnit.Count, value=1)
    body = record.get("body") if isinstance(record, dict) else None
    if isinstance(body, str) and body:
        _dead_letter(body, "malformed SQS record")


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records, malformed = well_formed(event.get("Records") if isinstance(event, dict) else None)
    for record in malformed:
        _malformed_record(record)
    with processor(records=records, handler=send_record, lambda_context=context):
        processor.process()
    response = processor.response()
    logger.info("batch done", extra={"records": len(records), "malformed": len(malformed),
                                     "put_back_or_failed": len(response.get("batchItemFailures", []))})
    return response

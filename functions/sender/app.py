"""SenderFunction: push jobs from the send queue → Picky Assist → ledger."""

from __future__ import annotations

import random
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.aws import client, presign_client
from relay.ledger import Ledger
from relay.models import PushJob
from relay.pushapi import PushApiClient
from relay.s3media import MediaStore
from relay.sending import Deferred, RetryLater, Sender
from relay.settings import get_settings
from relay.token import token_provider

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def sender() -> Sender:
    settings = get_settings()
    store = MediaStore(client("s3"), presign_client(settings.s3_addressing_style))
    return Sender(
        api=PushApiClient(settings.picky_api_url, token_provider(settings)),
        ledger=Ledger(client("dynamodb"), settings.push_log_table),
        presign=lambda media: store.presign(media, settings.presign_ttl_seconds),
    )


def backoff_seconds(receive_count: int, base: int) -> int:
    """Exponential backoff with equal jitter (between half and all of the step), capped at 15 minutes."""
    return int(random.uniform(0.5, 1.0) * min(900, base * 2 ** max(0, receive_count - 1)))


def _return_to_queue(record: SQSRecord, seconds: int) -> None:
    """Visible again after `seconds` (the caller then reports a batch item failure)."""
    client("sqs").change_message_visibility(
        QueueUrl=get_settings().send_queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=max(0, min(seconds, 43_200))
    )


def send_record(record: SQSRecord) -> None:
    job = PushJob.model_validate_json(record.body)
    logger.append_keys(job_id=job.job_id)
    try:
        outcome = sender().send(job)
    except Deferred as wait:
        _return_to_queue(record, wait.seconds)
        raise
    except RetryLater as exc:
        delay = backoff_seconds(int(record.attributes.approximate_receive_count or 1), get_settings().retry_base_seconds)
        logger.warning("will retry", extra={"reason": str(exc), "retry_in_s": delay})
        _return_to_queue(record, delay)
        raise
    logger.info("sent", extra={"push_id": outcome.push_id, "state": str(outcome.state),
                               "vendor_status": outcome.vendor_status, "recipients": len(job.entries)})


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with processor(records=event.get("Records") or [], handler=send_record, lambda_context=context):
        processor.process()
    return processor.response()

"""IngestFunction: S3 uploads (via the ingest queue, or a direct S3 event) → planned push jobs."""

from __future__ import annotations

from typing import Any

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay import wiring
from relay.intake import Intake, IntakeReport
from relay.settings import get_settings
from relay.uploads import NotAnS3Event, uploads_from_notification

logger = Logger()
metrics = Metrics(namespace="PickyRelay")
warnings.filterwarnings("ignore", message="No application metrics to publish")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def build_intake() -> Intake:
    settings = get_settings()
    return Intake(settings, wiring.media_store(settings), wiring.ledger(settings), wiring.send_queue(settings))


def _log(report: IntakeReport) -> None:
    metrics.add_metric(name="RecipientsPlanned", unit=MetricUnit.Count, value=report.recipients)
    metrics.add_metric(name="RecipientsRejected", unit=MetricUnit.Count, value=report.rejected)
    metrics.add_metric(name="DuplicateUploads", unit=MetricUnit.Count, value=report.duplicates)
    logger.info(
        "planned",
        extra={"sources": report.sources, "duplicates": report.duplicates, "jobs": report.jobs,
               "recipients": report.recipients, "rejected": report.rejected, "s3_keys": report.keys[:20]},
    )
    for rej in report.rejections:
        logger.warning("recipient rejected", extra={"s3_object": rej.object_pk[4:], "number": rej.number, "reason": rej.reason})


def _prefetchable(body: str) -> list:
    try:
        return uploads_from_notification(body)
    except NotAnS3Event:
        return []


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    intake = build_intake()
    try:
        records = event.get("Records") or []
        if records and records[0].get("eventSource") == "aws:s3":  # a direct S3 trigger
            uploads = uploads_from_notification(event)
            intake.prefetch(uploads)
            for upload in uploads:
                intake.take(upload)
            report = intake.finish()
            _log(report)
            return {"jobs": report.jobs, "recipients": report.recipients, "rejected": report.rejected}

        for record in records:
            intake.prefetch(_prefetchable(record.get("body", "")))

        def take_record(record: SQSRecord) -> None:
            for upload in uploads_from_notification(record.body):
                intake.take(upload)

        with processor(records=records, handler=take_record, lambda_context=context):
            processor.process()
        _log(intake.finish())
        return processor.response()
    finally:
        intake.close()

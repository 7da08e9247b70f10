"""IngestFunction: S3 uploads (via the ingest queue, or a direct S3 event) → planned push jobs."""

from __future__ import annotations

from typing import Any

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay import wiring
from relay.intake import Intake, IntakeReport
from relay.ledger_keys import object_name
from relay.settings import get_settings
from relay.sqs_records import LoggingBatchProcessor, clip, log_malformed, sort_records
from relay.uploads import NotAnS3Event, uploads_from_notification

logger = Logger()
metrics = Metrics(namespace="PickyRelay")
warnings.filterwarnings("ignore", message="No application metrics to publish")


def _failed(record: SQSRecord, exc: BaseException) -> None:
    """Every record that fails is logged with its reason (it is retried, then dead-lettered)."""
    metrics.add_metric(name="IngestFailures", unit=MetricUnit.Count, value=1)
    logger.error(
        "ingest record failed",
        extra={"message_id": record.message_id, "s3_keys": _keys_of(record.body)[:20],
               "error_type": type(exc).__name__, "error": clip(str(exc))},
    )


def _keys_of(body: str) -> list[str]:
    try:
        return [u.key for u in uploads_from_notification(body)]
    except NotAnS3Event:
        return []


processor = LoggingBatchProcessor(on_failure=_failed)


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
        logger.warning("recipient rejected",
                       extra={"s3_object": object_name(rej.object_pk), "number": clip(rej.number, 40), "reason": clip(rej.reason)})


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
        if records and isinstance(records, list) and isinstance(records[0], dict) and records[0].get("eventSource") == "aws:s3":
            # a direct S3 trigger
            uploads = uploads_from_notification(event)
            intake.prefetch(uploads)
            for upload in uploads:
                intake.take(upload)
            report = intake.finish()
            _log(report)
            return {"jobs": report.jobs, "recipients": report.recipients, "rejected": report.rejected}

        checked = sort_records(records)
        log_malformed(logger, checked)
        for record in checked.good:
            intake.prefetch(_prefetchable(record["body"]))

        def take_record(record: SQSRecord) -> None:
            for upload in uploads_from_notification(record.body):
                intake.take(upload)

        with processor(records=checked.good, handler=take_record, lambda_context=context):
            processor.process()
        _log(intake.finish())
        return checked.response(processor.response())
    finally:
        intake.close()

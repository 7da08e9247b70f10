"""IngestFunction's batch: S3 upload notifications (through the ingest queue, or a direct S3 event)
→ one Intake per invocation (relay.intake) → the report logged and counted.

Malformed SQS records follow relay.sqs_records (dropped, or reported failed); a record that fails is
logged with its reason and S3 keys before SQS retries and then dead-letters it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.intake import Intake, IntakeReport
from relay.ledger_keys import object_name
from relay.observability import count, logger
from relay.sqs_records import LoggingBatchProcessor, clip, log_malformed, sort_records
from relay.uploads import NotAnS3Event, Upload, uploads_from_notification


def _uploads_in(body: str) -> list[Upload]:
    """The uploads a record's body names ([] when it is not an S3 notification)."""
    try:
        return uploads_from_notification(body)
    except NotAnS3Event:
        return []


def _failed(record: SQSRecord, exc: BaseException) -> None:
    """Every record that fails is logged with its reason (it is retried, then dead-lettered)."""
    count("IngestFailures")
    logger.error(
        "ingest record failed",
        extra={
            "message_id": record.message_id,
            "s3_keys": [u.key for u in _uploads_in(record.body)][:20],
            "error_type": type(exc).__name__,
            "error": clip(str(exc)),
        },
    )


def _report(report: IntakeReport) -> None:
    count("RecipientsPlanned", report.recipients)
    count("RecipientsRejected", report.rejected)
    count("DuplicateUploads", report.duplicates)
    logger.info(
        "planned",
        extra={
            "sources": report.sources,
            "duplicates": report.duplicates,
            "jobs": report.jobs,
            "recipients": report.recipients,
            "rejected": report.rejected,
            "s3_keys": report.keys[:20],
        },
    )
    for rej in report.rejections:
        logger.warning(
            "recipient rejected",
            extra={"s3_object": object_name(rej.object_pk), "number": clip(rej.number, 40), "reason": clip(rej.reason)},
        )


def _is_direct_s3(records: object) -> bool:
    return bool(records) and isinstance(records, list) and isinstance(records[0], dict) and records[0].get("eventSource") == "aws:s3"


class IngestRecords:
    """One per container: `run(event, context)` plans a batch and answers Lambda."""

    def __init__(self, intake: Callable[[], Intake]) -> None:
        #: a fresh Intake per invocation (it holds the batch's claims and plan)
        self._intake = intake
        self.processor = LoggingBatchProcessor(on_failure=_failed)

    def run(self, event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
        intake = self._intake()
        try:
            records = event.get("Records") or []
            if _is_direct_s3(records):
                return self._direct(intake, event)
            return self._queued(intake, records, context)
        finally:
            intake.close()

    def _direct(self, intake: Intake, event: dict[str, Any]) -> dict[str, Any]:
        """A direct S3 trigger (sam local invoke, or S3 wired to the function): no batch to report."""
        uploads = uploads_from_notification(event)
        intake.prefetch(uploads)
        for upload in uploads:
            intake.take(upload)
        report = intake.finish()
        _report(report)
        return {"jobs": report.jobs, "recipients": report.recipients, "rejected": report.rejected}

    def _queued(self, intake: Intake, records: object, context: LambdaContext | None) -> dict[str, Any]:
        checked = sort_records(records)
        log_malformed(logger, checked)
        for record in checked.good:
            intake.prefetch(_uploads_in(record["body"]))

        def take_record(record: SQSRecord) -> None:
            for upload in uploads_from_notification(record.body):
                intake.take(upload)

        with self.processor(records=checked.good, handler=take_record, lambda_context=context):
            self.processor.process()
        _report(intake.finish())
        return checked.response(self.processor.response())

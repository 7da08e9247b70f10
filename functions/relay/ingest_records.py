"""IngestFunction's batch: S3 upload notifications (through the ingest queue, or a direct S3 event)
→ one Intake per invocation (relay.intake) → the report logged and counted; and webhooks' pushes
(`"kind": "hook-push"` bodies, relay.hook_models.HookPush) → relay.hook_planning, one at a time.

Malformed SQS records follow relay.sqs_records (dropped, or reported failed); a record that fails is
logged with its reason and S3 keys before SQS retries and then dead-letters it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.intake import Intake, IntakeReport
from relay.ledger_keys import object_name
from relay.observability import count, logger
from relay.sqs_records import LoggingBatchProcessor, clip, log_malformed, sort_records
from relay.uploads import NotAnS3Event, Upload, uploads_from_notification

if TYPE_CHECKING:  # imported on the first hook push: an S3-only container never loads the API's models
    from relay.hook_models import HookPush
    from relay.hook_planning import HookOutcome, HookPlanner


def hook_push_in(body: str) -> HookPush | None:
    """The webhook push a record carries (relay.hook_planning.hook_push_in), None for S3 events."""
    if '"hook-push"' not in body:
        return None
    from relay.hook_planning import hook_push_in as parse

    return parse(body)


def _uploads_in(body: str) -> list[Upload]:
    """The uploads a record's body names ([] when it is not an S3 notification)."""
    try:
        return uploads_from_notification(body)
    except NotAnS3Event:
        return []


def _push_id_in(body: str) -> str | None:
    """A hook push's id, for the failure log (None for anything else)."""
    try:
        hook = hook_push_in(body)
    except ValueError:
        return None
    return hook.push_id if hook is not None else None


def _receives(record: SQSRecord) -> int:
    try:
        return int(record.raw_event.get("attributes", {}).get("ApproximateReceiveCount") or 1)
    except (TypeError, ValueError, AttributeError):
        return 1


def _time_left(context: LambdaContext | None) -> Callable[[], float] | None:
    if context is None:
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000


def _hook_report(hook: HookPush, outcome: HookOutcome) -> None:
    if outcome.duplicate:
        count("DuplicateHookPushes")
        logger.info("hook push already planned", extra={"route": hook.route, "push_id": hook.push_id})
        return
    count("RecipientsPlanned", outcome.recipients)
    count("RecipientsRejected", len(outcome.rejected))
    logger.info(
        "hook push planned",
        extra={"route": hook.route, "push_id": hook.push_id, "recipients": outcome.recipients, "rejected": len(outcome.rejected)},
    )
    for number, reason in outcome.rejected:
        logger.warning("recipient rejected", extra={"push_id": hook.push_id, "number": clip(number, 40), "reason": clip(reason)})


def _failed(record: SQSRecord, exc: BaseException) -> None:
    """Every record that fails is logged with its reason (it is retried, then dead-lettered)."""
    count("IngestFailures")
    logger.error(
        "ingest record failed",
        extra={
            "message_id": record.message_id,
            "s3_keys": [u.key for u in _uploads_in(record.body)][:20],
            "push_id": _push_id_in(record.body),
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

    def __init__(self, intake: Callable[[], Intake], hooks: Callable[[], HookPlanner] | None = None) -> None:
        #: a fresh Intake per invocation (it holds the batch's claims and plan)
        self._intake = intake
        #: the container's HookPlanner, built on the first hook push
        self._hooks = hooks
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
            hook = hook_push_in(record.body)  # raises for a malformed hook push: the record fails
            if hook is None:
                for upload in uploads_from_notification(record.body):
                    intake.take(upload)
                return
            if self._hooks is None:
                raise RuntimeError("this IngestRecords takes no hook pushes")
            _hook_report(hook, self._hooks().take(hook, _receives(record), _time_left(context)))

        with self.processor(records=checked.good, handler=take_record, lambda_context=context):
            self.processor.process()
        _report(intake.finish())
        return checked.response(self.processor.response())

"""SQS event records as Lambda delivers them: shape checks before batch processing, and a batch
processor that logs every failed record (Powertools' BatchProcessor only keeps the exception).

The one malformed-record rule of both SQS handlers (relay.ingest_records; relay.send_records with
`need_receipt_handle=True` and `reported=False`, see below):

    checked = sort_records(event.get("Records"))
    log_malformed(logger, checked)
    with processor(records=checked.good, handler=..., lambda_context=context):
        processor.process()
    return checked.response(processor.response())

Decision (what a malformed record does):
- a record that is not an object, or has no usable `messageId`, cannot be named in
  `batchItemFailures` (Lambda takes an empty or unknown `itemIdentifier` as a failure of the whole
  batch, which would redeliver, and re-send, every good record with it). SQS always sends a
  `messageId`, so such a record did not come from SQS (a hand-made or mis-routed event) and SQS has
  nothing to redeliver: it is logged at error level (`malformed SQS record`, with its position and
  the reason) and dropped; the good records of the batch are processed as usual;
- a record with a `messageId` but no string `body` is reported as a batch item failure: SQS keeps
  it, redelivers it and, after maxReceiveCount, moves it to the dead-letter queue. Logged too.
- SenderFunction also needs a `receiptHandle` (a job waits by changing its visibility), so it sorts
  with `need_receipt_handle=True`; and it reports none of its malformed records: it keeps each body
  on the send dead-letter queue at once (relay.send_records), as it does a body that is not a push
  job, rather than have SQS redeliver it up to maxReceiveCount (24) times first. IngestFunction's
  reportable ones go back to SQS (its dead-letter queue comes after 5 tries).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

#: how much of a failure's text goes into a log line
MAX_LOGGED_TEXT = 500


@dataclass(frozen=True)
class Malformed:
    index: int
    reason: str
    #: set when the record can be reported as a batch item failure
    message_id: str | None = None
    #: the record's body, when it has a string one (the sender dead-letters it)
    body: str | None = None


@dataclass
class SortedRecords:
    good: list[dict[str, Any]] = field(default_factory=list)
    #: reported as batch item failures (they have a messageId)
    failed: list[Malformed] = field(default_factory=list)
    #: logged and dropped (nothing to report them by)
    dropped: list[Malformed] = field(default_factory=list)

    def response(self, processed: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The processor's partial-batch response plus the malformed records that can be reported."""
        failures = list((processed or {}).get("batchItemFailures") or [])
        failures += [{"itemIdentifier": m.message_id} for m in self.failed]
        return {"batchItemFailures": failures}


def sort_records(records: object, need_receipt_handle: bool = False) -> SortedRecords:
    """Split an event's `Records` into records fit for the batch processor and malformed ones.
    `need_receipt_handle`: a record without one is malformed too (it could not be put back); the
    good records then always carry an `attributes` object (the put-back rule reads it)."""
    out = SortedRecords()
    if records is None:
        return out
    if not isinstance(records, list):
        out.dropped.append(Malformed(index=0, reason=f"Records is {type(records).__name__}, not a list"))
        return out
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            out.dropped.append(Malformed(index=index, reason=f"record is {type(record).__name__}, not an object"))
            continue
        message_id = record.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            body = record.get("body")
            out.dropped.append(Malformed(index=index, reason="record has no messageId", body=body if isinstance(body, str) else None))
            continue
        if not isinstance(record.get("body"), str):
            out.failed.append(Malformed(index=index, message_id=message_id, reason="record has no string body"))
            continue
        if need_receipt_handle:
            if not isinstance(record.get("receiptHandle"), str):
                out.failed.append(Malformed(index=index, message_id=message_id, body=record["body"], reason="record has no receiptHandle"))
                continue
            if not isinstance(record.get("attributes"), dict):
                record = {**record, "attributes": {}}
        out.good.append(record)
    return out


def log_malformed(logger: Any, checked: SortedRecords, reported: bool = True) -> None:
    """One error line per malformed record, with its position and reason. `reported=False`: the
    caller reports none of them (SenderFunction dead-letters their bodies instead)."""
    for bad in checked.dropped:
        logger.error("malformed SQS record dropped", extra={"record_index": bad.index, "reason": bad.reason})
    for bad in checked.failed:
        logger.error(
            "malformed SQS record reported failed" if reported else "malformed SQS record dropped",
            extra={"record_index": bad.index, "message_id": bad.message_id, "reason": bad.reason},
        )


def clip(text: str, limit: int = MAX_LOGGED_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


class LoggingBatchProcessor(BatchProcessor):
    """BatchProcessor (SQS, partial failures) that calls `on_failure(record, exc)` for every record
    whose handler raised, so that no record reaches the dead-letter queue without its reason logged."""

    def __init__(self, on_failure: Callable[[Any, BaseException], None]) -> None:
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._on_failure = on_failure

    def failure_handler(self, record: Any, exception: Any) -> Any:
        exc = exception[1] if exception and exception[1] is not None else sys.exc_info()[1]
        if exc is not None:
            try:
                self._on_failure(record, exc)
            except Exception:  # noqa: BLE001, S110 - logging must never turn a record failure into a batch crash
                pass
        return super().failure_handler(record, exception)

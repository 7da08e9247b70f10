"""ResultsFunction's batch: ledger change-stream records → one rewrite per affected input.

Coalescing: a batch (up to BatchSize records or MaximumBatchingWindowInSeconds, template.yaml)
names each input once however many of its recipients changed, so each input's results file is
written once per batch. Partial failures: an input whose rewrite fails reports its records'
sequence numbers (ReportBatchItemFailures); the stream resumes from the lowest, and the retried
rewrite rebuilds the whole file from the ledger, so nothing is lost by writing it twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from relay import ledger_keys as keys
from relay import results_files as files
from relay.observability import logger


@dataclass
class ResultsWriter:
    ledger: Any  # relay.ledger.Ledger
    s3: Any
    writes: int = field(default=0)

    def write(self, bucket: str, key: str) -> None:
        items = self.ledger.query_index("ByObject", "object_pk", keys.object_pk(bucket, key))
        table = files.rows(items)
        target = files.results_key(key)
        body, content_type = files.render(target, table)
        self.s3.put_object(Bucket=bucket, Key=target, Body=body, ContentType=content_type)
        self.writes += 1
        if files.is_done(table):
            marker = json.dumps({"recipients": len(table), "states": files.counts(table)}).encode()
            self.s3.put_object(Bucket=bucket, Key=target + ".done", Body=marker, ContentType="application/json")


def affected_sources(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Each S3 input a batch's records touch → those records' sequence numbers."""
    out: dict[tuple[str, str], list[str]] = {}
    for record in records:
        ddb = record.get("dynamodb") or {}
        image = ddb.get("NewImage") or {}
        source = files.source_of((image.get("object_pk") or {}).get("S"))
        if source is not None:
            out.setdefault(source, []).append(str(ddb.get("SequenceNumber")))
    return out


def run(event: dict[str, Any], writer: ResultsWriter) -> dict[str, Any]:
    failures: list[str] = []
    for (bucket, key), sequence_numbers in affected_sources(event.get("Records") or []).items():
        try:
            writer.write(bucket, key)
        except Exception:  # noqa: BLE001 - this input's records come back; the others are done
            logger.exception("results file not written", extra={"bucket": bucket, "key": key})
            failures += sequence_numbers
    return {"batchItemFailures": [{"itemIdentifier": s} for s in failures]}

"""ResultsFunction's batch: ledger change-stream records → one rewrite per affected input.

Coalescing: a batch (up to BatchSize records or MaximumBatchingWindowInSeconds, template.yaml)
names each input once however many of its recipients changed, so each input's results file is
written once per batch. The index ByObject is read eventually consistently, so it may not yet show
the very change that triggered the write: each item's newest image in the batch (NEW_IMAGE) replaces
what the index returned when it is at least as recent (`at`), so the last change of a campaign is
never missing from its file. Partial failures: an input whose rewrite fails reports its records'
sequence numbers (ReportBatchItemFailures); the stream resumes from the lowest, and the retried
rewrite rebuilds the whole file from the ledger, so nothing is lost by writing it twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from relay import ledger_keys as keys
from relay import results_files as files
from relay.dynamodb import from_item
from relay.observability import logger


@dataclass
class ResultsWriter:
    ledger: Any  # relay.ledger.Ledger
    s3: Any
    writes: int = field(default=0)

    def write(self, bucket: str, key: str, images: Iterable[dict[str, Any]] = ()) -> None:
        """Rewrite the input's results file from the index, overlaid with the batch's newer `images`."""
        found = {(i["pk"], i["sk"]): i for i in self.ledger.query_index("ByObject", "object_pk", keys.object_pk(bucket, key))}
        for image in images:
            known = found.get((image["pk"], image["sk"]))
            if known is None or str(image.get("at", "")) >= str(known.get("at", "")):
                found[(image["pk"], image["sk"])] = image
        table = files.rows(found.values())
        target = files.results_key(key)
        body, content_type = files.render(target, table)
        self.s3.put_object(Bucket=bucket, Key=target, Body=body, ContentType=content_type)
        self.writes += 1
        if files.is_done(table):
            marker = json.dumps({"recipients": len(table), "states": files.counts(table)}).encode()
            self.s3.put_object(Bucket=bucket, Key=target + ".done", Body=marker, ContentType="application/json")


@dataclass
class Affected:
    """What a batch holds for one input: its records' sequence numbers, its items' newest images."""

    sequence_numbers: list[str] = field(default_factory=list)
    images: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def affected_sources(records: list[dict[str, Any]]) -> dict[tuple[str, str], Affected]:
    """Each S3 input a batch's records touch (in stream order: a later image replaces an earlier)."""
    out: dict[tuple[str, str], Affected] = {}
    for record in records:
        ddb = record.get("dynamodb") or {}
        raw = ddb.get("NewImage") or {}
        source = files.source_of((raw.get("object_pk") or {}).get("S"))
        if source is None:
            continue
        affected = out.setdefault(source, Affected())
        affected.sequence_numbers.append(str(ddb.get("SequenceNumber")))
        image = from_item(raw)
        affected.images[(str(image.get("pk")), str(image.get("sk")))] = image
    return out


def run(event: dict[str, Any], writer: ResultsWriter) -> dict[str, Any]:
    failures: list[str] = []
    for (bucket, key), affected in affected_sources(event.get("Records") or []).items():
        try:
            writer.write(bucket, key, affected.images.values())
        except Exception:  # noqa: BLE001 - this input's records come back; the others are done
            logger.exception("results file not written", extra={"bucket": bucket, "key": key})
            failures += affected.sequence_numbers
    return {"batchItemFailures": [{"itemIdentifier": s} for s in failures]}

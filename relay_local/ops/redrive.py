"""Move dead-lettered messages back to their queue once the cause is fixed (`relay redrive`).

Push jobs get their push item reset to `retry` with a fresh attempt count, so the sender claims
and sends them again; their recipients' `failed` entries are overwritten by the new outcome (one
ledger entry per recipient, always). S3 notifications go back to the ingest queue as they were.

Only the `relay redrive` command uses it, so it lives with the local tools, not in the Lambda bundle
(tests/test_bundle.py fails if tool-only code comes back into functions/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from relay.ledger import Ledger
from relay.lifecycle import JobState
from relay.models import Job


@dataclass
class RedriveReport:
    moved: int = 0
    jobs_reset: int = 0


def redrive(sqs: Any, dead_letter_url: str, target_url: str, ledger: Ledger | None = None, limit: int | None = None) -> RedriveReport:
    report = RedriveReport()
    while limit is None or report.moved < limit:
        batch = min(10, limit - report.moved) if limit is not None else 10
        messages = sqs.receive_message(
            QueueUrl=dead_letter_url, MaxNumberOfMessages=batch, WaitTimeSeconds=0, VisibilityTimeout=120, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return report
        for message in messages:
            if ledger is not None:
                try:
                    job = Job.model_validate_json(message["Body"])
                except ValidationError:
                    job = None
                if job is not None:
                    ledger.set_job_state(job.job_id, JobState.RETRY, attempts=0, redriven=True)
                    report.jobs_reset += 1
            sqs.send_message(QueueUrl=target_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            report.moved += 1
    return report

"""What the ledger writes: one builder per kind of item (shapes and keys: relay.ledger_keys).

Plain dicts (None and "" fields are left out when written, relay.dynamodb.to_item). Only
relay.ledger calls these; tests call them to check the items' sizes.
"""

from __future__ import annotations

from typing import Any

from relay import ledger_keys as keys
from relay.lifecycle import JobState, RecipientState, SourceState
from relay.models import Entry, Job, Rejection, Source, utc_now

#: Caller text a ledger item keeps: whole up to these lengths (characters); longer text is kept as
#: an excerpt of that length plus `<field>_length` (the original length), never whole. An item may
#: hold at most 400 KB (DynamoDB), and a rejected 450 KB message must still get its `rejected` entry.
#: Messages the planner accepts (at most 4,096 characters) are always kept whole.
MAX_STORED = {"message": 4096, "number": keys.MAX_KEY_TEXT, "reference": keys.MAX_KEY_TEXT, "media_key": 1024, "reason": 1024}


def bounded(**fields: str | None) -> dict[str, Any]:
    """Caller text for an item: each field whole, or an excerpt ending in `…` plus `<field>_length`."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        limit = MAX_STORED[name]
        if value is not None and len(value) > limit:
            out[name] = value[: limit - 1] + "…"
            out[f"{name}_length"] = len(value)
        else:
            out[name] = value
    return out


def recipient_item(job: Job, entry: Entry, state: RecipientState | str, at: str | None = None, **outcome: Any) -> dict[str, Any]:
    media = entry.media or job.global_media
    return {
        "pk": keys.push_pk(job.job_id),
        "sk": keys.recipient_sk(entry.rid),
        "kind": "recipient",
        "rid": entry.rid,
        "job_id": job.job_id,
        "number": entry.number,
        "number_pk": keys.number_pk(entry.number),
        "object_pk": entry.object_pk,
        "state": str(state),
        "at": at or utc_now(),
        "planned_at": job.planned_at,
        "application": job.application,
        **bounded(message=entry.message, media_key=media.key if media else None, reference=entry.reference),
        "media_kind": str(media.kind) if media else None,
        "reference_pk": keys.reference_pk(entry.reference or entry.rid),  # what reference_number carries
        "caption_for": entry.caption_for,
        "template_id": job.template.id if job.template else None,
        **outcome,
    }


def push_item(job: Job, state: JobState | str, at: str | None = None, **outcome: Any) -> dict[str, Any]:
    return {
        "pk": keys.push_pk(job.job_id),
        "sk": keys.PUSH_SK,
        "kind": "push",
        "job_id": job.job_id,
        "state": str(state),
        "at": at or utc_now(),
        "planned_at": job.planned_at,
        "application": job.application,
        "priority": job.priority,
        "recipients": len(job.entries),
        "dynamic": job.dynamic,
        "global_media_key": job.global_media.key if job.global_media else None,
        "media_name": job.media_name,
        "sources": list(job.sources),
        **outcome,
    }


def rejection_item(rej: Rejection, at: str | None = None) -> dict[str, Any]:
    return {
        "pk": keys.rejection_pk(rej.source_id),
        "sk": keys.recipient_sk(rej.rid),
        "kind": "recipient",
        "rid": rej.rid,
        "number_pk": keys.number_pk(rej.number),
        "object_pk": rej.object_pk,
        "state": str(RecipientState.REJECTED),
        "at": at or utc_now(),
        **bounded(number=rej.number, reason=rej.reason, message=rej.message, media_key=rej.media_key, reference=rej.reference),
    }


def source_item(source: Source, state: SourceState, **counts: Any) -> dict[str, Any]:
    return {
        "pk": keys.source_pk(source.source_id),
        "sk": keys.SOURCE_SK,
        "kind": "source",
        "source_kind": source.kind,
        "object_pk": source.object_pk,
        "state": str(state),
        "at": utc_now(),
        **counts,
    }

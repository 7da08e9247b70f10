"""S3 event notifications → the uploads the relay acts on.

IngestFunction receives them through an SQS queue (batched) and, for `sam local invoke` or a
direct S3 trigger, as a plain S3 event. Keys arrive URL-encoded (spaces as `+`): decoded here.

Why these models are this module's own and not Powertools' S3 event models (issue 10, item 8):
- parser `S3Model`/`S3RecordModel` require what moto's notifications (the embedded AWS) leave out
  (`userIdentity`, `requestParameters`, `responseElements`, the bucket's `ownerIdentity`) and what
  a direct event need not carry (`eventVersion`, `eventTime`…); S3's `s3:TestEvent` has no model.
  Their `S3Object` would fit the object alone (only `key` required, `size` a float), but importing
  it builds that module's 16 models (and EventBridge's): +11 to 15 ms on every IngestFunction cold
  start (-X importtime, five runs, and a direct timing), where this whole module imports in 4 ms.
- the data classes (`data_classes.S3Event`, free to import: the SQS batch already loads them)
  validate nothing, so a malformed body would fail deep in the handler instead of as
  `NotAnS3Event`; they raise KeyError for a record without `size`, `sequencer` or `eventSource`,
  and decode only the first record's key.
The SQS side is Powertools': `SQSRecord` and the batch processor (relay.sqs_records).
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relay.models import Source

OUTBOX_PREFIX = "outbox/"
MANIFEST_PREFIX = "manifests/"


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class S3ObjectModel(_Loose):
    key: str
    size: int | None = None
    eTag: str | None = None
    versionId: str | None = None
    sequencer: str | None = None


class S3BucketModel(_Loose):
    name: str


class S3Entity(_Loose):
    bucket: S3BucketModel
    object: S3ObjectModel


class S3NotificationRecord(_Loose):
    """The fields the relay needs of an S3 event record (AWS and moto alike)."""

    eventSource: str = "aws:s3"
    eventName: str
    s3: S3Entity


class S3Notification(_Loose):
    Records: list[S3NotificationRecord] = Field(default_factory=list)
    #: S3 sends {"Event": "s3:TestEvent", ...} when a notification is configured.
    Event: str | None = None


class Upload(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    size: int | None = None
    revision: str = ""
    #: the S3 version this notification is about (versioned bucket), read and sent as that version
    version_id: str | None = None

    @property
    def kind(self) -> Literal["outbox", "manifest"] | None:
        if self.key.startswith(OUTBOX_PREFIX):
            return "outbox"
        if self.key.startswith(MANIFEST_PREFIX):
            return "manifest"
        return None

    @property
    def source(self) -> Source:
        return Source(kind=self.kind or "outbox", bucket=self.bucket, key=self.key, revision=self.revision)


class NotAnS3Event(ValueError):
    pass


def uploads_from_notification(payload: dict[str, Any] | str) -> list[Upload]:
    """Uploads in one S3 notification; [] for S3's test event and for non-create events."""
    try:
        doc = json.loads(payload) if isinstance(payload, str) else payload
        note = S3Notification.model_validate(doc)
    except (ValueError, ValidationError) as exc:
        raise NotAnS3Event(f"not an S3 event notification: {str(exc).splitlines()[0]}") from None
    if not note.Records and note.Event is None:
        raise NotAnS3Event("not an S3 event notification: no Records")
    uploads = []
    for record in note.Records:
        if record.eventSource != "aws:s3" or not record.eventName.startswith("ObjectCreated"):
            continue
        obj = record.s3.object
        uploads.append(
            Upload(
                bucket=record.s3.bucket.name,
                key=unquote_plus(obj.key),
                size=obj.size,
                revision=obj.versionId or obj.sequencer or (obj.eTag or ""),
                version_id=obj.versionId if obj.versionId not in (None, "", "null") else None,
            )
        )
    return uploads

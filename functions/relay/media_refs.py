"""A media object, read from S3, as the planner takes it: checked, or refused with the reason.

Shared by S3 intake (relay.intake) and the API (relay.pushes); kept apart so that the API does not
load the manifest and S3-notification models it never uses.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from relay.media import MediaRejected, classify
from relay.models import MediaRef
from relay.s3media import ObjectHead


def media_ref(head: ObjectHead, filename: str | None = None) -> MediaRef | str:
    """A checked media object, or why it is refused. `filename`: the name its kind is judged by and
    served as, when not the key's last segment (a downloaded file whose URL names no extension)."""
    filename = filename or PurePosixPath(head.key).name
    try:
        check = classify(filename, head.head, head.size)
    except MediaRejected as exc:
        return exc.reason
    return MediaRef(
        bucket=head.bucket,
        key=head.key,
        kind=check.kind,
        content_type=check.content_type,
        size=head.size,
        filename=filename,
        version_id=head.version_id if head.version_id not in (None, "", "null") else None,
    )

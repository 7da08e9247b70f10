"""S3 event notifications as S3 sends them: one per object version.

moto (5.x) completes a multipart upload by putting the assembled object with `put_object`, which
notifies `s3:ObjectCreated:Put`, and then notifies `s3:ObjectCreated:CompleteMultipartUpload` for
the same version: every upload above boto3's multipart threshold (8 MB) reached the ingest queue
twice. S3 sends only the second ("s3:ObjectCreated:CompleteMultipartUpload – An object was created
by the completion of a multipart upload", S3 User Guide, supported event types). S3 still delivers
at least once, so a duplicate can arrive anyway; the tests keep one that does.
"""

from __future__ import annotations

import threading
from typing import Any

_completing = threading.local()


def install() -> None:
    """Patch moto's S3 backend (idempotent)."""
    from moto.s3.models import S3Backend

    if getattr(S3Backend, "__relay_strict__", False):
        return
    put_object = S3Backend.put_object
    complete_multipart_upload = S3Backend.complete_multipart_upload

    def quiet_put_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_completing, "active", False):
            kwargs["disable_notification"] = True
        return put_object(self, *args, **kwargs)

    def complete_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        _completing.active = True
        try:
            # moto's own put_object call inside stays silent; its CompleteMultipartUpload event is sent
            return complete_multipart_upload(self, *args, **kwargs)
        finally:
            _completing.active = False

    S3Backend.put_object = quiet_put_object  # type: ignore[method-assign]  # patching moto in place
    S3Backend.complete_multipart_upload = complete_once  # type: ignore[method-assign]  # patching moto in place
    S3Backend.__relay_strict__ = True  # type: ignore[attr-defined]  # our marker: patched once

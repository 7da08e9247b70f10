"""S3 adapters: `MediaStore` reads what planning needs from an object (IngestFunction, ApiFunction);
`Presigner` signs media URLs at send time (SenderFunction). Apart, so that each handler creates only
the S3 client it uses."""

from __future__ import annotations

from dataclasses import dataclass
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from relay.media import SNIFF_BYTES
from relay.models import MediaRef


class ObjectMissing(LookupError):
    """The object is absent, or this function may not read it.

    S3 answers GetObject of a missing key with 403 AccessDenied (not 404 NoSuchKey) when the caller
    lacks s3:ListBucket, and the functions' roles do not grant it (a role that may list the bucket
    would learn which keys exist). So a 403 is read the same way as a 404: the one recipient (or
    manifest) is rejected with a reason that names both, instead of failing the batch. A role that
    truly lacks s3:GetObject then shows as rejections naming the key, not as retries."""


#: what S3 answers for an object that is not there (GetObject: NoSuchKey; HeadObject: a bare 404)
_ABSENT = frozenset({"NoSuchKey", "404", "NotFound"})
#: ... and for one the caller may not read, or (without s3:ListBucket) one that is not there
_FORBIDDEN = frozenset({"AccessDenied", "403", "Forbidden"})


def _missing(bucket: str, key: str, exc: ClientError) -> ObjectMissing | None:
    code = exc.response.get("Error", {}).get("Code", "")
    if code in _ABSENT:
        return ObjectMissing(f"s3://{bucket}/{key} does not exist")
    if code in _FORBIDDEN:
        return ObjectMissing(f"s3://{bucket}/{key} does not exist or may not be read (S3 answered {code})")
    return None


@dataclass(frozen=True)
class ObjectHead:
    """Size, first bytes and metadata, all from ONE ranged GET (no separate HEAD)."""

    bucket: str
    key: str
    size: int
    head: bytes
    metadata: dict[str, str]
    version_id: str | None
    etag: str


def decode_metadata(value: str) -> str:
    """SDKs send non-ASCII user metadata as RFC 2047 (`=?UTF-8?B?...?=`); decode it."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError):
        return value


class MediaStore:
    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def inspect(self, bucket: str, key: str, nbytes: int = SNIFF_BYTES, version_id: str | None = None) -> ObjectHead:
        """`version_id`: read that version (the one an S3 notification names), else the latest."""
        pinned = {"VersionId": version_id} if version_id else {}
        try:
            resp = self._s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{nbytes - 1}", **pinned)
        except ClientError as exc:
            missing = _missing(bucket, key, exc)
            if missing is not None:
                raise missing from None
            if exc.response.get("Error", {}).get("Code") != "InvalidRange":  # a 0-byte object has no byte 0
                raise
            resp = self._s3.get_object(Bucket=bucket, Key=key, **pinned)
        head = resp["Body"].read()
        content_range = resp.get("ContentRange") or ""
        size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else int(resp.get("ContentLength", len(head)))
        return ObjectHead(
            bucket=bucket,
            key=key,
            size=size,
            head=head,
            metadata={k.lower(): decode_metadata(v) for k, v in (resp.get("Metadata") or {}).items()},
            version_id=resp.get("VersionId"),
            etag=(resp.get("ETag") or "").strip('"'),
        )

    def write(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def read(self, bucket: str, key: str) -> bytes:
        try:
            data: bytes = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            return data
        except ClientError as exc:
            missing = _missing(bucket, key, exc)
            if missing is not None:
                raise missing from None
            raise


class Presigner:
    def __init__(self, signer: Any) -> None:
        self._signer = signer

    def presign(self, media: MediaRef, ttl_seconds: int) -> str:
        """A GET URL that also tells S3 which Content-Type and file name to serve (a caller's own
        URL is returned as it is)."""
        if media.url:
            return media.url
        params = {
            "Bucket": media.bucket,
            "Key": media.key,
            "ResponseContentType": media.content_type,
            "ResponseContentDisposition": _disposition(media),
        }
        if media.version_id:  # the version that was checked and planned (needs s3:GetObjectVersion)
            params["VersionId"] = media.version_id
        url: str = self._signer.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_seconds)
        return url


def _disposition(media: MediaRef) -> str:
    kind = "attachment" if media.kind == "document" else "inline"
    ascii_name = media.filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(media.filename)}"

"""API logic: a push request → the same planner, ledger and send queue as S3 inputs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from relay.api_models import MediaSpec, PushAccepted, PushRequest, PushStatus, RecipientStatus, Rejected
from relay.catalogue import Catalogue
from relay.channels import VOICE_APPLICATION
from relay.ledger import Ledger
from relay.media import SNIFF_BYTES, MediaRejected, classify, classify_by_name
from relay.media_refs import media_ref
from relay.models import MediaRef, Source, short_hash
from relay.planner import Candidate, PlanRules, plan
from relay.recording import record_plan
from relay.s3media import MediaStore, ObjectHead, ObjectMissing
from relay.sendqueue import SendQueue
from relay.settings import Settings
from relay.templates import TemplateRef

#: send_at at most this far ahead: a job waits on the queue in ≤ 12 h steps, each a receive.
MAX_SEND_AHEAD = 7 * 24 * 3600
API_MEDIA_PREFIX = "api-media/"


class InvalidRequest(ValueError):
    """A well-formed request the relay cannot take (422), naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class AlreadyAccepted(Exception):
    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.request_id = request_id


def request_id_for(secret: str, idempotency_key: str) -> str:
    """A push id: HMAC-SHA256 of the request's idempotency key under the signing secret (96 bits).

    Deterministic, so a retry finds its push again even if its idempotency record is gone, and
    unguessable without the secret: knowing (or guessing) someone's order number does not give
    the id of its push. The key is the caller's Idempotency-Key, else the request's signature (a
    signature is accepted once; see app.py)."""
    mac = hmac.new(secret.encode(), b"push-id\x00" + idempotency_key.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return mac.hexdigest()[:24]


def key_allowed(key: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `media.key` may be sent: under a configured prefix (API_MEDIA_PREFIXES, default
    `media/`), with no path tricks. S3 keys are literal, but `..`/`.` segments, empty segments and
    backslashes are refused: a URL made of them may be normalised to another object by whoever
    fetches it, and they are never needed for real media."""
    if key.startswith("/") or "\\" in key or any(part in ("", ".", "..") for part in key.split("/")):
        return False
    return any(key.startswith(prefix) for prefix in prefixes)


def not_available(key: str, prefixes: tuple[str, ...]) -> str:
    """One answer for a key that is not allowed and a key that does not exist, so a caller cannot
    learn which objects are in the bucket."""
    allowed = ", ".join(prefixes) or "(none configured)"
    return f"no object the API may send; media keys must name an existing object under {allowed}"


def _template(req: PushRequest) -> TemplateRef | None:
    """The push's template, or None; per-recipient template fields without one are a 422."""
    if req.template is None:
        for n, r in enumerate(req.recipients):
            for name in ("template_values", "template_header"):
                if getattr(r, name) is not None:
                    raise InvalidRequest(f"recipients.{n}.{name}", f"recipients.{n}.{name} needs the push's `template`")
        return None
    spec = req.template
    return TemplateRef(id=spec.id, language=spec.language, session=spec.session)


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class PushService:
    def __init__(
        self, settings: Settings, store: MediaStore, ledger: Ledger, queue: SendQueue, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.store = store
        self.ledger = ledger
        self.queue = queue
        self.clock = clock

    # -- POST /pushes ---------------------------------------------------------------------------
    def create(self, req: PushRequest, request_id: str, resolved: Callable[[], Mapping[str, MediaRef | str]] | None = None) -> PushAccepted:
        """Validate, claim (`Source` of kind "api" keyed by `request_id`), check the media, plan and
        record a push: POST /pushes, and IngestFunction for a webhook's push (relay.hook_planning).

        `resolved`: media the caller checks itself, called once the push is claimed (so a duplicate
        does no work), by the name the request's media uses (`media.key`); those names skip the
        usual checks, the API_MEDIA_PREFIXES rule included. IngestFunction passes the object it
        downloaded from a webhook's media URL under `hook-media/` (checked like any upload), or the
        reason the download was refused. Whatever `resolved` raises leaves the claim re-claimable."""
        now = self.clock()
        send_at, expires_at = _timestamp(req.send_at), _timestamp(req.expires_at)
        if send_at is not None and send_at > now + MAX_SEND_AHEAD:
            raise InvalidRequest("send_at", "send_at is more than 7 days ahead")
        if expires_at is not None and expires_at <= max(now, send_at or now):
            raise InvalidRequest("expires_at", "expires_at must be later than now and than send_at")
        application = req.application or self.settings.picky_application
        if req.voice and application != VOICE_APPLICATION:
            raise InvalidRequest(
                "voice",
                f"voice notes are only sent on WhatsApp Web Automation (application {VOICE_APPLICATION});"
                f" this push goes on application {application}",
            )
        template = _template(req)
        # the catalogue is read before the push is claimed: a transient S3 error leaves nothing behind
        catalogue = Catalogue(self.store, self.settings.media_bucket)
        if template is not None:
            catalogue.load(template.id)
        source = Source(kind="api", bucket=self.settings.media_bucket, key=request_id)
        if not self.ledger.begin_source(source):
            raise AlreadyAccepted(request_id)

        lookup: dict[str, MediaRef | str] = dict(resolved()) if resolved is not None else {}
        global_key = self._media(req.media, request_id, lookup) if req.media else None
        candidates = [
            Candidate(
                rid=short_hash(source.source_id, index),
                source=source,
                number=r.number,
                message=r.message if r.message is not None else (req.message or ""),
                media_key=self._media(r.media, request_id, lookup) if r.media else None,
                reference=r.reference,
                application=application,
                priority=req.priority or "0",
                global_media_key=None if r.media else global_key,
                media_name=req.media_name,
                voice=req.voice,
                template=template,
                template_values=tuple(r.template_values if r.template_values is not None else (req.template.values or ()))
                if req.template
                else (),
                template_header=(r.template_header or req.template.header) if req.template else None,
            )
            for index, r in enumerate(req.recipients, start=1)
        ]
        rules = PlanRules.from_settings(self.settings)
        result = plan(candidates, lookup, rules, now, send_at=send_at, expires_at=expires_at, catalogue=catalogue.entries())
        record_plan(result, result.rejections, [source], self.ledger, self.queue, now)
        return PushAccepted(
            id=request_id,
            recipients=result.entries,
            jobs=len(result.jobs),
            rejected=[Rejected(number=r.number, reason=r.reason) for r in result.rejections],
            send_at=req.send_at,
            expires_at=req.expires_at,
        )

    def _media(self, spec: MediaSpec, request_id: str, lookup: dict[str, MediaRef | str]) -> str:
        """Check one media spec once; return the name the planner looks it up by."""
        if spec.key is not None:
            name = spec.key
            if name not in lookup:
                lookup[name] = self._stored(self.settings.media_bucket, spec.key)
        elif spec.url is not None:
            name = spec.url
            if name not in lookup:
                lookup[name] = self._external(spec.url)
        else:
            assert spec.base64 is not None and spec.filename is not None
            digest = hashlib.sha256(spec.base64.encode()).hexdigest()[:16]
            name = f"base64:{spec.filename}#{digest}"
            if name not in lookup:
                lookup[name] = self._upload(spec.base64, spec.filename, f"{API_MEDIA_PREFIX}{request_id}/{digest}/{spec.filename}")
        return name

    def _stored(self, bucket: str, key: str) -> MediaRef | str:
        prefixes = self.settings.api_media_prefixes
        if not key_allowed(key, prefixes):
            return not_available(key, prefixes)
        try:
            return media_ref(self.store.inspect(bucket, key))
        except ObjectMissing:  # absent, or S3's 403 for it (relay.s3media reads both as missing)
            return not_available(key, prefixes)

    def _external(self, url: str) -> MediaRef | str:
        try:
            filename = unquote(PurePosixPath(urlsplit(url).path).name)
        except ValueError:
            return "media url is not a valid URL"
        try:
            check = classify_by_name(filename)
        except MediaRejected as exc:
            return exc.reason
        return MediaRef(bucket="", key=url, kind=check.kind, content_type=check.content_type, size=0, filename=filename, url=url)

    def _upload(self, data: str, filename: str, key: str) -> MediaRef | str:
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return "base64 media is not valid base64"
        try:
            check = classify(filename, raw[:SNIFF_BYTES], len(raw))
        except MediaRejected as exc:
            return exc.reason
        self.store.write(self.settings.media_bucket, key, raw, check.content_type)
        return media_ref(
            ObjectHead(
                bucket=self.settings.media_bucket, key=key, size=len(raw), head=raw[:SNIFF_BYTES], metadata={}, version_id=None, etag=""
            )
        )

    # -- GET /pushes/{id} -------------------------------------------------------------------------
    def report(self, request_id: str) -> PushStatus | None:
        found = self.ledger.request_recipients(request_id)
        if found is None:
            return None
        items, queued = found
        recipients = [
            RecipientStatus(
                id=str(i.get("rid", "")),
                number=i.get("number", ""),
                state=i["state"],
                message=i.get("message"),
                media=i.get("media_key"),
                reference=i.get("reference"),
                push_id=i.get("push_id"),
                msg_id=i.get("msg_id"),
                credit=i.get("credit"),
                vendor_status=i.get("vendor_status"),
                vendor_message=i.get("vendor_message"),
                delivery_status=i.get("delivery_status"),
                reason=i.get("reason"),
                error_code=i.get("error_code") or None,
                error_message=i.get("error_message") or None,
                caption_for=i.get("caption_for"),
                form=i.get("form"),
                template_id=i.get("template_id"),
                form_reason=i.get("form_reason"),
                fallback_for=i.get("fallback_for"),
                fallback_rid=i.get("fallback_rid"),
                updated_at=i.get("at") or datetime.now(UTC).isoformat(),
            )
            for i in items
        ]
        counts: dict[str, int] = {}
        for r in recipients:
            counts[r.state] = counts.get(r.state, 0) + 1
        return PushStatus(id=request_id, recipients=recipients, counts=counts, state="queued" if queued else None)

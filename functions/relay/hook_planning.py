"""IngestFunction's side of third-party webhooks: a `HookPush` from the IngestQueue → one push,
planned exactly as `POST /pushes` plans one (relay.pushes.PushService.create), media by URL
downloaded into the bucket first.

Decisions (README, "Webhooks from other services"):
- **One push per delivery, claimed by its push id.** The claim is the ledger's source of kind "api"
  keyed by `push_id` (what PushService.create claims), so `GET /pushes/{push_id}` answers for a
  webhook's push as for an API push, and the same HookPush delivered twice (SQS delivers at least
  once) is planned once: the second finds the source planned and is counted a duplicate.
- **Media by URL** (`media_url`) is downloaded by relay.safe_fetch (https only, the route's
  `media_hosts` only, redirects included, no private/loopback/link-local address, the size cap of
  the kind its name gives, else the largest media limit, one total deadline of 60 s) into
  `hook-media/<push_id>/<file name from the URL path, sanitised>`, only after the push is claimed
  (a duplicate downloads nothing). The object written is then read back and checked like any upload
  (relay.media_refs: kind from the name, content sniffing, size), planned with the version that was
  checked and presigned at send time like any S3 media: the vendor only ever fetches a checked file
  from our bucket. A URL whose path has no extension (Stripe's `…/pdf`) is named by the content type
  the host answered (`application/pdf` → `.pdf`), and the bytes must agree with it. `hook-media/`
  is neither an API_MEDIA_PREFIXES prefix nor a notified prefix (template.yaml notifies only
  `outbox/` and `manifests/`), so a downloaded file is never planned on its own.
- **A refused download** (any reason: scheme, host, address, size, deadline, the host's answer) is
  the recipient `rejected` with `media url refused (<host>): <reason>`. The URL itself is kept out of
  the ledger and logs (a sender's file URLs are often capabilities, e.g. Stripe's invoice links).
  A refusal the fetcher marks `transient` (a timeout, a connection failure, a 5xx or 429 from the
  media host) is retried instead, by SQS redelivery of the HookPush (the claim stays re-claimable, as for
  an S3 read that fails), until the delivery's FETCH_TRIES-th receive; that one records the
  rejection (with "after N tries"). FETCH_TRIES (3) stays below the IngestQueue's maxReceiveCount
  (5), so a slow media host ends as a rejected recipient, never in the dead-letter queue. A download
  starts only while the invocation has its deadline plus a margin left (a batch of many pushes with
  media); otherwise the HookPush is redelivered, which also counts as a receive.
- **`media_key`** (an object already in the bucket, the key taken from the event) follows the API's
  rule: it must be under API_MEDIA_PREFIXES (default `media/`), because its value comes from the
  sender's event, not from the route's author, and a route must not become a way to send any object
  of the bucket. A route giving both `media_url` and `media_key` that both resolve is rejected.
- **The push's other fields** go through the API's own model (PushRequest): a value the API would
  refuse (a reference over 128 characters, a template value with a newline) rejects the recipient
  with the field and reason instead of a 422, since nobody is waiting for an answer.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError

from relay.api_models import PushRequest
from relay.hook_models import HookPush
from relay.ledger import Ledger
from relay.media import LIMITS, MediaRejected, classify_by_name, extension_for
from relay.media_refs import media_ref
from relay.models import MediaRef, Rejection, Source, short_hash
from relay.numbers import InvalidNumber, normalize_number
from relay.planner import Plan
from relay.pushes import AlreadyAccepted, InvalidRequest, PushService
from relay.recording import record_plan
from relay.s3media import MediaStore, ObjectMissing
from relay.sendqueue import SendQueue
from relay.settings import Settings

HOOK_MEDIA_PREFIX = "hook-media/"
#: receives of one HookPush a retryable download refusal is retried over (SQS redelivery);
#: below the IngestQueue's maxReceiveCount (5), so the last try records the rejection
FETCH_TRIES = 3
#: the total time one download may take (resolution, connect, redirects, body): relay.safe_fetch's
#: default, a 100 MB document at ~2 MB/s
FETCH_DEADLINE_SECONDS = 60.0
#: a download starts only with this much of the invocation left beyond its deadline (planning and
#: recording it); else the HookPush is retried by SQS (it counts as one of its FETCH_TRIES)
FETCH_MARGIN_SECONDS = 15.0
#: the largest media limit (documents): the cap when the URL's name gives no kind
MAX_FETCH_BYTES = max(LIMITS.values())
MAX_NAME = 100


class FetchResult(Protocol):
    """What relay.safe_fetch.fetch_to_bucket answers: the object written (`bucket`, `key`,
    `version_id`, `size`, `content_type`) or `refused` (the reason), `transient` when a later try
    may succeed (a timeout, a connection failure, a 5xx or 429 from the media host). Read with
    getattr: only these names are relied on."""

    refused: str | None


Fetcher = Callable[..., Any]


class NotAHookPush(ValueError):
    """A queue message that says `"kind": "hook-push"` but is not a valid HookPush."""


class FetchRetry(Exception):
    """A retryable download refusal before the last try: the SQS record fails and is redelivered."""


def hook_push_in(body: str) -> HookPush | None:
    """The HookPush a queue message carries, None when it does not claim to be one (an S3
    notification). Raises NotAHookPush for one that claims to be but is not valid (the record then
    fails like any malformed body: retried, then dead-lettered)."""
    if '"hook-push"' not in body:  # cheap: an S3 notification never says it
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("kind") != "hook-push":
        return None
    try:
        return HookPush.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise NotAHookPush(f"not a valid hook push: {where}: {first['msg']}") from None


def media_name(url: str) -> str:
    """The file name a downloaded URL is stored under: the last path segment, percent-decoded, with
    anything but letters, digits, `.`, `-`, `_` made `_`, at most 100 characters keeping the
    extension; `media` when nothing is left."""
    try:
        raw = unquote(PurePosixPath(urlsplit(url).path).name)
    except ValueError:
        raw = ""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("._") or "media"
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = stem[: MAX_NAME - len(ext) - 1] + "." + ext if dot and stem and len(ext) <= 10 else name[:MAX_NAME]
    return name


def hook_media_key(push_id: str, url: str) -> str:
    return f"{HOOK_MEDIA_PREFIX}{push_id}/{media_name(url)}"


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "no host"
    except ValueError:
        return "not a URL"


def _cap(name: str) -> int:
    """The size cap of the kind the name gives, else the largest media limit."""
    try:
        return LIMITS[classify_by_name(name).kind]
    except MediaRejected:
        return MAX_FETCH_BYTES


@dataclass
class HookOutcome:
    duplicate: bool = False
    recipients: int = 0
    #: (number, reason) of each recipient rejected
    rejected: list[tuple[str, str]] = field(default_factory=list)


class HookPlanner:
    """Plans one HookPush at a time (IngestFunction, one per container)."""

    def __init__(
        self,
        settings: Settings,
        store: MediaStore,
        pushes: PushService,
        ledger: Ledger,
        queue: SendQueue,
        fetch: Fetcher,
        s3: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.pushes = pushes
        self.ledger = ledger
        self.queue = queue
        self.fetch = fetch
        self.s3 = s3
        self.clock = clock

    def take(self, hook: HookPush, receive_count: int = 1, time_left: Callable[[], float] | None = None) -> HookOutcome:
        """Plan the push once. Raises only what a redelivery may fix (FetchRetry, AWS errors).
        `receive_count`: the SQS record's ApproximateReceiveCount; `time_left`: seconds the
        invocation has left (None: no limit)."""
        try:  # before anything is downloaded: a push nobody can receive fetches nothing
            normalize_number(hook.number)
        except InvalidNumber as exc:
            return self._reject_all(hook, exc.reason)
        if hook.media_url and hook.media_key:
            return self._reject_all(hook, "the route gives both media_url and media_key; give one")
        media_key = hook_media_key(hook.push_id, hook.media_url) if hook.media_url else hook.media_key
        try:
            request = PushRequest.model_validate(self._request(hook, media_key))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"] if p != 0 and p != "recipients") or "push"
            return self._reject_all(hook, f"{where}: {str(first['msg']).removeprefix('Value error, ')}")
        resolved: Callable[[], Mapping[str, MediaRef | str]] | None = None
        if hook.media_url:
            url, key = hook.media_url, media_key or ""
            resolved = lambda: {key: self._download(hook, url, key, receive_count, time_left)}  # noqa: E731
        try:
            accepted = self.pushes.create(request, hook.push_id, resolved)
        except AlreadyAccepted:
            return HookOutcome(duplicate=True)
        except InvalidRequest as exc:
            return self._reject_all(hook, f"{exc.field}: {exc.message}")
        return HookOutcome(recipients=accepted.recipients, rejected=[(r.number, r.reason) for r in accepted.rejected])

    @staticmethod
    def _request(hook: HookPush, media_key: str | None) -> dict[str, Any]:
        """The push as POST /pushes takes it: one recipient."""
        recipient: dict[str, Any] = {"number": hook.number}
        if hook.reference is not None:
            recipient["reference"] = hook.reference
        body: dict[str, Any] = {"recipients": [recipient]}
        if hook.message is not None:
            body["message"] = hook.message
        if hook.application is not None:
            body["application"] = hook.application
        if media_key is not None:
            body["media"] = {"key": media_key}
        if hook.template is not None:
            t = hook.template
            body["template"] = {"id": t.id, "language": t.language, "values": list(t.values), "session": t.session}
            if t.header is not None:
                body["template"]["header"] = t.header
        return body

    def _download(self, hook: HookPush, url: str, key: str, receive_count: int, time_left: Callable[[], float] | None) -> MediaRef | str:
        """Fetch the URL into the bucket and check what was written, or the reason it is refused."""
        bucket = self.settings.media_bucket
        name = PurePosixPath(key).name
        if time_left is not None and time_left() < FETCH_DEADLINE_SECONDS + FETCH_MARGIN_SECONDS:
            raise FetchRetry("not enough of the invocation left for a download; SQS redelivers it")
        result = self.fetch(
            url=url,
            allowed_hosts=list(hook.media_hosts),
            bucket=bucket,
            key=key,
            s3=self.s3,
            max_bytes=_cap(name),
            deadline_seconds=FETCH_DEADLINE_SECONDS,
        )
        refused = getattr(result, "refused", None)
        if refused:
            if getattr(result, "transient", False):
                if receive_count < FETCH_TRIES:
                    raise FetchRetry(f"media url fetch failed (try {receive_count} of {FETCH_TRIES}): {refused}")
                refused = f"{refused} (after {FETCH_TRIES} tries)"
            return f"media url refused ({_host(url)}): {refused}"
        try:
            stored = self.store.inspect(
                getattr(result, "bucket", None) or bucket,
                getattr(result, "key", None) or key,
                version_id=getattr(result, "version_id", None),
            )
        except ObjectMissing as exc:
            return f"media url downloaded but not readable: {exc}"
        if "." not in name:  # no extension in the URL (Stripe's `…/pdf`): named by what the host said it is
            ext = extension_for(getattr(result, "content_type", None))
            if ext is not None:
                # the name the customer sees on a document: the push's reference (an invoice id) rather
                # than the URL's last segment, which without an extension is rarely a name (`pdf.pdf`)
                name = f"{media_name('/' + hook.reference) if hook.reference else name}.{ext}"
        return media_ref(stored, filename=name)

    def _reject_all(self, hook: HookPush, reason: str) -> HookOutcome:
        """A push the relay cannot send at all: claimed like any, its one recipient `rejected`."""
        source = Source(kind="api", bucket=self.settings.media_bucket, key=hook.push_id)
        if not self.ledger.begin_source(source):
            return HookOutcome(duplicate=True)
        rejection = Rejection(
            rid=short_hash(source.source_id, 1),  # the id PushService gives the push's first recipient
            number=hook.number,
            reason=reason,
            object_pk=source.object_pk,
            source_id=source.source_id,
            message=hook.message or "",
            reference=hook.reference,
        )
        record_plan(Plan(), [rejection], [source], self.ledger, self.queue, self.clock())
        return HookOutcome(rejected=[(rejection.number, reason)])

"""Ingest logic: uploads → candidates → media checks → plan → ledger + send queue.

Used by IngestFunction one SQS batch at a time: `prefetch` starts the media checks of the whole
batch concurrently, `take` turns one upload into candidates (raising on transient errors so that
only that SQS record is retried), `finish` plans everything taken into as few requests as the
channel allows and records it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial

from pydantic import ValidationError

from relay.aws import S3_CONCURRENCY
from relay.catalogue import Catalogue
from relay.ledger import Ledger
from relay.manifest import ManifestError, PlaceholderError, parse_manifest, render
from relay.media_refs import media_ref
from relay.models import MediaRef, Rejection, Source, short_hash
from relay.planner import Candidate, Plan, PlanRules, media_slot, plan, reject
from relay.recording import record_plan
from relay.s3media import MediaStore, ObjectHead, ObjectMissing
from relay.sendqueue import SendQueue
from relay.settings import Settings
from relay.templates import TemplateRef
from relay.uploads import OUTBOX_PREFIX, Upload


@dataclass
class IntakeReport:
    sources: int = 0
    duplicates: int = 0
    jobs: int = 0
    recipients: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    #: the S3 keys planned (log correlation)
    keys: list[str] = field(default_factory=list)


class Intake:
    def __init__(
        self,
        settings: Settings,
        store: MediaStore,
        ledger: Ledger,
        queue: SendQueue,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.ledger = ledger
        self.queue = queue
        self.clock = clock
        self.rules = PlanRules.from_settings(settings)
        self._pool = ThreadPoolExecutor(max_workers=S3_CONCURRENCY, thread_name_prefix="media-check")
        self._heads: dict[tuple[str, str, str | None], Future[ObjectHead]] = {}
        self.candidates: list[Candidate] = []
        self.media: dict[str, MediaRef | str] = {}
        self.rejections: list[Rejection] = []
        self.sources: list[Source] = []
        #: source ids taken in this batch: S3 may put the same notification twice in one batch
        self._taken: set[str] = set()
        self.duplicates = 0
        #: the catalogue entries of the batch's templates, each read once (relay.catalogue)
        self.catalogue = Catalogue(store, settings.media_bucket)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- per upload -----------------------------------------------------------------------------
    def prefetch(self, uploads: Iterable[Upload]) -> None:
        for upload in uploads:
            if upload.kind == "outbox":
                self._head(upload.bucket, upload.key, upload.version_id)

    def _head(self, bucket: str, key: str, version: str | None = None) -> Future[ObjectHead]:
        if (bucket, key, version) not in self._heads:
            read = partial(self.store.inspect, version_id=version) if version else self.store.inspect
            self._heads[(bucket, key, version)] = self._pool.submit(read, bucket, key)
        return self._heads[(bucket, key, version)]

    def _checked(self, bucket: str, key: str, version: str | None = None) -> ObjectHead:
        """The object's head, from its prefetch (dropped once read: only what planning needs stays)."""
        self._head(bucket, key, version)
        return self._heads.pop((bucket, key, version)).result()

    def take(self, upload: Upload) -> None:
        """Claim the upload and add its recipients. Raises only for what a retry can fix.

        A take that raises leaves nothing behind: its source is not marked `planned` by `finish`
        (its claim stays `planning`, which a redelivery may claim again) and whatever it added is
        withdrawn, so the SQS redelivery plans it in full. The same source twice in one batch (S3
        notifies at least once) is a duplicate: claiming it again would write its items twice in
        one BatchWriteItem, which DynamoDB refuses."""
        if upload.kind is None:
            return
        source = upload.source
        if source.source_id in self._taken:
            self.duplicates += 1
            return
        if not self.ledger.begin_source(source):
            self.duplicates += 1
            return
        marks = (len(self.candidates), len(self.rejections), len(self.sources))
        self._taken.add(source.source_id)
        self.sources.append(source)
        try:
            if upload.kind == "outbox":
                self._take_outbox(upload, source)
            else:
                self._take_manifest(upload, source)
        except BaseException:
            self._taken.discard(source.source_id)
            del self.candidates[marks[0] :], self.rejections[marks[1] :], self.sources[marks[2] :]
            raise

    def _take_outbox(self, upload: Upload, source: Source) -> None:
        rest = upload.key[len(OUTBOX_PREFIX) :]
        number, _, name = rest.partition("/")
        rid = short_hash(source.source_id)
        if not number or not name or name.endswith("/"):
            self.rejections.append(
                Rejection(
                    rid=rid,
                    number=number,
                    object_pk=source.object_pk,
                    source_id=source.source_id,
                    media_key=upload.key,
                    reason="key must be outbox/<number>/<file name>",
                )
            )
            return
        try:
            head = self._checked(upload.bucket, upload.key, upload.version_id)
        except ObjectMissing as exc:
            self.rejections.append(
                Rejection(
                    rid=rid, number=number, object_pk=source.object_pk, source_id=source.source_id, reason=str(exc), media_key=upload.key
                )
            )
            return
        self.media[media_slot(upload.key, upload.version_id)] = media_ref(head)
        cand = Candidate(
            rid=rid,
            source=source,
            number=number,
            message=head.metadata.get("message") or self.settings.default_message,
            media_key=upload.key,
            media_version=upload.version_id,
            reference=head.metadata.get("reference") or None,
            application=self.settings.picky_application,
        )
        try:
            template, values, header = outbox_template(head.metadata)
        except ValueError as exc:
            self.rejections.append(reject(cand, str(exc)))
            return
        if template is not None:
            self.catalogue.load(template.id)
        self.candidates.append(replace(cand, template=template, template_values=values, template_header=header))

    def _take_manifest(self, upload: Upload, source: Source) -> None:
        try:
            manifest = parse_manifest(upload.key, self.store.read(upload.bucket, upload.key))
        except (ManifestError, ObjectMissing) as exc:
            self.rejections.append(
                Rejection(
                    rid=short_hash(source.source_id, "manifest"),
                    number="",
                    object_pk=source.object_pk,
                    source_id=source.source_id,
                    reason=f"manifest refused: {getattr(exc, 'reason', exc)}",
                )
            )
            return
        camp = manifest.settings
        application = camp.application or self.settings.picky_application
        keys = {row.media for row in manifest.rows if row.media}
        if camp.media:
            keys.add(camp.media)
        self._check_media(upload.bucket, keys)
        template = camp.template
        if template is not None:
            self.catalogue.load(template.id)
        for row in manifest.rows:
            cand = Candidate(
                rid=short_hash(source.source_id, row.index),
                source=source,
                number=row.number,
                media_key=row.media,
                reference=row.reference,
                application=application,
                priority=camp.priority,
                global_media_key=None if row.media else camp.media,
                media_name=camp.media_name,
                template=template,
            )
            text = row.message if row.message is not None else camp.message
            try:
                message = render(text, row.fields)
                values = tuple(
                    render(value, row.fields, f"template value {n}") for n, value in enumerate(camp.template_values or (), start=1)
                )
                header = render(camp.template_header, row.fields, "template_header") if camp.template_header else None
            except PlaceholderError as exc:
                self.rejections.append(reject(cand, f"row {row.index}: {exc.reason}"))
                continue
            self.candidates.append(replace(cand, message=message, template_values=values, template_header=header))

    def _check_media(self, bucket: str, keys: set[str]) -> None:
        todo = [k for k in keys if k not in self.media]
        for key in todo:
            self._head(bucket, key)
        for key in todo:  # keep only what planning needs (a MediaRef or a reason), not the futures
            try:
                self.media[key] = media_ref(self._checked(bucket, key))
            except ObjectMissing:
                self.media[key] = "no such object in the bucket"

    # -- per batch --------------------------------------------------------------------------------
    def finish(self) -> IntakeReport:
        now = self.clock()
        result: Plan = plan(self.candidates, self.media, self.rules, now, catalogue=self.catalogue.entries())
        rejections = self.rejections + result.rejections
        record_plan(result, rejections, self.sources, self.ledger, self.queue, now)
        return IntakeReport(
            sources=len(self.sources),
            duplicates=self.duplicates,
            jobs=len(result.jobs),
            recipients=result.entries,
            rejected=len(rejections),
            rejections=rejections,
            keys=[source.key for source in self.sources],
        )


#: an outbox file's object metadata that asks for a template (README, "WhatsApp's 24-hour window")
TEMPLATE_METADATA = ("template", "template-language", "template-values", "template-header", "session")


def outbox_template(metadata: Mapping[str, str]) -> tuple[TemplateRef | None, tuple[str, ...], str | None]:
    """The template an outbox file's metadata asks for: (template, values, header). Raises
    ValueError naming the metadata field when it is malformed (the recipient is rejected with it)."""
    given = {name: metadata[name] for name in TEMPLATE_METADATA if metadata.get(name, "").strip()}
    if "template" not in given:
        extra = [name for name in given if not (name == "session" and given[name].strip() == "freeform")]
        if extra:
            raise ValueError(f"metadata {extra[0]} needs metadata template (the template id)")
        return None, (), None
    if "template-language" not in given:
        raise ValueError("metadata template needs metadata template-language")
    try:
        template = TemplateRef.model_validate(
            {
                "id": given["template"].strip(),
                "language": given["template-language"].strip(),
                "session": given.get("session", "auto").strip(),
            }
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        name = {"id": "template", "language": "template-language"}.get(str(err["loc"][0]) if err["loc"] else "", "session")
        raise ValueError(f"metadata {name}: {str(err['msg']).removeprefix('Value error, ')}") from None
    values: tuple[str, ...] = ()
    if "template-values" in given:
        try:
            parsed = json.loads(given["template-values"])
        except json.JSONDecodeError as exc:
            raise ValueError(f"metadata template-values is not a JSON list of strings ({exc.msg} at column {exc.colno})") from None
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            raise ValueError("metadata template-values is not a JSON list of strings")
        values = tuple(parsed)
    return template, values, given.get("template-header")

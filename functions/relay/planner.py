"""Planning: recipients in, Push API jobs and rejections out. Pure logic, no I/O.

The rules (each has unit tests in tests/unit/test_planner.py):
- numbers normalised; a leading single 0 or a length outside 8–15 digits is rejected;
- text/caption at most 4,096 characters; reference at most 128;
- media must have passed the checks in relay.media (kind from extension AND bytes, size);
- captions only on image/video: a message for a document/audio/sticker is sent as its own text
  message right after the media (README: "Captions on documents");
- media_name only for documents, at most 20 characters (shortened, extension kept);
- per-recipient (dynamic) media only on channels that take it (relay.channels; default: 8, WhatsApp
  Official); other channels get one request per recipient, spaced PER_RECIPIENT_SPACING_SECONDS apart;
- at most `cap` recipients per request, and a job small enough for one SQS message (in UTF-8 bytes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, NamedTuple

from relay.channels import one_recipient_per_request
from relay.media import CAPTION_KINDS, MediaKind, shorten_media_name
from relay.models import MAX_TEXT, Entry, Job, MediaRef, Rejection, Source, job_id_for
from relay.numbers import InvalidNumber, normalize_number
from relay.text_rules import text_problem

if TYPE_CHECKING:
    from relay.settings import Settings

#: A job's JSON, in UTF-8 bytes as the send queue carries it (`model_dump_json(exclude_defaults=True)`),
#: stays under this: SQS takes 262,144 bytes of body + attributes, and the rest is margin for
#: message attributes and for what the sender adds when it puts a job back. Counted in bytes, not
#: characters: 1,190 Devanagari characters are 3,570 bytes.
MAX_JOB_BYTES = 200_000
#: `reference_number` the relay forwards (the API takes the same at most)
MAX_REFERENCE = 128
#: A caption sent as its own text follows its media by this many seconds (ordering hint).
CAPTION_FOLLOW_SECONDS = 2

Mode = Literal["dynamic", "static", "text"]


@dataclass(frozen=True)
class Candidate:
    """A recipient as the input gave it, before any rule ran."""

    rid: str
    source: Source
    number: object
    message: str = ""
    media_key: str | None = None
    reference: str | None = None
    application: int = 8
    priority: Literal["0", "1"] = "0"
    global_media_key: str | None = None
    media_name: str | None = None
    voice: bool = False
    #: the S3 version of `media_key` this candidate's media check read (outbox uploads)
    media_version: str | None = None


def media_slot(key: str, version: str | None = None) -> str:
    """Where a media check's result is kept in a MediaLookup: by key, or by key and version when a
    notification named one (two versions of one key in one batch each keep their own check)."""
    return key if version is None else f"{key}\x00{version}"


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return sum(len(job.entries) for job in self.jobs)


@dataclass(frozen=True)
class PlanRules:
    cap: int = 100
    dynamic_channels: frozenset[int] = frozenset({8})
    spacing_seconds: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> PlanRules:
        return cls(
            cap=settings.recipients_per_push,
            dynamic_channels=settings.dynamic_media_channels,
            spacing_seconds=settings.per_recipient_spacing_seconds,
        )


#: What the media checks found for each S3 key: a MediaRef, or the reason it was refused.
MediaLookup = Mapping[str, MediaRef | str]


def reject(candidate: Candidate, reason: str, number: str | None = None) -> Rejection:
    return Rejection(
        rid=candidate.rid,
        number=number if number is not None else (str(candidate.number) if candidate.number is not None else ""),
        reason=reason,
        object_pk=candidate.source.object_pk,
        source_id=candidate.source.source_id,
        message=candidate.message,
        media_key=candidate.media_key or candidate.global_media_key,
        reference=candidate.reference,
    )


def _text_problem(cand: Candidate) -> str | None:
    """Characters the vendor must never get (relay.text_rules): the same rule as the API's, for
    manifests and outbox metadata."""
    for name, value, layout in (("message", cand.message, True), ("reference", cand.reference, False)):
        problem = text_problem(value, layout=layout) if value else None
        if problem is not None:
            return f"{name} {problem}"
    return None


class GroupKey(NamedTuple):
    """What the recipients of one Push API request share (a group is then cut into requests)."""

    application: int
    priority: Literal["0", "1"]
    mode: Mode
    #: the static media's key (mode "static"), else None
    static_media_key: str | None
    media_name: str | None
    #: captions sent as their own text after their media (planned after every media group)
    is_caption: bool
    #: audio sent as a voice note
    voice: bool


@dataclass
class _Group:
    entries: list[Entry] = field(default_factory=list)
    #: the static media every entry gets (mode "static"), else None
    shared: MediaRef | None = None


@dataclass(frozen=True)
class _Admitted:
    """A candidate that passed every rule: its entry, its group, and the text entry of a caption
    its media kind cannot carry."""

    entry: Entry
    group: GroupKey
    shared: MediaRef | None
    caption: Entry | None = None


def plan(
    candidates: Iterable[Candidate],
    media: MediaLookup,
    rules: PlanRules,
    now: float,
    send_at: float | None = None,
    expires_at: float | None = None,
) -> Plan:
    """`send_at` holds every job until then; `expires_at` is when unsent jobs are given up.

    Three steps: each candidate is checked against the rules (`_admit`: an entry, or a rejection),
    the entries are grouped by what one request shares (`GroupKey`), and each group is cut into
    jobs with their times (`_jobs`)."""
    result = Plan()
    groups: dict[GroupKey, _Group] = {}
    for cand in _once_each(candidates):
        admitted = _admit(cand, media)
        if isinstance(admitted, Rejection):
            result.rejections.append(admitted)
            continue
        group = groups.setdefault(admitted.group, _Group())
        group.entries.append(admitted.entry)
        group.shared = admitted.shared
        if admitted.caption is not None:
            caption_group = GroupKey(admitted.group.application, admitted.group.priority, "text", None, None, True, False)
            groups.setdefault(caption_group, _Group()).entries.append(admitted.caption)
    result.jobs = _jobs(groups, rules, now, max(now, send_at or now), expires_at)
    return result


def _once_each(candidates: Iterable[Candidate]) -> Iterator[Candidate]:
    """The same upload delivered twice in one batch is planned once."""
    seen: set[str] = set()
    for cand in candidates:
        if cand.rid not in seen:
            seen.add(cand.rid)
            yield cand


def _admit(cand: Candidate, media: MediaLookup) -> _Admitted | Rejection:
    """The rules for one recipient: its number, its text, its media."""
    try:
        number = normalize_number(cand.number)
    except InvalidNumber as exc:
        return reject(cand, exc.reason)
    if len(cand.message) > MAX_TEXT:
        return reject(cand, f"message is {len(cand.message)} characters; the limit is {MAX_TEXT}", number)
    if cand.reference is not None and len(cand.reference) > MAX_REFERENCE:
        return reject(cand, f"reference is {len(cand.reference)} characters; the limit is {MAX_REFERENCE}", number)
    problem = _text_problem(cand)
    if problem is not None:
        return reject(cand, problem, number)
    own = _lookup(media, cand.media_key, cand.media_version)
    shared = _lookup(media, cand.global_media_key)
    refused = next((r for r in (own, shared) if isinstance(r, str)), None)
    if refused is not None:
        return reject(cand, refused, number)
    assert not isinstance(own, str) and not isinstance(shared, str)
    carried = own or shared
    if carried is None and not cand.message.strip():
        return reject(cand, "nothing to send: no media and no message", number)

    caption_moves = bool(cand.message.strip()) and carried is not None and carried.kind not in CAPTION_KINDS
    entry = Entry(
        rid=cand.rid,
        number=number,
        message="" if caption_moves else cand.message,
        media=own,
        reference=cand.reference,
        object_pk=cand.source.object_pk,
    )
    mode: Mode = "dynamic" if own is not None else ("static" if shared is not None else "text")
    static = shared if mode == "static" else None
    group = GroupKey(
        application=cand.application,
        priority=cand.priority,
        mode=mode,
        static_media_key=static.key if static else None,
        media_name=_media_name(cand.media_name, shared if mode == "static" else own, mode),
        is_caption=False,
        voice=cand.voice and carried is not None and carried.kind == MediaKind.AUDIO,
    )
    caption = None
    if caption_moves:
        caption = Entry(
            rid=f"{cand.rid}-caption",
            number=number,
            message=cand.message,
            reference=cand.reference,
            object_pk=cand.source.object_pk,
            caption_for=cand.rid,
        )
    return _Admitted(entry=entry, group=group, shared=static, caption=caption)


def _jobs(groups: dict[GroupKey, _Group], rules: PlanRules, now: float, start: float, expires_at: float | None) -> list[Job]:
    """Each group cut into requests (one recipient each where the channel rule says so, spaced
    apart), captions last so that they can follow the latest media job."""
    planned_at = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    jobs: list[Job] = []
    spaced = 0
    latest_media = start
    for key in sorted(groups, key=lambda k: k.is_caption):
        group = groups[key]
        one_each = one_recipient_per_request(key.application, key.mode == "dynamic", rules.dynamic_channels)
        chunks = [[e] for e in group.entries] if one_each else _chunks(group.entries, rules.cap)
        for chunk in chunks:
            not_before: float | None = start if start > now else None
            if one_each:
                not_before = start + spaced * rules.spacing_seconds
                spaced += 1
            elif key.is_caption:
                not_before = latest_media + CAPTION_FOLLOW_SECONDS
            if not_before is not None and not key.is_caption:
                latest_media = max(latest_media, not_before)
            jobs.append(
                Job(
                    job_id=job_id_for(chunk),
                    application=key.application,
                    priority=key.priority,
                    global_media=group.shared,
                    media_name=key.media_name,
                    voice=key.voice,
                    entries=chunk,
                    sources=sorted({e.object_pk for e in chunk}),
                    planned_at=planned_at,
                    not_before=not_before,
                    expires_at=expires_at,
                )
            )
    return jobs


def _lookup(media: MediaLookup, key: str | None, version: str | None = None) -> MediaRef | str | None:
    if key is None:
        return None
    found = media.get(media_slot(key, version))
    if found is None:
        return f"media {key!r} was not checked"
    if isinstance(found, str):
        return f"media {key!r}: {found}"
    return found


def _media_name(requested: str | None, media: MediaRef | None, mode: Mode) -> str | None:
    """A document's display name: what the campaign asked for, else the file's own name for static
    media (one file for everyone). Never on other kinds; never over 20 characters."""
    if media is None or media.kind != MediaKind.DOCUMENT:
        return None
    name = requested or (media.filename if mode == "static" else None)
    return shorten_media_name(name) if name else None


def job_bytes(job: Job) -> int:
    """The job's size on the send queue: UTF-8 bytes of the JSON the queue carries."""
    return len(job.model_dump_json(exclude_defaults=True).encode())


#: bytes a job has besides its entries (ids, application, media, sources, times): generous
_JOB_OVERHEAD = 4_096


def _chunks(entries: list[Entry], cap: int) -> list[list[Entry]]:
    chunks: list[list[Entry]] = []
    current: list[Entry] = []
    size = _JOB_OVERHEAD
    for entry in entries:
        entry_size = len(entry.model_dump_json(exclude_defaults=True).encode()) + 1 + len(entry.object_pk.encode()) + 3
        if current and (len(current) >= cap or size + entry_size > MAX_JOB_BYTES):
            chunks.append(current)
            current, size = [], _JOB_OVERHEAD
        current.append(entry)
        size += entry_size
    if current:
        chunks.append(current)
    return chunks

"""Planning: recipients in, Push API jobs and rejections out. Pure logic, no I/O.

The rules (each has unit tests in tests/unit/test_planner.py and, for templates, test_planner_templates.py):
- numbers normalised; a leading single 0 or a length outside 8–15 digits is rejected;
- text/caption at most 4,096 characters; reference at most 128;
- media must have passed the checks in relay.media (kind from extension AND bytes, size);
- captions only on image/video: a message for a document/audio/sticker is sent as its own text
  message right after the media (README: "Captions on documents");
- media_name only for documents, at most 20 characters (shortened, extension kept);
- per-recipient (dynamic) media only on channels that take it (relay.channels; default: 8, WhatsApp
  Official); other channels get one request per recipient, spaced PER_RECIPIENT_SPACING_SECONDS apart;
- at most `cap` recipients per request, and a job small enough for one SQS message (in UTF-8 bytes);
- templates (WhatsApp's 24-hour window, relay.templates; README "WhatsApp's 24-hour window"): see
  `_template_rules`. In short: values and header pass relay.templates' checks and the text rules; a
  header needs document media; a catalogue entry for the template (relay.catalogue) adds the
  language, the number of values and the media kind; recipients of one request share one template
  (id, language, session).

The form a job is planned in (`Job.form`):
- no template, or session `freeform`: "freeform" (the template is dropped: never sent, no fallback);
- session `template`: "template", on the channels in SESSION_CHANNELS (WhatsApp Official: elsewhere
  the vendor has no templates, so such a recipient is rejected before paying). The recipient's
  message is NOT sent (the template carries the message), so no caption text is planned either;
- session `auto` on a channel in SESSION_CHANNELS: None, decided per recipient at send time. Its
  caption entries (a message a document cannot carry) carry the job's template too, so that the
  sender can skip the caption of a recipient who gets the template. A recipient with nothing to send
  free-form (no media, no message: a text template with values) is planned "template" directly;
- session `auto` on a channel NOT in SESSION_CHANNELS: "freeform" (the window does not apply there;
  the template is dropped, its values are still checked: bad input is refused whatever the channel).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

from relay.channels import one_recipient_per_request
from relay.media import CAPTION_KINDS, MediaKind, shorten_media_name
from relay.models import MAX_TEXT, Entry, Job, MediaRef, Rejection, Source, iso_at, job_id_for
from relay.numbers import InvalidNumber, normalize_number
from relay.templates import CatalogueEntry, Form, TemplateRef, catalogue_problem, header_problem, values_problem
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
    #: the template this recipient may (session auto) or must (session template) get
    template: TemplateRef | None = None
    #: the template's variable values ({{1}}, {{2}} … in order), rendered for this recipient
    template_values: tuple[str, ...] = ()
    #: a document template's header (the file name shown)
    template_header: str | None = None


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
    #: channels where WhatsApp's 24-hour window applies (SESSION_CHANNELS)
    session_channels: frozenset[int] = frozenset({8})

    @classmethod
    def from_settings(cls, settings: Settings) -> PlanRules:
        return cls(
            cap=settings.recipients_per_push,
            dynamic_channels=settings.dynamic_media_channels,
            spacing_seconds=settings.per_recipient_spacing_seconds,
            session_channels=settings.session_channels,
        )


#: What the media checks found for each S3 key: a MediaRef, or the reason it was refused.
MediaLookup = Mapping[str, MediaRef | str]
#: The catalogue entries read for the templates of a plan (relay.catalogue), by template id: the
#: entry, or why it could not be used. A template id that is absent has no entry: generic checks only.
CatalogueLookup = Mapping[str, CatalogueEntry | str]
#: Template values (and header) of one recipient together, in characters: a WhatsApp template body is
#: at most 1,024 characters, so this is generous; it bounds a recipient's bytes on the send queue.
MAX_TEMPLATE_TEXT = MAX_TEXT


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
    #: the template the request carries (one per request), else None
    template: TemplateRef | None = None
    #: the form the request is planned in (Job.form; None: decided at send time)
    form: Form | None = None


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
    catalogue: CatalogueLookup | None = None,
) -> Plan:
    """`send_at` holds every job until then; `expires_at` is when unsent jobs are given up;
    `catalogue`: the catalogue entries of the candidates' templates (relay.catalogue).

    Three steps: each candidate is checked against the rules (`_admit`: an entry, or a rejection),
    the entries are grouped by what one request shares (`GroupKey`), and each group is cut into
    jobs with their times (`_jobs`)."""
    result = Plan()
    groups: dict[GroupKey, _Group] = {}
    for cand in _once_each(candidates):
        admitted = _admit(cand, media, rules, catalogue or {})
        if isinstance(admitted, Rejection):
            result.rejections.append(admitted)
            continue
        group = groups.setdefault(admitted.group, _Group())
        group.entries.append(admitted.entry)
        group.shared = admitted.shared
        if admitted.caption is not None:
            caption_group = GroupKey(
                admitted.group.application,
                admitted.group.priority,
                "text",
                None,
                None,
                True,
                False,
                template=admitted.group.template,
                form=admitted.group.form,
            )
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


def _admit(cand: Candidate, media: MediaLookup, rules: PlanRules, catalogue: CatalogueLookup) -> _Admitted | Rejection:
    """The rules for one recipient: its number, its text, its media, its template."""
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
    problem = _template_problem(cand, carried, catalogue)
    if problem is not None:
        return reject(cand, problem, number)
    if cand.template is not None and cand.template.session == "template" and cand.application not in rules.session_channels:
        # templates are WhatsApp Official's (the vendor refuses them elsewhere): refused before paying
        return reject(
            cand,
            f"template {cand.template.id} with session=template on application {cand.application}: templates are sent only"
            " on WhatsApp Official channels (SESSION_CHANNELS)",
            number,
        )
    template, form = _form(cand, carried, rules)
    if carried is None and not cand.message.strip() and template is None:
        why = "no media and no message"
        if cand.template is not None:
            why += f" (the template is not used: {_dropped(cand, rules)})"
        return reject(cand, f"nothing to send: {why}", number)

    # session template: the template carries the message; the message is not sent (nor its caption)
    message = "" if form == "template" else cand.message
    caption_moves = bool(message.strip()) and carried is not None and carried.kind not in CAPTION_KINDS
    entry = Entry(
        rid=cand.rid,
        number=number,
        message="" if caption_moves else message,
        media=own,
        reference=cand.reference,
        object_pk=cand.source.object_pk,
        template_values=cand.template_values if template is not None else (),
        template_header=cand.template_header if template is not None else None,
        form_reason=_dropped(cand, rules) if cand.template is not None and template is None else None,
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
        template=template,
        form=form,
    )
    caption = None
    if caption_moves:
        caption = Entry(
            rid=f"{cand.rid}-caption",
            number=number,
            message=message,
            reference=cand.reference,
            object_pk=cand.source.object_pk,
            caption_for=cand.rid,
        )
    return _Admitted(entry=entry, group=group, shared=static, caption=caption)


def _template_problem(cand: Candidate, carried: MediaRef | None, catalogue: CatalogueLookup) -> str | None:
    """The template rules (relay.templates), checked whatever form the recipient gets: values
    non-empty, one line, no more than four consecutive spaces, within the text rules; a header only
    with document media, at most 60 characters; with a catalogue entry, its language, number of
    values and media kind."""
    if cand.template is None:
        if cand.template_values or cand.template_header is not None:
            return "template values or header given without a template"
        return None
    problem = values_problem(cand.template_values)
    if problem is not None:
        return problem
    for n, value in enumerate(cand.template_values, start=1):
        problem = text_problem(value, layout=False)
        if problem is not None:
            return f"template value {n} ({{{{{n}}}}}) {problem}"
    total = sum(len(v) for v in cand.template_values) + len(cand.template_header or "")
    if total > MAX_TEMPLATE_TEXT:
        return f"template values and header are {total} characters together; the limit is {MAX_TEMPLATE_TEXT}"
    kind = carried.kind if carried is not None else None
    if cand.template_header is not None:
        if kind is None:
            return "template_header is only for document templates; this recipient has no media"
        problem = header_problem(cand.template_header, kind) or _prefixed(
            "template_header", text_problem(cand.template_header, layout=False)
        )
        if problem is not None:
            return problem
    entry = catalogue.get(cand.template.id)
    if isinstance(entry, str):
        return entry
    if entry is not None:
        return catalogue_problem(entry, cand.template.language, cand.template_values, kind)
    return None


def _prefixed(name: str, problem: str | None) -> str | None:
    return f"{name} {problem}" if problem is not None else None


def _form(cand: Candidate, carried: MediaRef | None, rules: PlanRules) -> tuple[TemplateRef | None, Form | None]:
    """The template a job keeps and the form it is planned in (the module docstring)."""
    ref = cand.template
    if ref is None or _dropped(cand, rules) is not None:
        return None, "freeform"
    if ref.session == "template" or (carried is None and not cand.message.strip()):
        return ref, "template"
    return ref, None


def _dropped(cand: Candidate, rules: PlanRules) -> str | None:
    """Why a recipient's template is not kept on its job, or None when it is."""
    ref = cand.template
    if ref is None:
        return None
    if ref.session == "freeform":
        return "session=freeform"
    if ref.session == "auto" and cand.application not in rules.session_channels:
        return f"the 24-hour window does not apply on application {cand.application} (SESSION_CHANNELS): sent free-form"
    return None


def _jobs(groups: dict[GroupKey, _Group], rules: PlanRules, now: float, start: float, expires_at: float | None) -> list[Job]:
    """Each group cut into requests (one recipient each where the channel rule says so, spaced
    apart), captions last so that they can follow the latest media job."""
    planned_at = iso_at(now)
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
                    template=key.template,
                    form=key.form,
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

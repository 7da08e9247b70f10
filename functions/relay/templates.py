"""WhatsApp's 24-hour window and template messages: the rules, pure (no I/O).

On WhatsApp Official (application 8) a business may send free-form messages (media with a caption)
only within 24 hours of the customer's last message to it; outside that window only an approved
**template** may be sent (README, "WhatsApp's 24-hour window"). This module holds:

- what a push asks for (`TemplateRef`: the template's id, language and the `session` rule);
- the checks a template send must pass before it costs anything (`value_problem`,
  `header_problem`, and, with a catalogue entry for the template, `catalogue_problem`);
- the decision, at send time, of the form each recipient gets (`decide_form`);
- how a delivery report tells that a free-form message failed because the window was closed
  (`closed_window_failure`), which earns the recipient one fallback to the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from relay.media import MediaKind

#: `auto`: free-form inside the window (minus the safety margin), else the template; `template`:
#: always the template; `freeform`: never the template (today's behaviour; the only form without one).
Session = Literal["auto", "template", "freeform"]
Form = Literal["template", "freeform"]

#: WhatsApp's customer-service window
WINDOW_SECONDS = 24 * 3600
#: WhatsApp's error for a free-form message outside the window ("Re-engagement message")
CLOSED_WINDOW_ERROR = "131047"
#: the most characters of a document template's header (file name) the vendor takes
MAX_HEADER = 60
#: the most characters of one variable value we forward (a template body is at most 1,024)
MAX_VALUE = 1024
#: the most values one template takes (WhatsApp's bodies have far fewer variables)
MAX_VALUES = 100
ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$"
_ID = re.compile(ID_PATTERN)
_LANGUAGE = re.compile(LANGUAGE_PATTERN)


class TemplateRef(BaseModel):
    """The template a push may send instead of (or in place of) a free-form message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="The approved template's id (e.g. XY6479)")
    language: str = Field(description="The template's language code (e.g. en, pt_BR)")
    session: Session = Field(default="auto", description="auto: free-form inside the 24-hour window, else the template")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("template id: 1-128 letters, digits, '_' or '-'")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if not _LANGUAGE.match(value):
            raise ValueError("template language: a code such as en, pt_BR or es_MX")
        return value


# -- checks before sending ------------------------------------------------------------------------
def value_problem(value: str) -> str | None:
    """Why WhatsApp would refuse this variable value, or None: empty, a newline or tab, more than
    four consecutive spaces (picky-assist-api.md, "Template messages", [unofficial])."""
    if not value.strip():
        return "is empty"
    if "\n" in value or "\r" in value:
        return "contains a newline"
    if "\t" in value:
        return "contains a tab"
    if "     " in value:
        return "has more than four consecutive spaces"
    if len(value) > MAX_VALUE:
        return f"is {len(value)} characters; the limit is {MAX_VALUE}"
    return None


def values_problem(values: tuple[str, ...] | list[str]) -> str | None:
    """The first value WhatsApp would refuse, named by its position ({{1}} is value 1)."""
    if len(values) > MAX_VALUES:
        return f"template has {len(values)} values; the limit is {MAX_VALUES}"
    for n, value in enumerate(values, start=1):
        problem = value_problem(value)
        if problem is not None:
            return f"template value {n} ({{{{{n}}}}}) {problem}"
    return None


def header_problem(header: str, media_kind: MediaKind | None) -> str | None:
    """A header name is a document's file name: at most 60 characters, one line, documents only."""
    if media_kind is not None and media_kind != MediaKind.DOCUMENT:
        return f"template_header is only for document templates; this media is {media_kind}"
    if not header.strip():
        return "template_header is empty"
    if len(header) > MAX_HEADER:
        return f"template_header is {len(header)} characters; the limit is {MAX_HEADER}"
    if any(c in header for c in "\n\r\t"):
        return "template_header contains a newline or tab"
    return None


TemplateKind = Literal["text", "image", "document", "video"]
#: the media kind a template of each kind takes as its header (text: none)
HEADER_MEDIA: dict[str, MediaKind | None] = {
    "text": None,
    "image": MediaKind.IMAGE,
    "document": MediaKind.DOCUMENT,
    "video": MediaKind.VIDEO,
}


class CatalogueEntry(BaseModel):
    """What the relay knows of one approved template (`templates/<template_id>.json` in the media
    bucket; `relay templates pull` writes them from the vendor's template-status endpoint)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    languages: list[str] = Field(default_factory=list, description="Approved languages; empty: not checked")
    kind: TemplateKind = "text"
    variables: int | None = Field(default=None, ge=0, description="Number of {{n}} variables; None: not checked")
    name: str | None = None
    status: str | None = None


#: template statuses that say WhatsApp will not send it (the vendor's words are unofficial: any other
#: status, or none, is taken as usable rather than refusing a template we cannot read the state of)
NOT_SENDABLE = frozenset({"rejected", "pending", "in_review", "submitted", "disabled", "paused", "deleted", "pending_deletion"})


def catalogue_problem(
    entry: CatalogueEntry, language: str, values: tuple[str, ...] | list[str], media_kind: MediaKind | None
) -> str | None:
    """What the catalogue says is wrong with this send, or None."""
    if entry.status and entry.status.strip().lower().replace(" ", "_") in NOT_SENDABLE:
        return f"template {entry.id} is not approved (status {entry.status!r} in templates/{entry.id}.json)"
    if entry.languages and language not in entry.languages:
        return f"template {entry.id} has no language {language!r} (it has {', '.join(entry.languages)})"
    if entry.variables is not None and len(values) != entry.variables:
        return f"template {entry.id} takes {entry.variables} values; {len(values)} given"
    wanted = HEADER_MEDIA[entry.kind]
    if wanted is None and media_kind is not None:
        return f"template {entry.id} is a text template; it takes no media (got {media_kind})"
    kind = f"{'an' if entry.kind[0] in 'aeiou' else 'a'} {entry.kind} template"
    if wanted is not None and media_kind is None:
        return f"template {entry.id} is {kind}; it needs {wanted} media as its header"
    if wanted is not None and media_kind != wanted:
        return f"template {entry.id} is {kind}; the media is {media_kind}"
    return None


# -- the decision at send time --------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    form: Form
    #: why, for the ledger (`form_reason`)
    why: str


def decide_form(session: Session, last_inbound: float | None, now: float, margin_seconds: float, window_applies: bool) -> Decision:
    """The form one recipient gets now. `last_inbound`: unix seconds of the customer's last message
    on this channel (None: none on record); `window_applies`: the channel is in SESSION_CHANNELS."""
    if session == "template":
        return Decision("template", "session=template")
    if session == "freeform":
        return Decision("freeform", "session=freeform")
    if not window_applies:
        return Decision("freeform", "the 24-hour window does not apply on this channel")
    if last_inbound is None:
        return Decision("template", "no message from the customer on record: outside the 24-hour window")
    open_until = last_inbound + WINDOW_SECONDS - margin_seconds
    if now < open_until:
        return Decision("freeform", f"customer wrote {_age(now - last_inbound)} ago: inside the 24-hour window")
    age = _age(now - last_inbound)
    return Decision("template", f"customer last wrote {age} ago: outside the 24-hour window (margin {margin_seconds:g}s)")


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def closed_window_failure(error_code: str | None, error_message: str | None) -> bool:
    """A failed delivery report that says the window was closed (WhatsApp 131047, "Re-engagement message")."""
    if error_code and CLOSED_WINDOW_ERROR in error_code:
        return True
    text = (error_message or "").lower()
    return CLOSED_WINDOW_ERROR in text or "re-engagement" in text

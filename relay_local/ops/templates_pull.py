"""`relay templates pull`: the vendor's template-status answer → the relay's template catalogue.

The catalogue is one `templates/<template_id>.json` per template in the media bucket, each a
`relay.templates.CatalogueEntry` (id, languages, kind, variables, name, status). With it the relay
checks a template send before it costs anything (the number of values, the language, that the
header media's kind matches the template's).

The endpoint is `POST …/api/v2/template-status` with `{token}` (its URL is the push URL's, with
`/push` replaced). Its answer's shape is UNOFFICIAL (picky-assist-api.md), so `parse_answer` reads it
tolerantly and never crashes:

- the rows: a list, or a dict (of rows by id, or one row), under `data`, `templates`,
  `data.templates`, or the answer itself;
- the id: `template_id`, `id`, `templateId` (string or integer);
- the kind: `message_type` (1 text, 2 image, 3 document, 4 video, as integer or string), or a
  name (`type`, `kind`, `template_type`, `header_type`: text / image / document (pdf) / video);
- the variables: a count (`variables`, `variable_count`, `variables_count`, `params_count`; a list
  counts its items), else the distinct `{{n}}` in the body text (`body`, `message`, `text`,
  `template_body`, `content`, `messages[].message`); neither: None (the count is not checked);
- the languages: `language`, `languages`, `lang`, `messages[].language`, a string (comma-separated
  allowed) or a list; rows of one id (one per language) are merged;
- the status: `template_status` or a textual `status`, lower-cased.

A row it cannot read (no id, an id the bucket key cannot hold, no kind or an unknown one) is
reported with the reason and skipped; the others are written.

Decision: every template is written WITH its status, approved or not (the planner needs its kind,
variables and languages; `status` says whether the vendor will take it). A template that is no
longer in the answer is left in the bucket, and one written earlier is overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from relay.templates import CatalogueEntry

PREFIX = "templates/"
KIND_BY_TYPE = {1: "text", 2: "image", 3: "document", 4: "video"}
KIND_NAMES = {"text": "text", "image": "image", "document": "document", "pdf": "document", "doc": "document", "video": "video"}
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_ROWS = ("data", "templates", "result", "results")
_IDS = ("template_id", "id", "templateId", "templateID")
_TYPES = ("message_type", "messageType")
_KIND_NAMES = ("type", "kind", "template_type", "header_type", "category_type")
_COUNTS = ("variables", "variable_count", "variables_count", "params_count", "no_of_variables")
_BODIES = ("body", "message", "text", "template_body", "content", "template_message")
_LANGUAGES = ("language", "languages", "lang", "language_code")


class PullError(Exception):
    """The endpoint could not be asked or did not answer a template list (one line, no token)."""


@dataclass
class Parsed:
    entries: dict[str, CatalogueEntry] = field(default_factory=dict)
    #: (what the row was called, why it was skipped)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def status_url(push_url: str) -> str:
    """`…/api/v2/push` → `…/api/v2/template-status`."""
    base = push_url.rstrip("/")
    if not base.endswith("/push"):
        raise PullError(f"the push URL {push_url!r} does not end in /push: give the template-status URL's base with --api-url")
    return base[: -len("/push")] + "/template-status"


def fetch(url: str, token: str, client: httpx.Client | None = None) -> Any:
    """POST `{token}` to the template-status endpoint; its JSON answer. The token is never in an error."""
    own = client is None
    http = client or httpx.Client(timeout=30.0)
    try:
        response = http.post(url, json={"token": token})
    except httpx.HTTPError as exc:
        raise PullError(f"cannot reach {url}: {type(exc).__name__}") from None
    finally:
        if own:
            http.close()
    if response.status_code != 200:
        raise PullError(f"{url} answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise PullError(f"{url} answered something that is not JSON ({len(response.content)} bytes)") from None
    if isinstance(answer, dict) and "status" in answer and str(answer["status"]) != "100" and not _rows_of(answer):
        message = str(answer.get("message") or "")[:200].replace(token, "***") if token else ""
        raise PullError(f"the vendor answered status {answer['status']} {message}".strip())
    return answer


# -- tolerant parsing ------------------------------------------------------------------------------
def _rows_of(answer: Any) -> list[Any]:
    """The template rows of an answer, wherever they are."""
    found: Any = answer
    if isinstance(answer, Mapping):
        found = None
        for key in _ROWS:
            if key in answer and answer[key] not in (None, "", [], {}):
                found = answer[key]
                break
        if found is None:
            return [answer] if _first(answer, _IDS) is not None else []
        if isinstance(found, Mapping) and any(k in found for k in _ROWS):
            return _rows_of(found)
    if isinstance(found, list):
        return found
    if isinstance(found, Mapping):
        if _first(found, _IDS) is not None:
            return [found]
        # rows by id: {"XY6479": {...}}
        return [{"template_id": key, **value} if isinstance(value, Mapping) else value for key, value in found.items()]
    return [found]


def _first(row: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = row.get(name)
        if value is not None and value != "":
            return value
    return None


def _text_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        return str(value).strip()
    return None


def _kind(row: Mapping[str, Any]) -> str | None:
    code = _first(row, _TYPES)
    if code is not None and not isinstance(code, bool):
        if isinstance(code, int) or (isinstance(code, str) and code.strip().isdigit()):
            return KIND_BY_TYPE.get(int(code))
        if isinstance(code, str):
            return KIND_NAMES.get(code.strip().lower())
    name = _first(row, _KIND_NAMES)
    if isinstance(name, str):
        return KIND_NAMES.get(name.strip().lower())
    return None


def _bodies(row: Mapping[str, Any]) -> list[str]:
    texts = [v for v in (row.get(name) for name in _BODIES) if isinstance(v, str)]
    messages = row.get("messages")
    if isinstance(messages, list):
        texts += [m.get("message") for m in messages if isinstance(m, Mapping) and isinstance(m.get("message"), str)]
    return texts


def _variables(row: Mapping[str, Any]) -> int | None:
    count = _first(row, _COUNTS)
    if isinstance(count, list):
        return len(count)
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    if isinstance(count, str) and count.strip().isdigit():
        return int(count)
    bodies = _bodies(row)
    if not bodies:
        return None
    return max(len(set(_PLACEHOLDER.findall(text))) for text in bodies)


def _languages(row: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    value = _first(row, _LANGUAGES)
    items = value if isinstance(value, list) else [value]
    messages = row.get("messages")
    if isinstance(messages, list):
        items += [m.get("language") for m in messages if isinstance(m, Mapping)]
    for item in items:
        if isinstance(item, Mapping):
            item = _first(item, ("code", "language", "name"))
        if isinstance(item, str):
            found += [part.strip() for part in item.split(",") if part.strip()]
    return found


def _status(row: Mapping[str, Any]) -> str | None:
    for name in ("template_status", "status", "state"):
        value = row.get(name)
        if isinstance(value, str) and value.strip() and not value.strip().isdigit():
            return value.strip().lower()
    return None


def parse_answer(answer: Any) -> Parsed:
    """Every template the answer lists, as catalogue entries; what it could not read, with why."""
    parsed = Parsed()
    for n, row in enumerate(_rows_of(answer)):
        label = f"row {n + 1}"
        if not isinstance(row, Mapping):
            parsed.skipped.append((label, f"not an object ({type(row).__name__})"))
            continue
        template_id = _text_id(_first(row, _IDS))
        if not template_id:
            parsed.skipped.append((label, "no template_id"))
            continue
        label = template_id
        if not _ID.match(template_id):
            parsed.skipped.append((label, "the id is not 1-128 letters, digits, '_' or '-' (it names a bucket key)"))
            continue
        kind = _kind(row)
        if kind is None:
            shown = _first(row, _TYPES) or _first(row, _KIND_NAMES)
            parsed.skipped.append((label, f"unknown template kind {shown!r} (message_type 1-4 or text/image/document/video)"))
            continue
        entry = CatalogueEntry(
            id=template_id,
            languages=_languages(row),
            kind=kind,  # type: ignore[arg-type]  # one of KIND_NAMES' values
            variables=_variables(row),
            name=_text_id(_first(row, ("template_name", "name"))),
            status=_status(row),
        )
        earlier = parsed.entries.get(template_id)
        parsed.entries[template_id] = entry if earlier is None else _merge(earlier, entry)
    return parsed


def _merge(a: CatalogueEntry, b: CatalogueEntry) -> CatalogueEntry:
    """Two rows of one template (one per language): the languages together; a count they disagree
    on is not checked (None); the first kind, name and status."""
    languages = a.languages + [lang for lang in b.languages if lang not in a.languages]
    if a.variables is None or b.variables is None:
        variables = b.variables if a.variables is None else a.variables
    else:
        variables = a.variables if a.variables == b.variables else None
    return a.model_copy(update={"languages": languages, "variables": variables})


# -- the command -----------------------------------------------------------------------------------
def describe(entry: CatalogueEntry) -> str:
    variables = "?" if entry.variables is None else str(entry.variables)
    languages = ",".join(entry.languages) or "-"
    return f"{entry.id:<24} {entry.kind:<9} {variables:>2} variables  {languages:<12} {entry.status or '-'}"


def pull(url: str, token: str, s3: Any, bucket: str, say: Callable[[str], None], client: httpx.Client | None = None) -> Parsed:
    """Ask the endpoint, write each template to `templates/<id>.json`, say one line each and a summary."""
    parsed = parse_answer(fetch(url, token, client))
    for template_id, entry in sorted(parsed.entries.items()):
        key = f"{PREFIX}{template_id}.json"
        s3.put_object(Bucket=bucket, Key=key, Body=entry.model_dump_json().encode(), ContentType="application/json")
        say(f"{describe(entry)}  → s3://{bucket}/{key}")
    for label, why in parsed.skipped:
        say(f"skipped {label}: {why}")
    not_approved = sum(1 for e in parsed.entries.values() if e.status not in (None, "approved"))
    note = f" ({not_approved} not approved: written with their status)" if not_approved else ""
    say(f"templates pull: {len(parsed.entries)} written to s3://{bucket}/{PREFIX}, {len(parsed.skipped)} skipped{note}")
    return parsed

"""The Push API stand-in's template messages (WhatsApp Official, application 8).

The stand-in knows a few approved templates (`DEFAULT_TEMPLATES`, or its constructor's
`templates=`, or `POST /_templates`) and checks a push request that names a `template_id` the way
the vendor's docs suggest (picky-assist-api.md, "Template messages"):

- the template exists; templates only on application 8;
- the language (per `data[]` entry, else the request's `language`) is one the template has;
- each recipient's values (`data[].template_message`, else `template_globalmessage`) number
  exactly the template's variables, and none is empty, has a newline or tab, or more than four
  consecutive spaces;
- an image/document/video template has header media (`globalmedia`/`data[].media` or `…_code`);
- `template_header` (top level or per entry) only on document templates, at most 60 characters.

OUR ASSUMPTION (the vendor documents no codes for these refusals): each is answered like its other
refusals of a malformed request, HTTP 200 with `{"status": 410, "message": "Invalid request: …"}`,
the message naming what is wrong. The real vendor may answer another code, or accept and fail the
message later in a delivery report; the relay must treat any non-100 status as a failure anyway.

`POST /api/v2/template-status` answers `{token, template_id?}` with the templates the stand-in
knows. Its shape is OUR GUESS (the vendor's is unofficial): one `data[]` row per template and
language, `message_type` 1 text / 2 image / 3 document / 4 video, `variables` a count, `body` the
text with `{{1}}`… placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("text", "image", "document", "video")
#: the vendor's `message_type` for each template kind (picky-assist-api.md, [doc])
MESSAGE_TYPES = {"text": 1, "image": 2, "document": 3, "video": 4}
TEMPLATE_CHANNEL = "8"
MAX_HEADER = 60


@dataclass(frozen=True)
class StandInTemplate:
    """One approved template as the stand-in knows it."""

    id: str
    kind: str = "text"
    variables: int = 0
    languages: tuple[str, ...] = ("en",)
    name: str = ""
    status: str = "approved"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"template {self.id}: kind must be one of {', '.join(KINDS)}")
        if isinstance(self.variables, bool) or not isinstance(self.variables, int) or self.variables < 0:
            raise ValueError(f"template {self.id}: variables must be an integer >= 0")
        if not self.languages or not all(isinstance(lang, str) and lang for lang in self.languages):
            raise ValueError(f"template {self.id}: languages must be a non-empty list of codes")

    @classmethod
    def from_spec(cls, template_id: str, spec: Mapping[str, Any]) -> StandInTemplate:
        """From `{languages, kind, variables, name?, status?}` (the control endpoint's JSON)."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"template {template_id}: expected an object")
        unknown = sorted(set(spec) - {"languages", "kind", "variables", "name", "status"})
        if unknown:
            raise ValueError(f"template {template_id}: unknown field(s) {', '.join(unknown)}")
        languages = spec.get("languages", ["en"])
        if isinstance(languages, str):
            languages = [languages]
        if not isinstance(languages, list):
            raise ValueError(f"template {template_id}: languages must be a list")
        return cls(
            id=template_id,
            kind=spec.get("kind", "text"),
            variables=spec.get("variables", 0),
            languages=tuple(languages),
            name=str(spec.get("name") or template_id),
            status=str(spec.get("status") or "approved"),
        )

    def spec(self) -> dict[str, Any]:
        """The control endpoint's JSON for this template (`from_spec`'s input)."""
        return {"languages": list(self.languages), "kind": self.kind, "variables": self.variables, "name": self.name, "status": self.status}

    def body_text(self) -> str:
        placeholders = " ".join(f"{{{{{n}}}}}" for n in range(1, self.variables + 1))
        return f"{self.name or self.id}: {placeholders}".strip()

    def status_rows(self) -> list[dict[str, Any]]:
        """This template's rows in a template-status answer (one per language)."""
        return [
            {
                "template_id": self.id,
                "template_name": self.name or self.id,
                "template_status": self.status,
                "language": language,
                "message_type": MESSAGE_TYPES[self.kind],
                "variables": self.variables,
                "body": self.body_text(),
            }
            for language in self.languages
        ]


DEFAULT_TEMPLATES: tuple[StandInTemplate, ...] = (
    StandInTemplate("invoice_doc", kind="document", variables=2, languages=("en", "pt_BR"), name="invoice_doc"),
    StandInTemplate("ticket_image", kind="image", variables=1, languages=("en",), name="ticket_image"),
    StandInTemplate("order_text", kind="text", variables=2, languages=("en",), name="order_text"),
)


def value_problem(value: object) -> str | None:
    """Why WhatsApp would refuse one variable value ([unofficial]), or None."""
    if not isinstance(value, str):
        return "is not a string"
    if not value.strip():
        return "is empty"
    if "\n" in value or "\r" in value or "\t" in value:
        return "contains a newline or tab"
    if "     " in value:
        return "has more than four consecutive spaces"
    return None


def _filled(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def template_problem(body: Mapping[str, Any], channel: str, templates: Mapping[str, StandInTemplate]) -> str | None:
    """What is wrong with a template push request (one that names `template_id`), or None.

    Called after the token, `application`, `data` and number checks; `data` is a list of objects."""
    template_id = body.get("template_id")
    if channel != TEMPLATE_CHANNEL:
        return "Invalid request: template messages are only for WhatsApp Official (application 8)"
    template = templates.get(str(template_id)) if isinstance(template_id, str | int) else None
    if template is None:
        return f"Invalid request: unknown template_id {str(template_id)!r}"
    if template.status != "approved":
        return f"Invalid request: template {template.id} is {template.status}, not approved"
    global_media = _filled(body.get("globalmedia")) or _filled(body.get("globalmedia_code"))
    for n, entry in enumerate(body["data"], start=1):
        where = f"data[{n - 1}]"
        language = entry.get("language") or body.get("language")
        if not _filled(language):
            return f"Invalid request: {where}: language is required for a template"
        if language not in template.languages:
            return f"Invalid request: {where}: template {template.id} has no language {language!r}"
        values = entry["template_message"] if "template_message" in entry else body.get("template_globalmessage", [])
        if values is None:
            values = []
        if not isinstance(values, list):
            return f"Invalid request: {where}: template values must be a list"
        if len(values) != template.variables:
            return f"Invalid request: {where}: template {template.id} takes {template.variables} values; {len(values)} given"
        for i, value in enumerate(values, start=1):
            problem = value_problem(value)
            if problem is not None:
                return f"Invalid request: {where}: template value {i} {problem}"
        has_media = global_media or _filled(entry.get("media")) or _filled(entry.get("media_code"))
        if template.kind != "text" and not has_media:
            return f"Invalid request: {where}: template {template.id} is a {template.kind} template and needs header media"
        header = entry.get("template_header", body.get("template_header"))
        if header is not None and header != "":
            if template.kind != "document":
                return f"Invalid request: {where}: template_header is only for document templates"
            if not isinstance(header, str) or len(header) > MAX_HEADER:
                return f"Invalid request: {where}: template_header must be text of at most {MAX_HEADER} characters"
    return None


def status_answer(templates: Mapping[str, StandInTemplate], template_id: object) -> dict[str, Any]:
    """The template-status answer (status 100) for every template, or for `template_id` alone."""
    if template_id is None or template_id == "":
        rows = [row for t in templates.values() for row in t.status_rows()]
        return {"status": 100, "message": "Success", "data": rows}
    template = templates.get(str(template_id))
    if template is None:
        return {"status": 410, "message": f"Invalid request: unknown template_id {str(template_id)!r}"}
    return {"status": 100, "message": "Success", "data": template.status_rows()}


def parse_templates(data: object) -> dict[str, StandInTemplate]:
    """`POST /_templates` body: `{id: {languages, kind, variables, …} or null}` (null removes)."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object of template id → {languages, kind, variables}")
    return {str(k): StandInTemplate.from_spec(str(k), v) for k, v in data.items() if v is not None}

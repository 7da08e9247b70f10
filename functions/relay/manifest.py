"""Campaign manifests: `manifests/<name>.json` or `.csv` in the media bucket (format: README)."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from relay.templates import ID_PATTERN, LANGUAGE_PATTERN, MAX_VALUES, Session, TemplateRef

MAX_MANIFEST_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_ -]*)\}")
ROW_FIELDS = ("number", "message", "media", "reference")


class ManifestError(ValueError):
    """The manifest as a whole cannot be read; no row of it is planned."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PlaceholderError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CampaignSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    application: int | None = Field(default=None, ge=1)
    priority: Literal["0", "1"] = "0"
    #: global caption; may use {column} placeholders.
    message: str = ""
    #: S3 key of one media object for every recipient (static media → `globalmedia`).
    media: str | None = None
    media_name: str | None = None
    #: the template (WhatsApp's 24-hour window; README): id, language, values ({{1}}, {{2}} …, a
    #: JSON list of strings, each may use {column} placeholders), document header (placeholders
    #: allowed), session (auto, the default with a template; template; freeform)
    template_id: str | None = Field(default=None, pattern=ID_PATTERN)
    template_language: str | None = Field(default=None, pattern=LANGUAGE_PATTERN)
    template_values: list[str] | None = Field(default=None, max_length=MAX_VALUES)
    template_header: str | None = None
    session: Session | None = None

    @field_validator("priority", mode="before")
    @classmethod
    def _priority_text(cls, value: object) -> object:
        return str(value).strip() if value is not None and not isinstance(value, bool) else value

    @field_validator("media", "media_name", "template_id", "template_language", "template_header", "session", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("template_values", mode="before")
    @classmethod
    def _json_list(cls, value: object) -> object:
        """A JSON list of strings: in a JSON manifest a list or its JSON text; in a CSV's settings line its JSON text."""
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a JSON list of strings ({exc.msg} at column {exc.colno})") from None
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise ValueError("must be a JSON list of strings")
        return value

    @model_validator(mode="after")
    def _template_complete(self) -> CampaignSettings:
        if self.template_id is None:
            given = [n for n in ("template_language", "template_values", "template_header") if getattr(self, n) is not None]
            if given or self.session not in (None, "freeform"):
                raise ValueError(f"{(given or ['session'])[0]} needs template_id")
        elif self.template_language is None:
            raise ValueError("template_id needs template_language")
        return self

    @property
    def template(self) -> TemplateRef | None:
        if self.template_id is None or self.template_language is None:
            return None
        return TemplateRef(id=self.template_id, language=self.template_language, session=self.session or "auto")

    @property
    def template_text(self) -> list[str]:
        """What the template fills per row: its values, then its header."""
        return [*(self.template_values or ()), *([self.template_header] if self.template_header else [])]


class ManifestRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    number: Any = None
    message: str | None = None
    media: str | None = None
    reference: str | None = None
    #: the columns the row's message uses as {column} placeholders (only those: a manifest at the
    #: limits, 50,000 rows of 32 columns, must be planned within IngestFunction's memory).
    fields: dict[str, str] = Field(default_factory=dict)


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    settings: CampaignSettings
    rows: list[ManifestRow]


def placeholders(template: str) -> set[str]:
    """The column names a message uses."""
    return {m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1)}


def render(template: str, fields: dict[str, str], what: str = "message") -> str:
    """Fill `{column}` from the row; `{{`/`}}` are literal braces; an unknown column is an error."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name not in fields:
            raise PlaceholderError(f"{what} uses {{{name}}} but the row has no column {name!r}")
        return fields[name]

    return _PLACEHOLDER.sub(replace, template)


def parse_manifest(key: str, data: bytes) -> Manifest:
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest is {len(data)} bytes; the limit is {MAX_MANIFEST_BYTES}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest is not UTF-8 text (byte {exc.start})") from None
    del data  # memory: the bytes, the text and the parsed rows are not all kept at once
    lower = key.lower()
    if lower.endswith(".json"):
        settings, raw_rows = _from_json(text)
    elif lower.endswith(".csv"):
        settings, raw_rows = _from_csv(text)
    else:
        raise ManifestError("manifest must end in .json or .csv")
    del text
    if not raw_rows:
        raise ManifestError("manifest has no recipients")
    if len(raw_rows) > MAX_ROWS:
        raise ManifestError(f"manifest has {len(raw_rows)} recipients; the limit is {MAX_ROWS} per file")
    try:
        campaign = CampaignSettings.model_validate(settings)
    except ValidationError as exc:
        raise ManifestError(_first_error(exc, "setting")) from None
    shared = placeholders(campaign.message)
    always: set[str] = set().union(*(placeholders(text) for text in campaign.template_text))
    rows: list[ManifestRow] = []
    raw_rows.reverse()
    while raw_rows:  # each parsed row is dropped as soon as it is converted (memory at the limits)
        rows.append(_row(len(rows) + 1, raw_rows.pop(), shared, always))
    return Manifest.model_construct(settings=campaign, rows=rows)


def _from_json(text: str) -> tuple[dict[str, Any], list[Any]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(doc, list):
        return {}, doc
    if not isinstance(doc, dict):
        raise ManifestError("manifest JSON must be an object with `recipients`, or a list of recipients")
    settings = dict(doc)
    rows = settings.pop("recipients", None)
    if not isinstance(rows, list):
        raise ManifestError("manifest JSON needs a `recipients` list")
    return settings, rows


def _from_csv(text: str) -> tuple[dict[str, Any], list[Any]]:
    """Settings are `# name: value` lines before the header row; the header must have `number`."""
    lines = text.splitlines()
    settings: dict[str, Any] = {}
    start = 0
    for start, line in enumerate(lines):  # noqa: B007 - start is used after the loop
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        name, sep, value = stripped[1:].partition(":")
        if not sep:
            raise ManifestError(f"line {start + 1}: a settings line reads `# name: value`")
        settings[name.strip()] = value.strip()
    else:
        raise ManifestError("manifest CSV has no header row")
    reader = csv.DictReader(io.StringIO("\n".join(lines[start:])))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "number" not in header:
        raise ManifestError("manifest CSV header needs a `number` column")
    rows = []
    for raw in reader:
        if None in raw:
            raise ManifestError(f"line {start + reader.line_num}: more values than header columns")
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if any(row.values()):
            rows.append(row)
    return settings, rows


def _row(index: int, raw: Any, shared: set[str], always: set[str]) -> ManifestRow:
    """`shared`: the placeholders of the campaign message (what a row without its own message uses);
    `always`: those of the template's values and header (every row uses them)."""
    if not isinstance(raw, dict):
        return ManifestRow(index=index, number=None, fields={})
    values = {name: raw.get(name) for name in ROW_FIELDS}
    for name in ("message", "media", "reference"):
        value = values[name]
        values[name] = None if value is None or (isinstance(value, str) and not value.strip()) else str(value)
    used = (placeholders(values["message"]) if values["message"] is not None else shared) | always
    fields = {name: "" if raw[name] is None else str(raw[name]) for name in used if name in raw}
    return ManifestRow(index=index, fields=fields, **values)


def _first_error(exc: ValidationError, what: str) -> str:
    err = exc.errors()[0]
    if not err["loc"]:  # a rule across settings (model validator): its message says it all
        return str(err["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        known = ", ".join([*CampaignSettings.model_fields, "recipients"])
        return f"unknown {what} `{where}` (known: {known})"
    return f"{what} `{where}`: {err['msg']}"

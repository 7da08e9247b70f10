"""The ledger's recipients as a readable table, counts per state, and a JSON form.

Used by `relay status` and by the demo (`relay_local.dev.demo.table`), so both show the same thing.

Product decision: nothing is ever cut. A cell longer than its column wraps onto continuation lines
(words first; a word longer than the column, such as an S3 key, is broken inside, never shortened),
so the full reason of a rejection or failure is always on screen. The table fits `width` columns
(the terminal's; COLUMNS; else DEFAULT_WIDTH); only the `media` and `note` columns wrap, the short ones (number, form,
state, ids) keep their natural width.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from relay.lifecycle import RECIPIENT_FINAL_STATES, RecipientState

HEAD = ("recipient", "media", "form", "state", "push_id", "msg_id", "note")
#: columns that wrap when the table is wider than the terminal (indexes into HEAD)
_WRAPPING = (1, 6)
_MIN_WRAP = 16
_GAP = "  "
#: when stdout is not a terminal (a pipe, a CI log) and COLUMNS is not set
DEFAULT_WIDTH = 160
#: ledger attributes that are keys or internal plumbing: left out of the JSON form
_INTERNAL = frozenset({"pk", "sk", "kind", "fallback_job"})
_STATE_ORDER = [str(s) for s in RecipientState]


def note(item: Mapping[str, Any], form_reason: bool = True) -> str:
    """What a reader needs to know beside the state: the reason of a rejection or failure, else
    what a caption's own text message is, else (with `form_reason`) why it got its form."""
    if item.get("reason"):
        return str(item["reason"])
    if item.get("caption_for"):
        return "caption of the file above, sent as its own text"
    if form_reason and item.get("form_reason"):
        template = f" (template {item['template_id']})" if item.get("form") == "template" and item.get("template_id") else ""
        return f"{item['form_reason']}{template}"
    return ""


def cells(item: Mapping[str, Any], form_reason: bool = True) -> tuple[str, ...]:
    media = item.get("media_key") or ("(text)" if item.get("caption_for") else "")
    form = item.get("form") or ("-" if item.get("state") == "rejected" else "")
    return (
        str(item.get("number") or "-"),
        str(media),
        str(form),
        str(item.get("state", "")),
        _text(item.get("push_id")),
        _text(item.get("msg_id")),
        note(item, form_reason),
    )


def render(items: Iterable[Mapping[str, Any]], width: int | None = None, form_reason: bool = True) -> str:
    """The table: a header, a rule, and one row per recipient (more lines where a cell wraps)."""
    rows = [cells(i, form_reason) for i in items]
    width = width or shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    widths = _column_widths([HEAD, *rows], width)
    lines = [_line(HEAD, widths), _line(tuple("-" * w for w in widths), widths)]
    for row in rows:
        parts = [wrap(cell, widths[n]) if n in _WRAPPING else [cell] for n, cell in enumerate(row)]
        for k in range(max(len(p) for p in parts)):
            lines.append(_line(tuple(p[k] if k < len(p) else "" for p in parts), widths))
    return "\n".join(lines)


def wrap(text: str, width: int) -> list[str]:
    """`text` on lines of at most `width` characters, every character kept (spaces where it broke)."""
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def _column_widths(rows: list[tuple[str, ...]], width: int) -> list[int]:
    natural = [max(len(r[n]) for r in rows) for n in range(len(HEAD))]
    fixed = sum(w for n, w in enumerate(natural) if n not in _WRAPPING) + len(_GAP) * (len(HEAD) - 1)
    room = max(width - fixed, 2 * _MIN_WRAP)
    media, text = natural[1], natural[6]
    if media + text > room:  # media gets at most half, the note the rest
        media = min(media, max(_MIN_WRAP, room // 2))
        text = min(text, max(_MIN_WRAP, room - media))
    return [*natural[:1], media, *natural[2:6], text]


def _line(row: tuple[str, ...], widths: list[int]) -> str:
    return _GAP.join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()


def counts(items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Recipients per state, in the lifecycle's order (relay.lifecycle.RecipientState)."""
    found: dict[str, int] = {}
    for i in items:
        state = str(i.get("state", ""))
        found[state] = found.get(state, 0) + 1
    return dict(sorted(found.items(), key=lambda kv: _STATE_ORDER.index(kv[0]) if kv[0] in _STATE_ORDER else len(_STATE_ORDER)))


def final_count(items: Iterable[Mapping[str, Any]]) -> int:
    return sum(1 for i in items if i.get("state") in RECIPIENT_FINAL_STATES)


def summary(items: list[Mapping[str, Any]]) -> str:
    """`12 recipients (10 final): 3 accepted, 7 delivered, 2 planned`."""
    per_state = ", ".join(f"{n} {state}" for state, n in counts(items).items())
    noun = "recipient" if len(items) == 1 else "recipients"
    return f"{len(items)} {noun} ({final_count(items)} final): {per_state or 'none'}"


def progress_bar(items: list[Mapping[str, Any]], width: int = 30) -> str:
    """One line for stderr: `[#########.........] 6/12 final  3 accepted, 3 planned …`."""
    total, done = len(items), final_count(items)
    filled = width * done // total if total else 0
    per_state = ", ".join(f"{n} {state}" for state, n in counts(items).items())
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} final  {per_state}"


def as_json(items: list[Mapping[str, Any]], query: Mapping[str, Any] | None = None) -> str:
    """For scripts: {query, total, final, done, counts, recipients: [every non-key attribute]}."""
    doc = {
        "query": dict(query or {}),
        "total": len(items),
        "final": final_count(items),
        "done": bool(items) and final_count(items) == len(items),
        "counts": counts(items),
        "recipients": [
            {k: v for k, v in sorted(i.items()) if k not in _INTERNAL and not k.endswith("_pk") and v is not None} for i in items
        ],
    }
    return json.dumps(doc, indent=2, default=_plain)


def _text(value: Any) -> str:
    return "" if value is None else str(_plain(value) if isinstance(value, Decimal) else value)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON")

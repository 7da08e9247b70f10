"""What a results file holds: one row per recipient of one input (a manifest or an outbox file),
built from the ledger's items for that input (index ByObject), in the input's format.

Decisions (README "Results"):
- Where: `results/<input key>` for a manifest (`results/manifests/black-friday.csv`), in the
  manifest's format (CSV for .csv, JSON for .json); an outbox file is media, so its results are
  JSON at `results/<input key>.json` (`results/outbox/<number>/<file>.json`). The bucket notifies
  only outbox/ and manifests/, so a results file never triggers ingest.
- Columns: number, reference, state, form, push_id, msg_id, reason, error_code, delivery_status,
  planned_at, changed_at (the time of the recipient's latest state), delivery_report_at, rid,
  fallback_for. The ledger keeps one item per recipient with its LATEST state and time, not a time
  per state, so accepted/delivered/read times are `changed_at` of a row in that state.
- Spreadsheet-safe: a CSV cell starting with =, +, -, @ (or a tab/CR) gets a leading apostrophe,
  so a spreadsheet shows it as text instead of running it (OWASP "CSV injection"). JSON is left as is.
- Done: when every row is in a final state (relay.lifecycle.RECIPIENT_FINAL_STATES) a marker
  `<results key>.done` is written beside the file (JSON counts per state).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from relay import ledger_keys as keys
from relay.lifecycle import RECIPIENT_FINAL_STATES

RESULTS_PREFIX = "results/"
COLUMNS = (
    "number",
    "reference",
    "state",
    "form",
    "push_id",
    "msg_id",
    "reason",
    "error_code",
    "delivery_status",
    "planned_at",
    "changed_at",
    "delivery_report_at",
    "rid",
    "fallback_for",
)
_FINAL = frozenset(str(s) for s in RECIPIENT_FINAL_STATES)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def source_of(object_pk: str | None) -> tuple[str, str] | None:
    """(bucket, key) of the S3 input an item's object_pk names; None for an API push (REQ#…) or a
    results file itself."""
    found = keys.object_of(object_pk)
    if found is None or found[1].startswith(RESULTS_PREFIX):
        return None
    return found


def results_key(input_key: str) -> str:
    if input_key.startswith("manifests/") and input_key.lower().endswith((".csv", ".json")):
        return RESULTS_PREFIX + input_key
    return RESULTS_PREFIX + input_key + ".json"


def is_csv(results: str) -> bool:
    return results.lower().endswith(".csv")


def row(item: dict[str, Any]) -> dict[str, str]:
    values = {
        **{c: item.get(c) for c in COLUMNS},
        "changed_at": item.get("at"),
        "delivery_report_at": item.get("delivery_at"),
    }
    return {c: "" if v is None else str(v) for c, v in values.items()}


def rows(items: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """The recipient items' rows (push items, the source item and kept events are left out), in a
    stable order: by plan time, then number, then rid."""
    recipients = [i for i in items if i.get("kind") == "recipient"]
    recipients.sort(key=lambda i: (str(i.get("planned_at") or i.get("at") or ""), str(i.get("number") or ""), str(i.get("rid") or "")))
    return [row(i) for i in recipients]


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def render(results: str, table: list[dict[str, str]]) -> tuple[bytes, str]:
    """The file's bytes and content type."""
    if is_csv(results):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({c: safe_cell(r[c]) for c in COLUMNS} for r in table)
        return out.getvalue().encode("utf-8"), "text/csv; charset=utf-8"
    return json.dumps({"recipients": table}, ensure_ascii=False, indent=1).encode("utf-8"), "application/json"


def is_done(table: list[dict[str, str]]) -> bool:
    return bool(table) and all(r["state"] in _FINAL for r in table)


def counts(table: list[dict[str, str]]) -> dict[str, int]:
    return dict(sorted(Counter(r["state"] for r in table).items()))

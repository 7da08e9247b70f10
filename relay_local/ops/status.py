"""`relay status`: what the ledger says about a push, an upload, a number or a reference.

Reads only (the PushLog table's indexes, relay.ledger_keys builds every key):
- an S3 key (`outbox/…`, `manifests/…`, `hook-media/…`; or `s3://bucket/key`): index ByObject, `OBJ#<bucket>/<key>`;
- a push id (what POST /pushes or POST /hooks answered): index ByObject, `REQ#<id>`;
- `--number`: index ByNumber, `NUM#<number>` (every recipient that number ever had);
- `--reference`: index ByReference (keys only), then one GetItem per recipient.

A key or push id also finds its source item; `--watch` waits for it to be `planned` as well as for
every recipient to be final, so a manifest still being planned is not reported done after its
first rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relay import ledger_keys as keys
from relay.ledger import Ledger
from relay.lifecycle import RECIPIENT_FINAL_STATES, SourceState
from relay_local.dev.ledger_reads import number_history

#: prefixes of the bucket that `relay status <arg>` takes as an S3 key rather than a push id
KEY_PREFIXES = ("outbox/", "manifests/", "hook-media/", "media/")


@dataclass
class Query:
    """One of: `target` (an S3 key or a push id), `number`, `reference`."""

    target: str | None = None
    number: str | None = None
    reference: str | None = None

    def describe(self, bucket: str | None) -> dict[str, str]:
        if self.number is not None:
            return {"number": normal_number(self.number)}
        if self.reference is not None:
            return {"reference": self.reference}
        assert self.target is not None
        located = s3_location(self.target, bucket)
        return {"bucket": located[0], "key": located[1]} if located else {"push_id": self.target}


@dataclass
class Found:
    recipients: list[dict[str, Any]] = field(default_factory=list)
    #: the sources (uploads, API requests) a key or push id names: `planning` until every row is planned
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Every recipient final and every source planned (nothing more will appear)."""
        return (
            bool(self.recipients)
            and all(r.get("state") in RECIPIENT_FINAL_STATES for r in self.recipients)
            and all(s.get("state") == SourceState.PLANNED for s in self.sources)
        )


def normal_number(number: str) -> str:
    """The ledger keeps digits only (relay.numbers): `+44 7700-900123` → `447700900123`."""
    stripped = number.strip()
    digits = "".join(c for c in stripped if c.isdigit())
    return digits if digits and all(c.isdigit() or c in "+ -()." for c in stripped) else stripped


def s3_location(target: str, bucket: str | None) -> tuple[str, str] | None:
    """(bucket, key) when `target` is an S3 key of the bucket (or an s3:// URL), else None."""
    if target.startswith("s3://"):
        named, _, key = target[len("s3://") :].partition("/")
        return (named, key) if named and key else None
    if target.startswith(KEY_PREFIXES):
        if not bucket:
            raise ValueError(f"{target} is an S3 key but no bucket is known: give --bucket or s3://BUCKET/{target}")
        return bucket, target
    return None


def find(ledger: Ledger, query: Query, bucket: str | None) -> Found:
    where = query.describe(bucket)
    if "number" in where:
        return Found(_recipients(number_history(ledger, where["number"])))
    if "reference" in where:
        found = (ledger.get(pk, sk) for pk, sk in ledger.recipients_by_reference(where["reference"]))
        return Found(_recipients(i for i in found if i is not None))
    pk = keys.object_pk(where["bucket"], where["key"]) if "key" in where else keys.request_pk(where["push_id"])
    items = list(ledger.query_index("ByObject", "object_pk", pk))
    return Found(_recipients(items), [i for i in items if i.get("kind") == "source"])


def _recipients(items: Any) -> list[dict[str, Any]]:
    found = [i for i in items if i.get("kind") == "recipient"]
    return sorted(found, key=lambda i: (str(i.get("object_pk", "")), str(i.get("planned_at") or i.get("at", "")), str(i.get("sk", ""))))


def watch(
    read: Callable[[], Found],
    progress: Callable[[Found], None],
    interval: float = 3.0,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Found, bool]:
    """Re-read every `interval` seconds until done (or `timeout`); (the last read, done)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        found = read()
        progress(found)
        if found.done:
            return found, True
        if deadline is not None and time.monotonic() >= deadline:
            return found, False
        sleep(interval)

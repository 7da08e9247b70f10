"""The template catalogue: `templates/<template_id>.json` in the media bucket, one
relay.templates.CatalogueEntry each (`relay templates pull` writes them; an operator may too).

Read by the planning functions (IngestFunction, ApiFunction) through MediaStore, once per template
id per plan (a `Catalogue` lives for one batch or one API request: an entry changed in the bucket
is seen by the next plan). What a read gives:

- an entry: the planner checks the language, the number of values and the media kind;
- no object (or S3's 403 for it: the roles have no s3:ListBucket): no entry, generic checks only;
- an object that is not a valid entry (not JSON, wrong shape, another template's id, too large):
  every recipient of that template is rejected with "catalogue entry templates/<id>.json is
  invalid: …" (careful: a broken catalogue must not let a wrong send through unchecked, and the
  rejection tells the operator what to fix);
- any other S3 error is raised (transient: the SQS record or the API request is retried).
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from relay.s3media import MediaStore, ObjectMissing
from relay.templates import CatalogueEntry

CATALOGUE_PREFIX = "templates/"
#: an entry is a few hundred bytes; more than this is not an entry
MAX_ENTRY_BYTES = 64 * 1024


def catalogue_key(template_id: str) -> str:
    """The entry's key (template ids are letters, digits, '_' and '-': relay.templates.TemplateRef)."""
    return f"{CATALOGUE_PREFIX}{template_id}.json"


class Catalogue:
    def __init__(self, store: MediaStore, bucket: str) -> None:
        self._store = store
        self._bucket = bucket
        self._read: dict[str, CatalogueEntry | str | None] = {}

    def load(self, template_id: str) -> None:
        """Read the entry of `template_id` unless already read. Raises only for transient S3 errors."""
        if template_id not in self._read:
            self._read[template_id] = self._fetch(template_id)

    def entries(self) -> dict[str, CatalogueEntry | str]:
        """What the planner takes (relay.planner.CatalogueLookup): the entries found, or why unusable."""
        return {tid: found for tid, found in self._read.items() if found is not None}

    def _fetch(self, template_id: str) -> CatalogueEntry | str | None:
        key = catalogue_key(template_id)
        try:
            head = self._store.inspect(self._bucket, key, nbytes=MAX_ENTRY_BYTES + 1)
        except ObjectMissing:
            return None
        invalid = f"catalogue entry {key} is invalid: "
        if head.size > MAX_ENTRY_BYTES:
            return invalid + f"it is {head.size} bytes; the limit is {MAX_ENTRY_BYTES}"
        try:
            doc = json.loads(head.head.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return invalid + f"not JSON ({exc})"
        try:
            entry = CatalogueEntry.model_validate(doc)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "entry"
            return invalid + f"{where}: {err['msg']}"
        if entry.id != template_id:
            return invalid + f"its id is {entry.id!r}, not {template_id!r}"
        return entry

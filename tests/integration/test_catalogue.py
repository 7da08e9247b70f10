"""The template catalogue (relay.catalogue): `templates/<id>.json` in the media bucket, read through
MediaStore from moto server over real HTTP, once per template id per plan."""

from __future__ import annotations

import json

import pytest

from relay.catalogue import MAX_ENTRY_BYTES, Catalogue
from relay.s3media import MediaStore
from relay.templates import CatalogueEntry

pytestmark = pytest.mark.integration


class CountingStore(MediaStore):
    def __init__(self, s3) -> None:
        super().__init__(s3)
        self.reads: list[str] = []

    def inspect(self, bucket, key, *args, **kwargs):
        self.reads.append(key)
        return super().inspect(bucket, key, *args, **kwargs)


def put(relay, template_id: str, body: bytes) -> None:
    relay.client("s3").put_object(Bucket=relay.bucket, Key=f"templates/{template_id}.json", Body=body)


def test_given_catalogue_entries_when_loaded_then_each_is_read_once_and_absent_ones_have_no_entry(relay):
    # Given an entry for INV1 and none for NONE
    put(relay, "INV1", json.dumps({"id": "INV1", "kind": "document", "languages": ["en"], "variables": 2, "extra": "ignored"}).encode())
    store = CountingStore(relay.client("s3"))
    catalogue = Catalogue(store, relay.bucket)
    # When both are loaded, each several times (several recipients or uploads of one plan)
    for _ in range(3):
        catalogue.load("INV1")
        catalogue.load("NONE")
    # Then each key was read once; INV1 has its entry, NONE none (generic checks only)
    assert sorted(store.reads) == ["templates/INV1.json", "templates/NONE.json"]
    assert catalogue.entries() == {"INV1": CatalogueEntry(id="INV1", kind="document", languages=["en"], variables=2)}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "catalogue entry templates/T1.json is invalid: not JSON"),
        (json.dumps({"id": "T1", "kind": "audio"}).encode(), "catalogue entry templates/T1.json is invalid: kind:"),
        (json.dumps({"id": "T1", "variables": -1}).encode(), "catalogue entry templates/T1.json is invalid: variables:"),
        (json.dumps({"id": "OTHER"}).encode(), "catalogue entry templates/T1.json is invalid: its id is 'OTHER', not 'T1'"),
        (json.dumps([1, 2]).encode(), "catalogue entry templates/T1.json is invalid: entry:"),
        (b" " * (MAX_ENTRY_BYTES + 1), f"catalogue entry templates/T1.json is invalid: it is {MAX_ENTRY_BYTES + 1} bytes"),
    ],
)
def test_given_an_invalid_catalogue_entry_when_loaded_then_the_reason_says_so(relay, body, reason):
    # Given an entry that is not a valid catalogue entry for its template
    put(relay, "T1", body)
    catalogue = Catalogue(MediaStore(relay.client("s3")), relay.bucket)
    # When loaded
    catalogue.load("T1")
    # Then the planner gets the reason (every recipient of the template is rejected with it)
    found = catalogue.entries()["T1"]
    assert isinstance(found, str) and found.startswith(reason), found

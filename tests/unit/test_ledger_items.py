"""Ledger items stay within DynamoDB's 400 KB whatever the caller sent: long text is kept as a
bounded excerpt plus its length, never whole."""

from __future__ import annotations

from relay.dynamodb import to_item
from relay.ledger_items import MAX_STORED, recipient_item, rejection_item
from relay.models import Entry, Job, Rejection
from relay_local.dev.strict_dynamodb import MAX_ITEM_BYTES, item_size  # DynamoDB's size rule, as the embedded AWS enforces it


def test_given_a_450_kb_message_and_number_when_rejected_then_the_item_keeps_excerpts_and_lengths_under_400_kb():
    # Given a rejection of a recipient with a 450 KB message, a 450 KB number and a long reference
    message, number = "é" * 450_000, "4" * 450_000
    rej = Rejection(
        rid="r1",
        number=number,
        object_pk="OBJ#b/manifests/m.csv",
        source_id="s",
        reason=f"message is {len(message)} characters; the limit is 4096; " + "x" * 5000,
        message=message,
        media_key="media/" + "k" * 2000,
        reference="ref-" * 1000,
    )
    # When it becomes a ledger item
    item = rejection_item(rej)
    # Then the item is well within DynamoDB's limit
    assert item_size(to_item(item)) < 40_000 < MAX_ITEM_BYTES
    # and each long field is an excerpt of its start with the original length beside it
    assert item["message"].startswith("éé") and len(item["message"]) == MAX_STORED["message"]
    assert item["message_length"] == 450_000 and item["number_length"] == 450_000
    assert item["number"].endswith("…") and item["reason"].startswith("message is 450000 characters")
    assert item["reason_length"] > MAX_STORED["reason"] and item["media_key_length"] == 2006
    assert item["reference_length"] == 4000
    assert item.get("number_pk") is None  # too long to index


def test_given_ordinary_text_when_stored_then_it_is_kept_whole_without_lengths():
    rej = Rejection(rid="r1", number="12345", object_pk="OBJ#b/k", source_id="s", reason="short", message="hello")
    item = rejection_item(rej)
    assert item["message"] == "hello" and item["number"] == "12345" and not any(k.endswith("_length") for k in item)
    job = Job(job_id="j", application=8, entries=[Entry(rid="e", number="447700900001", message="m" * 4096, object_pk="OBJ#b/k")])
    rcp = recipient_item(job, job.entries[0], "planned")
    assert rcp["message"] == "m" * 4096 and "message_length" not in rcp

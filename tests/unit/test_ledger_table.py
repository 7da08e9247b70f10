"""The ledger table (relay_local/ops/ledger_table.py) that `relay status` and the demo print: whole
reasons wrapped to the width and never cut, counts per state in the lifecycle's order, a JSON form."""

from __future__ import annotations

import json
from decimal import Decimal

from relay_local.ops import ledger_table
from relay_local.ops.status import Found, normal_number, s3_location

LONG_REASON = (
    "media 'outbox/447700900127/statement-for-november-2026-final-version.jpg': extension .jpg but content is PDF;"
    " rename the file to .pdf or upload the JPEG it claims to be, then upload it again under outbox/447700900127/"
)


def _items():
    return [
        {"number": "447700900127", "state": "rejected", "reason": LONG_REASON, "media_key": "outbox/447700900127/statement.jpg"},
        {"number": "447700900201", "state": "accepted", "form": "freeform", "push_id": Decimal(1000005), "msg_id": "1000006",
         "media_key": "media/chart.png", "pk": "PUSH#j", "sk": "RCP#r", "number_pk": "NUM#447700900201", "kind": "recipient"},
        {"number": "447700900202", "state": "delivered", "form": "template", "template_id": "invoice_doc",
         "form_reason": "no message from the customer in 24 h", "media_key": "media/photo.jpg"},
        {"number": "447700900203", "state": "planned", "caption_for": "r1"},
    ]  # fmt: skip


def _words(text: str) -> str:
    return "".join(text.split())


def test_given_a_reason_longer_than_the_width_when_rendered_then_it_wraps_and_every_character_is_kept():
    # Given a rejection whose reason is three times wider than the table's room
    items = _items()[:1]
    # When rendered 100 columns wide
    table = ledger_table.render(items, width=100)
    # Then no line is wider than 100, nothing is marked as cut, and the note column holds the whole reason
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "…" not in table
    note_at = lines[0].index("note")
    assert len(lines) > 3
    assert _words("".join(line[note_at:] for line in lines[2:])) == _words(LONG_REASON)


def test_given_a_long_media_key_in_a_narrow_table_when_rendered_then_the_key_is_broken_not_shortened():
    items = [{"number": "447700900127", "state": "rejected", "media_key": "outbox/447700900127/" + "x" * 80 + ".jpg", "reason": "r"}]
    table = ledger_table.render(items, width=80)
    media_at = table.splitlines()[0].index("media")
    width = table.splitlines()[1].split()[1].__len__()
    pieces = [line[media_at : media_at + width].strip() for line in table.splitlines()[2:]]
    assert "".join(pieces) == items[0]["media_key"]


def test_given_short_rows_when_rendered_then_each_recipient_is_one_line_with_the_demo_columns():
    table = ledger_table.render(_items()[1:], width=200)
    lines = table.splitlines()
    assert lines[0].split() == ["recipient", "media", "form", "state", "push_id", "msg_id", "note"]
    assert len(lines) == 2 + 3
    assert lines[2].split() == ["447700900201", "media/chart.png", "freeform", "accepted", "1000005", "1000006"]
    assert lines[3].endswith("no message from the customer in 24 h (template invoice_doc)")
    assert lines[4].split()[:2] == ["447700900203", "(text)"]


def test_given_form_reasons_off_when_rendered_then_only_reasons_and_captions_are_noted():
    table = ledger_table.render(_items()[2:3], width=200, form_reason=False)
    assert "24 h" not in table


def test_given_items_in_several_states_when_counted_then_states_follow_the_lifecycle_and_final_ones_are_counted():
    items = _items()
    assert list(ledger_table.counts(items).items()) == [("planned", 1), ("accepted", 1), ("delivered", 1), ("rejected", 1)]
    assert ledger_table.final_count(items) == 3
    assert ledger_table.summary(items) == "4 recipients (3 final): 1 planned, 1 accepted, 1 delivered, 1 rejected"
    assert ledger_table.progress_bar(items, width=8) == "[######..] 3/4 final  1 planned, 1 accepted, 1 delivered, 1 rejected"


def test_given_items_when_given_as_json_then_it_parses_with_counts_and_without_key_attributes():
    doc = json.loads(ledger_table.as_json(_items(), {"number": "447700900201"}))
    assert doc["query"] == {"number": "447700900201"}
    assert (doc["total"], doc["final"], doc["done"]) == (4, 3, False)
    assert doc["counts"] == {"planned": 1, "accepted": 1, "delivered": 1, "rejected": 1}
    assert doc["recipients"][0]["reason"] == LONG_REASON
    accepted = doc["recipients"][1]
    assert accepted["push_id"] == 1000005
    assert not {"pk", "sk", "kind", "number_pk"} & set(accepted)


def test_given_nothing_when_rendered_and_summarised_then_the_header_and_none_are_shown():
    assert ledger_table.render([], width=80).splitlines()[0].startswith("recipient")
    assert ledger_table.summary([]) == "0 recipients (0 final): none"
    assert json.loads(ledger_table.as_json([]))["done"] is False


def test_given_a_manifest_still_being_planned_when_all_its_rows_so_far_are_final_then_it_is_not_done():
    rows = [{"state": "rejected"}]
    assert not Found(rows, [{"state": "planning"}]).done
    assert Found(rows, [{"state": "planned"}]).done
    assert not Found([], []).done


def test_numbers_and_keys_are_read_as_the_ledger_keeps_them():
    assert normal_number("+44 7700-900123") == "447700900123"
    assert normal_number("abc") == "abc"
    assert s3_location("manifests/a.csv", "b") == ("b", "manifests/a.csv")
    assert s3_location("s3://other/outbox/1/x.pdf", None) == ("other", "outbox/1/x.pdf")
    assert s3_location("2512fc5f3ae6040145a77786", "b") is None


def test_given_a_long_rejection_when_the_demo_prints_its_table_then_the_whole_reason_is_there():
    from relay_local.dev.demo import table

    printed = table(_items()[:1])
    assert "…" not in printed
    assert _words(LONG_REASON) in _words(printed)


def test_given_reads_that_become_final_when_watched_then_it_reads_until_done_and_shows_each_read():
    from relay_local.ops.status import watch

    reads = iter([Found([{"state": "planned"}]), Found([{"state": "planned"}]), Found([{"state": "delivered"}])])
    shown, slept = [], []
    found, done = watch(lambda: next(reads), lambda f: shown.append(ledger_table.progress_bar(f.recipients, 4)), 0.5, sleep=slept.append)
    assert done and found.recipients == [{"state": "delivered"}]
    assert shown == ["[....] 0/1 final  1 planned", "[....] 0/1 final  1 planned", "[####] 1/1 final  1 delivered"]
    assert slept == [0.5, 0.5]


def test_given_a_timeout_when_nothing_becomes_final_then_watch_gives_up_not_done():
    from relay_local.ops.status import watch

    found, done = watch(lambda: Found([{"state": "planned"}]), lambda f: None, 0.5, timeout=0, sleep=lambda s: None)
    assert not done and found.recipients == [{"state": "planned"}]

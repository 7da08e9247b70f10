"""Delivery reports over real HTTP: uploads go through the pipeline to the Push API stand-in, the
ledger holds accepted recipients with the vendor's ids, then the vendor's Event Webhook bodies are
applied to that ledger (moto server) and every recipient may only move forward."""

from __future__ import annotations

import json

import pytest

from relay.delivery_reports import StatusReport, VendorEvent, allowed_from, apply_event
from relay.ledger import Ledger
from relay_local.dev.ledger_reads import by_vendor_id, number_history, scan_all

pytestmark = pytest.mark.integration


# -- helpers ------------------------------------------------------------------------------------
def put(relay, key: str, body: bytes, **meta: str) -> None:
    relay.client("s3").put_object(Bucket=relay.bucket, Key=key, Body=body, Metadata=meta)


def ledger(relay) -> Ledger:
    return Ledger(relay.client("dynamodb"), relay.table)


def recipients(relay) -> dict[str, dict]:
    """Recipient items by number (each test sends one message per number)."""
    rows = [i for i in scan_all(ledger(relay)) if i.get("kind") == "recipient"]
    by_number = {r["number"]: r for r in rows}
    assert len(by_number) == len(rows)
    return by_number


def send(relay, sample, *numbers: str, **meta: str) -> dict[str, dict]:
    """One photo per number through the whole pipeline; the recipients, all accepted."""
    for number in numbers:
        put(relay, f"outbox/{number}/p.jpg", sample("photo.jpg"), **meta)
    assert relay.run_until_idle(timeout=60)
    rows = recipients(relay)
    assert all(rows[n]["state"] == "accepted" and rows[n]["msg_id"] for n in numbers)
    return rows


def report(relay, *entries: dict, event_id: int = 1) -> StatusReport:
    """Apply one webhook body, parsed exactly as the API function parses it."""
    body = json.dumps({"project_id": "12345", "event_id": event_id, "data": list(entries)})
    return apply_event(ledger(relay), VendorEvent.model_validate_json(body))


def item(relay, row: dict) -> dict:
    found = ledger(relay).get(row["pk"], row["sk"])
    assert found is not None
    return found


def entry(row: dict, status: int | str, **extra) -> dict:
    return {"push_id": row["push_id"], "number": row["number"], "msg_id": row["msg_id"], "status": status, **extra}


# -- tests --------------------------------------------------------------------------------------
def test_given_an_accepted_message_when_delivered_then_read_then_the_state_moves_forward_each_time(relay, sample):
    row = send(relay, sample, "447700900123", reference="inv-1")["447700900123"]
    assert report(relay, entry(row, 1)) == StatusReport(received=1, updated=1)
    delivered = item(relay, row)
    assert delivered["state"] == "delivered" and delivered["delivery_status"] == 1
    assert delivered["delivery_at"] >= row["at"] and delivered["at"] == delivered["delivery_at"]
    assert delivered["msg_id"] == row["msg_id"] and "reason" not in delivered
    # the read receipt comes with the status as text, ids as integers
    as_ints = {**entry(row, "3"), "msg_id": int(row["msg_id"]), "push_id": int(row["push_id"])}
    assert report(relay, as_ints) == StatusReport(received=1, updated=1)
    read = item(relay, row)
    assert read["state"] == "read" and read["delivery_status"] == 3
    assert read["delivery_at"] >= delivered["delivery_at"]
    # and the number's history shows it too
    [history] = number_history(ledger(relay), "447700900123")
    assert history["state"] == "read"


def test_given_a_read_message_when_a_late_delivered_arrives_then_it_stays_read(relay, sample):
    row = send(relay, sample, "447700900124")["447700900124"]
    assert report(relay, entry(row, 3)).updated == 1
    before = item(relay, row)
    assert before["state"] == "read"
    assert report(relay, entry(row, 1)) == StatusReport(received=1, unchanged=1)
    assert report(relay, entry(row, 2, error_message="late failure")) == StatusReport(received=1, unchanged=1)
    assert item(relay, row) == before
    # the guard is the condition itself: a writer that still believes the item is accepted cannot regress it
    book = ledger(relay)
    assert book.apply_delivery(row["pk"], row["sk"], "delivered", allowed_from("delivered"), {"delivery_status": 1}) is False
    assert item(relay, row) == before


def test_given_the_same_event_twice_when_replayed_then_the_second_changes_nothing(relay, sample):
    rows = send(relay, sample, "447700900131", "447700900132")
    entries = [entry(rows["447700900131"], 1), entry(rows["447700900132"], 2, error_code="131026", error_message="Undeliverable")]
    assert report(relay, *entries) == StatusReport(received=2, updated=2)
    first = {n: item(relay, r) for n, r in rows.items()}
    assert report(relay, *entries) == StatusReport(received=2, unchanged=2)
    assert {n: item(relay, r) for n, r in rows.items()} == first
    assert first["447700900131"]["state"] == "delivered" and first["447700900132"]["state"] == "failed"


def test_given_failed_and_refunded_reports_then_both_fail_with_the_vendors_error_text_verbatim(relay, sample):
    rows = send(relay, sample, "447700900141", "447700900142", "447700900143")
    text = "Message Undeliverable: re-engagement window (24h) closed — ação necessária"
    got = report(
        relay,
        entry(rows["447700900141"], 2, error_code=131047, error_message=text),
        entry(rows["447700900142"], 5, error_code="REFUND", error_message="Refunded: number not on WhatsApp"),
        entry(rows["447700900143"], 5),  # no error text at all
    )
    assert got == StatusReport(received=3, updated=3)
    failed, refunded, bare = (item(relay, rows[n]) for n in ("447700900141", "447700900142", "447700900143"))
    assert failed["state"] == "failed" and failed["delivery_status"] == 2
    assert failed["error_code"] == "131047" and failed["error_message"] == text
    assert failed["reason"] == f"vendor delivery status 2: error 131047: {text}"
    assert refunded["state"] == "failed" and refunded["delivery_status"] == 5 and refunded["error_code"] == "REFUND"
    assert refunded["reason"] == "vendor delivery status 5: error REFUND: Refunded: number not on WhatsApp"
    assert bare["state"] == "failed" and bare["reason"] == "vendor delivery status 5: failed"
    assert "error_code" not in bare and "error_message" not in bare
    # a failure is final: a later read receipt does not revive it
    assert report(relay, entry(rows["447700900141"], 3)) == StatusReport(received=1, unchanged=1)
    assert item(relay, rows["447700900141"])["state"] == "failed"


def test_given_submitted_and_unknown_reports_then_the_state_stays_and_the_status_is_recorded(relay, sample):
    rows = send(relay, sample, "447700900151", "447700900152")
    sub, unk = rows["447700900151"], rows["447700900152"]
    assert report(relay, entry(sub, 4), entry(unk, 0)) == StatusReport(received=2, updated=2)
    assert (item(relay, sub)["state"], item(relay, sub)["delivery_status"]) == ("accepted", 4)
    assert (item(relay, unk)["state"], item(relay, unk)["delivery_status"]) == ("accepted", 0)
    # unknown says less than submitted: it does not overwrite it; submitted does overwrite unknown
    assert report(relay, entry(sub, 0)) == StatusReport(received=1, unchanged=1)
    assert item(relay, sub)["delivery_status"] == 4
    assert report(relay, entry(unk, 4)) == StatusReport(received=1, updated=1)
    assert item(relay, unk)["delivery_status"] == 4
    # the same submitted again changes nothing
    assert report(relay, entry(sub, 4)) == StatusReport(received=1, unchanged=1)
    # then the real outcome still moves the state, and a late "submitted" does not touch it afterwards
    assert report(relay, entry(sub, 1)).updated == 1
    assert report(relay, entry(sub, 4)) == StatusReport(received=1, unchanged=1)
    after = item(relay, sub)
    assert (after["state"], after["delivery_status"]) == ("delivered", 1)


def test_given_an_unknown_msg_id_when_reported_then_it_is_kept_and_findable_by_msg_id(relay, sample):
    rows = send(relay, sample, "447700900161")
    before = item(relay, rows["447700900161"])
    stray = {
        "push_id": "999",
        "number": "447700900999",
        "msg_id": "no-such-msg",
        "status": 2,
        "error_code": 7,
        "error_message": "Spam",
        "channel_id": 8,
        "media": None,
    }
    assert report(relay, stray) == StatusReport(received=1, unmatched=1)
    book = ledger(relay)
    [kept] = by_vendor_id(book, msg_id="no-such-msg")
    assert kept["pk"] == "EVENT#no-such-msg" and kept["sk"].startswith("EVENT#")
    [full] = [i for i in scan_all(book) if i["pk"] == kept["pk"]]
    assert full["kind"] == "unmatched_event" and full["event_id"] == 1 and full["project_id"] == "12345"
    assert (full["number"], full["status"], full["error_code"], full["error_message"]) == ("447700900999", 2, "7", "Spam")
    raw = json.loads(full["raw"])  # kept as JSON text: any number survives
    assert raw["channel_id"] == 8 and "media" not in raw
    assert item(relay, rows["447700900161"]) == before
    # the same report again is not matched to the kept event, only kept once more
    assert report(relay, stray) == StatusReport(received=1, unmatched=1)
    assert len(by_vendor_id(book, msg_id="no-such-msg")) == 2
    assert item(relay, rows["447700900161"]) == before


def test_given_no_msg_id_when_reported_then_the_reference_and_number_find_the_recipient(relay, sample):
    rows = send(relay, sample, "447700900171", "447700900172", reference="order-42")
    one = rows["447700900171"]
    by_ref = {"number": one["number"], "reference_number": "order-42", "status": 3}
    assert report(relay, by_ref) == StatusReport(received=1, updated=1)
    assert item(relay, one)["state"] == "read"
    assert item(relay, rows["447700900172"])["state"] == "accepted"  # same reference, other number
    # a reference without a number, or with a number that has no such message, matches nothing
    assert report(relay, {"reference_number": "order-42", "status": 1}) == StatusReport(received=1, unmatched=1)
    assert report(relay, {"number": "447700900179", "reference_number": "order-42", "status": 1}).unmatched == 1
    # an unknown msg_id with the reference and number of a message that has another msg_id is another message
    other = rows["447700900172"]
    stray = {"number": other["number"], "reference_number": "order-42", "msg_id": f"x{other['msg_id']}", "status": 1}
    assert report(relay, stray) == StatusReport(received=1, unmatched=1)
    assert item(relay, rows["447700900172"])["state"] == "accepted"


def test_given_two_messages_with_one_reference_and_number_when_reported_by_reference_then_it_is_unmatched(relay, sample):
    put(relay, "outbox/447700900181/a.jpg", sample("photo.jpg"), reference="twice")
    put(relay, "outbox/447700900181/b.jpg", sample("photo.jpg"), reference="twice")
    assert relay.run_until_idle(timeout=60)
    rows = [i for i in scan_all(ledger(relay)) if i.get("kind") == "recipient"]
    assert len(rows) == 2 and {r["state"] for r in rows} == {"accepted"}
    assert report(relay, {"number": "447700900181", "reference_number": "twice", "status": 1}) == StatusReport(received=1, unmatched=1)
    assert {item(relay, r)["state"] for r in rows} == {"accepted"}
    kept = [i for i in scan_all(ledger(relay)) if i.get("kind") == "unmatched_event"]
    assert [(k["pk"], k["reference_number"]) for k in kept] == [("EVENT#twice", "twice")]


def test_given_an_event_that_is_not_a_delivery_report_then_it_is_ignored_but_stored(relay, sample):
    rows = send(relay, sample, "447700900191")
    before = item(relay, rows["447700900191"])
    join = {"number": "447700900191", "msg_id": rows["447700900191"]["msg_id"], "status": 1, "group": "g-1"}
    assert report(relay, join, event_id=3) == StatusReport(received=1, ignored=1)
    assert item(relay, rows["447700900191"]) == before
    [stored] = [i for i in scan_all(ledger(relay)) if i["pk"] == "EVENT#other"]
    assert stored["kind"] == "other_event" and stored["event_id"] == 3
    raw = json.loads(stored["raw"])
    assert raw["data"] == [join]  # as it came, extras included
    assert raw["project_id"] == "12345"


def test_given_a_rejected_recipient_when_an_event_names_it_then_its_state_never_changes(relay, sample):
    put(relay, "outbox/0770090012/p.jpg", sample("photo.jpg"), reference="rej-1")
    assert relay.run_until_idle(timeout=60)
    assert relay.api.requests == []
    [rejected] = [i for i in scan_all(ledger(relay)) if i.get("kind") == "recipient"]
    assert rejected["state"] == "rejected"
    before = item(relay, rejected)
    for status in (1, 2, 3, 4):
        got = report(relay, {"number": rejected["number"], "reference_number": "rej-1", "status": status})
        assert got == StatusReport(received=1, unmatched=1)
        got = report(relay, {"number": "0770090012", "reference_number": "rej-1", "msg_id": "m-rej", "status": status})
        assert got == StatusReport(received=1, unmatched=1)
    assert item(relay, rejected) == before
    # and even a direct conditional update cannot move it
    book = ledger(relay)
    for target in ("delivered", "read", "failed"):
        assert book.apply_delivery(rejected["pk"], rejected["sk"], target, allowed_from(target), {"delivery_status": 1}) is False
    assert item(relay, rejected) == before


def test_given_delivery_reports_when_applied_then_each_move_is_counted_once_for_the_dashboard(relay, sample, monkeypatch):
    # Given two accepted recipients, and the metric calls of the reports recorded
    rows = send(relay, sample, "447700900141", "447700900142")
    counted: list[str] = []
    monkeypatch.setattr("relay.delivery_reports.count", lambda name, value=1: counted.extend([name] * value))
    one, two = rows["447700900141"], rows["447700900142"]
    # When one is delivered then read, the other fails, and every report is replayed
    entries = [entry(one, 1), entry(one, 3), entry(two, 2, error_message="Undeliverable")]
    report(relay, *entries)
    report(relay, *entries)
    # Then each move is counted once, in the metric the dashboard's recipients widgets show
    assert sorted(counted) == ["RecipientsDelivered", "RecipientsFailed", "RecipientsRead"]

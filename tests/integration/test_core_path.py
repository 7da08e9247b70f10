"""The whole path over real HTTP: S3 upload (moto server) → S3 notification → ingest queue →
IngestFunction → send queue → SenderFunction → Push API stand-in → ledger."""

from __future__ import annotations

import json
import time
from email.header import Header

import httpx
import pytest

from relay.ledger import Ledger
from relay.media import shorten_media_name
from relay_local.dev.ledger_reads import by_vendor_id, job_items, number_history, object_fate, scan_all

pytestmark = pytest.mark.integration


def put(relay, key: str, body: bytes, message: str | None = None, **meta: str) -> None:
    if message is not None:
        meta["message"] = message if message.isascii() else Header(message, "utf-8").encode()
    relay.client("s3").put_object(Bucket=relay.bucket, Key=key, Body=body, Metadata=meta)


def ledger(relay) -> Ledger:
    return Ledger(relay.client("dynamodb"), relay.table)


def recipients(relay) -> list[dict]:
    return [i for i in scan_all(ledger(relay)) if i.get("kind") == "recipient"]


def fetch(url: str) -> bytes:
    resp = httpx.get(url, timeout=10)
    assert resp.status_code == 200, url
    return resp.content


def test_given_per_recipient_files_when_uploaded_then_one_dynamic_request_carries_them_with_working_urls(relay, sample):
    # Given five per-recipient files, one with a non-ASCII caption and a key with spaces and a plus
    files = {
        "outbox/447700900001/photo.jpg": (sample("photo.jpg"), "Olá Ana 📸 — sua foto"),
        "outbox/447700900002/chart.png": (sample("chart.png"), "Your chart"),
        "outbox/447700900003/clip.mp4": (sample("clip.mp4"), None),
        "outbox/+44 7700 900004/façade photo.jpg": (sample("photo.jpg"), "spaces and unicode in the key"),
        "outbox/447700900005/anim.gif": (sample("anim.gif"), "gif"),
    }
    for key, (body, caption) in files.items():
        put(relay, key, body, caption)
    # When the pollers run
    assert relay.run_until_idle(timeout=60)
    # Then the stand-in received exactly one request, dynamic, on WhatsApp Official
    [req] = relay.api.requests
    assert req.body["application"] == "8" and "globalmedia" not in req.body
    data = {d["number"]: d for d in req.body["data"]}
    assert set(data) == {"447700900001", "447700900002", "447700900003", "447700900004", "447700900005"}
    assert data["447700900001"]["message"] == "Olá Ana 📸 — sua foto"
    assert data["447700900003"]["message"] == ""  # no caption metadata, no default configured
    # and five distinct presigned URLs, each downloading exactly the uploaded bytes
    urls = [d["media"] for d in req.body["data"]]
    assert len(set(urls)) == 5 and all("X-Amz-Signature=" in u for u in urls)
    by_number = {n: fetch(d["media"]) for n, d in data.items()}
    assert by_number["447700900003"] == sample("clip.mp4")
    assert by_number["447700900004"] == sample("photo.jpg")
    assert by_number["447700900005"] == sample("anim.gif")
    # and the ledger holds each recipient accepted with the vendor's ids
    answer = {d["number"]: d for d in req.response_body["data"]}
    rows = {r["number"]: r for r in recipients(relay)}
    assert set(rows) == set(data)
    for number, row in rows.items():
        assert row["state"] == "accepted"
        assert row["push_id"] == req.response_body["push_id"]
        assert row["msg_id"] == answer[number]["msg_id"] and row["credit"] == "0.005"
    assert rows["447700900004"]["media_key"] == "outbox/+44 7700 900004/façade photo.jpg"


def test_given_the_ledger_when_queried_then_push_number_and_object_questions_need_no_scan(relay, sample):
    put(relay, "outbox/447700900011/a.jpg", sample("photo.jpg"), "first")
    assert relay.run_until_idle(timeout=60)
    put(relay, "outbox/447700900011/b.jpg", sample("photo.jpg"), "second")
    put(relay, "outbox/447700900012/c.jpg", sample("photo.jpg"), "other")
    assert relay.run_until_idle(timeout=60)
    book = ledger(relay)
    # a number's history: both of its messages, oldest first
    history = number_history(book, "447700900011")
    assert [h["media_key"] for h in history] == ["outbox/447700900011/a.jpg", "outbox/447700900011/b.jpg"]
    # an object's fate: its source record and its recipient
    fate = object_fate(book, relay.bucket, "outbox/447700900012/c.jpg")
    assert {f["kind"] for f in fate} == {"source", "recipient"}
    assert [f["state"] for f in fate if f["kind"] == "recipient"] == ["accepted"]
    # a push: the push item and all its recipients, found from the vendor's push_id too
    job_id = history[1]["job_id"]
    push = job_items(book, job_id)
    assert {p["sk"].split("#")[0] for p in push} == {"PUSH", "RCP"}
    assert {p["number"] for p in push if p["kind"] == "recipient"} == {"447700900011", "447700900012"}
    [head] = [p for p in push if p["kind"] == "push"]
    assert head["state"] == "accepted" and head["recipients"] == 2
    [found] = by_vendor_id(book, push_id=head["push_id"])
    assert found["pk"] == f"PUSH#{job_id}"
    msg = history[0]["msg_id"]
    assert by_vendor_id(book, msg_id=msg)[0]["sk"] == f"RCP#{history[0]['rid']}"


def test_given_a_json_manifest_when_uploaded_then_rows_are_personalised_and_bad_rows_rejected_with_reasons(relay, sample):
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/a.png", Body=sample("chart.png"))
    s3.put_object(Bucket=relay.bucket, Key="media/b.jpg", Body=sample("photo.jpg"))
    s3.put_object(Bucket=relay.bucket, Key="media/fake.jpg", Body=sample("invoice.pdf"))
    manifest = {
        "message": "Hi {name}, code {code}",
        "recipients": [
            {"number": "+44 7700 900101", "name": "Ana", "code": "A1", "media": "media/a.png", "reference": "ref-1"},
            {"number": "0044 7700 900102", "name": "Bo", "code": "B2", "media": "media/b.jpg"},
            {"number": "07700900103", "name": "Cy", "code": "C3", "media": "media/a.png"},
            {"number": "447700900104", "name": "Di", "code": "D4", "media": "media/nope.png"},
            {"number": "447700900105", "name": "Ed", "code": "E5", "media": "media/fake.jpg"},
            {"number": "447700900106", "nom": "Fa", "media": "media/a.png"},
        ],
    }
    s3.put_object(Bucket=relay.bucket, Key="manifests/promo.json", Body=json.dumps(manifest).encode())
    assert relay.run_until_idle(timeout=60)
    [req] = relay.api.requests
    data = {d["number"]: d for d in req.body["data"]}
    assert set(data) == {"447700900101", "447700900102"}
    assert data["447700900101"]["message"] == "Hi Ana, code A1" and data["447700900101"]["reference_number"] == "ref-1"
    assert fetch(data["447700900102"]["media"]) == sample("photo.jpg")
    reasons = {r["number"]: r["reason"] for r in recipients(relay) if r["state"] == "rejected"}
    assert "starts with 0" in reasons["07700900103"]
    assert "media/nope.png" in reasons["447700900104"] and "no such object" in reasons["447700900104"]
    assert "content is PDF" in reasons["447700900105"]
    assert "{name}" in reasons["447700900106"]
    fate = object_fate(ledger(relay), relay.bucket, "manifests/promo.json")
    [source] = [f for f in fate if f["kind"] == "source"]
    assert source["state"] == "planned" and source["recipients"] == 2 and source["rejected"] == 4
    assert len([f for f in fate if f["kind"] == "recipient"]) == 6  # every row is in the ledger


def test_given_a_csv_manifest_with_a_static_document_when_uploaded_then_captions_follow_as_text(relay, sample):
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/brochure.pdf", Body=sample("invoice.pdf"))
    csv = (
        "# application: 8\n# media: media/brochure.pdf\n# media_name: Black Friday Brochure 2026.pdf\n"
        "number,message\n447700900301,\n447700900302,Page 4 has your size\n"
    )
    s3.put_object(Bucket=relay.bucket, Key="manifests/brochure.csv", Body=csv.encode())
    assert relay.run_until_idle(timeout=60)
    media_req, text_req = relay.api.requests
    assert fetch(media_req.body["globalmedia"]) == sample("invoice.pdf")
    assert media_req.body["media_name"] == shorten_media_name("Black Friday Brochure 2026.pdf")
    assert len(media_req.body["media_name"]) <= 20
    assert [d["message"] for d in media_req.body["data"]] == ["", ""] and media_req.body["globalmessage"] == ""
    assert "globalmedia" not in text_req.body and text_req.body["data"][0]["number"] == "447700900302"
    assert "Page 4 has your size" in (text_req.body["globalmessage"], text_req.body["data"][0]["message"])
    assert text_req.at >= media_req.at
    rows = recipients(relay)
    assert sorted((r["number"], r.get("caption_for") is not None, r["state"]) for r in rows) == [
        ("447700900301", False, "accepted"),
        ("447700900302", False, "accepted"),
        ("447700900302", True, "accepted"),
    ]


@pytest.mark.parametrize("relay_env", [{"RETRY_BASE_SECONDS": "0", "RECIPIENTS_PER_PUSH": "2"}])
def test_given_a_cap_of_two_when_five_files_arrive_then_three_requests_are_sent(relay, sample):
    for i in range(5):
        put(relay, f"outbox/44770090020{i}/p.jpg", sample("photo.jpg"), f"m{i}")
    assert relay.run_until_idle(timeout=60)
    assert sorted(len(r.body["data"]) for r in relay.api.requests) == [1, 2, 2]
    assert len({r["number"] for r in recipients(relay) if r["state"] == "accepted"}) == 5


@pytest.mark.parametrize("relay_env", [{"RETRY_BASE_SECONDS": "0", "PER_RECIPIENT_SPACING_SECONDS": "1"}])
def test_given_a_channel_without_dynamic_media_when_a_manifest_arrives_then_one_request_per_recipient_spaced(relay, sample):
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/a.png", Body=sample("chart.png"))
    rows = [{"number": f"44770090040{i}", "media": "media/a.png", "message": f"hi {i}"} for i in range(3)]
    s3.put_object(Bucket=relay.bucket, Key="manifests/web.json", Body=json.dumps({"application": 10, "recipients": rows}).encode())
    assert relay.run_until_idle(timeout=60)
    reqs = sorted(relay.api.requests, key=lambda r: r.at)
    assert [len(r.body["data"]) for r in reqs] == [1, 1, 1]
    assert all(r.body["application"] == "10" and r.response_body["status"] == 100 for r in reqs)
    gaps = [b.at - a.at for a, b in zip(reqs, reqs[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps


@pytest.mark.parametrize("relay_env", [{"RETRY_BASE_SECONDS": "0", "PER_RECIPIENT_SPACING_SECONDS": "1"}])
def test_given_a_first_request_slow_to_leave_its_slot_when_spaced_then_the_vendor_still_sees_them_the_spacing_apart(
    relay, sample, monkeypatch
):
    # Given: the first spaced request takes 0.6 s between taking its channel slot and reaching the
    # vendor (as a cold container's first request does: the token, the TLS connection, the presigning)
    import relay.sending as sending

    build = sending.build_request
    calls: list[int] = []

    def slow_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.6)
        return build(*args, **kwargs)

    monkeypatch.setattr(sending, "build_request", slow_first)
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/a.png", Body=sample("chart.png"))
    rows = [{"number": f"44770090041{i}", "media": "media/a.png", "message": f"hi {i}"} for i in range(2)]
    s3.put_object(Bucket=relay.bucket, Key="manifests/slow.json", Body=json.dumps({"application": 10, "recipients": rows}).encode())
    # When: both go out on a channel that takes one recipient per request, 1 s apart
    assert relay.run_until_idle(timeout=60)
    # Then: the vendor received them at least 1 s apart (the spacing counts from when a request went
    # out, not from when its slot was taken)
    first, second = sorted(relay.api.requests, key=lambda r: r.at)
    assert second.at - first.at >= 1.0, second.at - first.at


def test_given_the_vendor_refuses_when_sent_then_every_recipient_fails_with_the_vendors_code_verbatim(relay, sample):
    from relay_local.dev.standin import Answer

    relay.api.script(Answer(vendor_status=403))
    put(relay, "outbox/447700900501/p.jpg", sample("photo.jpg"), "x")
    put(relay, "outbox/447700900502/p.jpg", sample("photo.jpg"), "y")
    assert relay.run_until_idle(timeout=60)
    assert len(relay.api.requests) == 1  # not retried: more balance will not appear by retrying
    rows = recipients(relay)
    assert {r["state"] for r in rows} == {"failed"}
    assert {r["vendor_status"] for r in rows} == {403}
    assert {r["vendor_message"] for r in rows} == {"Insufficient balance"}


def test_given_a_server_error_then_service_unavailable_when_sent_then_the_job_is_retried_until_accepted(relay, sample):
    from relay_local.dev.standin import Answer

    relay.api.script(Answer(http_status=500), Answer(vendor_status=101))
    put(relay, "outbox/447700900601/p.jpg", sample("photo.jpg"), "x")
    assert relay.run_until_idle(timeout=60)
    statuses = [(r.response_status, (r.response_body or {}).get("status")) for r in relay.api.requests]
    assert statuses[0][0] == 500 and statuses[1][1] == 101 and statuses[2] == (200, 100)
    [row] = recipients(relay)
    assert row["state"] == "accepted" and row["push_id"] == relay.api.requests[2].response_body["push_id"]


@pytest.mark.parametrize("standin_options", [{"int_ids": True}])
def test_given_a_vendor_that_returns_integer_ids_when_sent_then_the_ledger_keeps_them_as_strings(relay, sample):
    put(relay, "outbox/447700900701/p.jpg", sample("photo.jpg"), "x")
    assert relay.run_until_idle(timeout=60)
    [req] = relay.api.requests
    assert isinstance(req.response_body["push_id"], int)
    [row] = recipients(relay)
    assert row["push_id"] == str(req.response_body["push_id"]) and row["msg_id"] == str(req.response_body["data"][0]["msg_id"])


def test_given_the_same_s3_notification_twice_when_processed_then_it_is_planned_and_sent_once(relay, sample):
    put(relay, "outbox/447700900801/p.jpg", sample("photo.jpg"), "once")
    sqs = relay.client("sqs")
    queue = relay.stack.ref("IngestQueue")
    # S3 delivers at least once: take its notification and deliver it again, in a later batch
    msgs = relay.pollers["IngestFunction"]._receive()
    bodies = [m["Body"] for m in msgs if "447700900801" in m["Body"]]
    for m in msgs:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert len(bodies) == 1
    sqs.send_message(QueueUrl=queue, MessageBody=bodies[0])
    assert relay.run_until_idle(timeout=60)
    sqs.send_message(QueueUrl=queue, MessageBody=bodies[0])
    assert relay.run_until_idle(timeout=60)
    assert len(relay.api.requests) == 1
    assert len(recipients(relay)) == 1


def test_given_a_message_that_is_not_an_s3_event_when_ingested_then_it_is_reported_as_a_batch_failure(relay, sample):
    put(relay, "outbox/447700900901/p.jpg", sample("photo.jpg"), "fine")
    poller = relay.pollers["IngestFunction"]
    sqs = relay.client("sqs")
    sqs.send_message(QueueUrl=poller.queue_url, MessageBody='{"hello": 1}')
    messages = poller._receive()
    result = relay.invoker.invoke("IngestFunction", poller.event_for(messages))
    bad = [m["MessageId"] for m in messages if m["Body"] == '{"hello": 1}']
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == bad
    # and its neighbour was planned all the same
    assert [r["number"] for r in recipients(relay)] == ["447700900901"]

"""The relay's HTTP API through `relay serve` (ApiServer) over real HTTP, with moto server and the
Push API stand-in behind it: signed pushes, status, vendor delivery events, idempotency, limits."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from relay.signing import sign
from relay_local.serve import ApiServer
from relay_local.session import LOCAL_EVENTS_SECRET, LOCAL_SIGNING_SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
def api(relay, sample) -> Iterator[tuple[ApiServer, httpx.Client]]:
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/photo.jpg", Body=sample("photo.jpg"))
    s3.put_object(Bucket=relay.bucket, Key="media/brochure.pdf", Body=sample("invoice.pdf"))
    with ApiServer(relay) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        yield server, http


def post_push(http: httpx.Client, body: dict | bytes, headers: dict | None = None, secret: str = LOCAL_SIGNING_SECRET,
              now: float | None = None) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post("/pushes", content=raw, headers={"Content-Type": "application/json", **sign(secret, raw, now), **(headers or {})})


def wait_for(http: httpx.Client, push_id: str, done, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = http.get(f"/pushes/{push_id}").json()
        if done(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def all_final(status: dict) -> bool:
    return all(r["state"] not in ("planned", "submitted") for r in status["recipients"])


def iso(seconds_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat()


def test_given_a_signed_push_when_posted_then_it_is_accepted_sent_and_visible_with_vendor_ids(api, relay):
    _, http = api
    resp = post_push(http, {"message": "Your order shipped", "media": {"key": "media/photo.jpg"},
                            "recipients": [{"number": "+44 7700 900123", "reference": "o-1"}, {"number": "0770"}]})
    assert resp.status_code == 202
    answer = resp.json()
    assert answer["recipients"] == 1 and answer["rejected"] == [{"number": "0770", "reason": answer["rejected"][0]["reason"]}]
    assert "starts with 0" in answer["rejected"][0]["reason"]
    status = wait_for(http, answer["id"], all_final)
    by_number = {r["number"]: r for r in status["recipients"]}
    [req] = relay.api.requests
    assert by_number["447700900123"]["state"] == "accepted"
    assert by_number["447700900123"]["push_id"] == req.response_body["push_id"]
    assert by_number["447700900123"]["msg_id"] == req.response_body["data"][0]["msg_id"]
    assert by_number["0770"]["state"] == "rejected"
    assert status["counts"] == {"accepted": 1, "rejected": 1}
    assert httpx.get(req.body["globalmedia"]).status_code == 200


def test_given_delivery_events_when_the_vendor_posts_them_then_recipients_move_to_delivered_read_failed(api, relay):
    _, http = api
    resp = post_push(http, {"message": "hi", "media": {"key": "media/photo.jpg"},
                            "recipients": [{"number": "447700900201"}, {"number": "447700900202"}]})
    status = wait_for(http, resp.json()["id"], all_final)
    ids = {r["number"]: r["msg_id"] for r in status["recipients"]}

    def event(number: str, code: int, **extra) -> httpx.Response:
        body = {"project_id": "1", "event_id": 1, "data": [{"number": number, "msg_id": ids[number], "status": code, **extra}]}
        return http.post(f"/events/{LOCAL_EVENTS_SECRET}", json=body)

    assert event("447700900201", 1).status_code == 200
    assert event("447700900201", 3).status_code == 200
    assert event("447700900201", 1).json()["unchanged"] == 1  # a late "delivered" does not undo "read"
    assert event("447700900202", 2, error_code="131026", error_message="Message undeliverable").status_code == 200
    # a wrong secret is a 404 and changes nothing
    wrong = http.post("/events/not-the-secret", json={"event_id": 1, "data": [{"msg_id": ids["447700900202"], "status": 3}]})
    assert wrong.status_code == 404
    states = {r["number"]: r for r in http.get(f"/pushes/{resp.json()['id']}").json()["recipients"]}
    assert states["447700900201"]["state"] == "read"
    assert states["447700900202"]["state"] == "failed" and "Message undeliverable" in states["447700900202"]["reason"]


@pytest.mark.parametrize(
    "variant",
    ["unsigned", "stale", "future", "tampered", "wrong-secret", "malformed-signature", "malformed-timestamp"],
)
def test_given_a_request_that_is_not_properly_signed_when_posted_then_401_and_nothing_is_planned(api, relay, variant):
    _, http = api
    body = json.dumps({"message": "x", "recipients": [{"number": "447700900301"}]}).encode()
    headers = {"Content-Type": "application/json", **sign(LOCAL_SIGNING_SECRET, body)}
    if variant == "unsigned":
        headers = {"Content-Type": "application/json"}
    elif variant == "stale":
        headers.update(sign(LOCAL_SIGNING_SECRET, body, now=time.time() - 301))
    elif variant == "future":
        headers.update(sign(LOCAL_SIGNING_SECRET, body, now=time.time() + 301))
    elif variant == "tampered":
        body = body.replace(b"447700900301", b"447700900399")
    elif variant == "wrong-secret":
        headers.update(sign("guess", body))
    elif variant == "malformed-signature":
        headers["X-Relay-Signature"] = "md5=abc"
    elif variant == "malformed-timestamp":
        headers["X-Relay-Timestamp"] = "yesterday"
    resp = http.post("/pushes", content=body, headers=headers)
    assert resp.status_code == 401 and resp.json() == {"message": "Unauthorized"}
    time.sleep(0.5)
    assert relay.api.requests == []
    assert relay.client("dynamodb").scan(TableName=relay.table)["Count"] == 0


def test_given_the_same_idempotency_key_when_a_push_is_retried_then_it_is_planned_and_sent_once(api, relay):
    _, http = api
    body = {"message": "once", "media": {"key": "media/photo.jpg"}, "recipients": [{"number": "447700900401"}]}
    first = post_push(http, body, {"Idempotency-Key": "order-77"})
    again = post_push(http, body, {"Idempotency-Key": "order-77"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    wait_for(http, first.json()["id"], all_final)
    time.sleep(0.5)
    assert len(relay.api.requests) == 1
    other = post_push(http, {**body, "message": "changed"}, {"Idempotency-Key": "order-77"})
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"
    assert len(relay.api.requests) == 1


@pytest.mark.parametrize("relay_env", [{"RETRY_BASE_SECONDS": "0", "PER_RECIPIENT_SPACING_SECONDS": "3"}])
def test_given_an_expiry_when_a_job_is_still_unsent_then_it_is_never_sent_and_recorded_expired(api, relay):
    _, http = api
    # one request per recipient on this channel, 3 s apart: the second is due at +3 s, well before
    # the expiry at +4.5 s; the third at +6 s, after it
    recipients = [{"number": f"44770090050{i}", "media": {"key": "media/photo.jpg"}} for i in range(3)]
    resp = post_push(http, {"application": 10, "message": "OTP 123456", "expires_at": iso(4.5), "recipients": recipients})
    assert resp.status_code == 202
    status = wait_for(http, resp.json()["id"], all_final, timeout=30)
    states = {r["number"]: r["state"] for r in status["recipients"]}
    assert states == {"447700900500": "accepted", "447700900501": "accepted", "447700900502": "expired"}
    assert sorted(d["number"] for r in relay.api.requests for d in r.body["data"]) == ["447700900500", "447700900501"]


def test_given_send_at_when_posted_then_nothing_is_sent_before_then(api, relay):
    _, http = api
    send_at = time.time() + 2
    resp = post_push(http, {"message": "later", "send_at": datetime.fromtimestamp(send_at, UTC).isoformat(),
                            "recipients": [{"number": "447700900601"}]})
    assert resp.status_code == 202
    wait_for(http, resp.json()["id"], all_final)
    [req] = relay.api.requests
    assert req.at >= send_at - 0.05


def test_given_base64_and_url_media_when_posted_then_base64_is_stored_and_presigned_and_urls_pass_through(api, relay, sample):
    _, http = api
    pdf = base64.b64encode(sample("invoice.pdf")).decode()
    resp = post_push(http, {"recipients": [
        {"number": "447700900701", "media": {"base64": pdf, "filename": "Invoice 42.pdf"}},
        {"number": "447700900702", "media": {"url": "https://cdn.example.com/promo/summer.jpg"}, "message": "Summer!"},
        {"number": "447700900703", "media": {"base64": "not base64!!", "filename": "x.pdf"}},
    ]})
    answer = resp.json()
    assert resp.status_code == 202 and [r["number"] for r in answer["rejected"]] == ["447700900703"]
    assert "base64" in answer["rejected"][0]["reason"]
    wait_for(http, answer["id"], all_final)
    sent = {d["number"]: d for r in relay.api.requests for d in r.body["data"]}
    media = {d["number"]: d.get("media") or r.body.get("globalmedia") for r in relay.api.requests for d in r.body["data"]}
    assert set(sent) == {"447700900701", "447700900702"}
    assert media["447700900702"] == "https://cdn.example.com/promo/summer.jpg"
    assert httpx.get(media["447700900701"]).content == sample("invoice.pdf")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"recipients": [{"number": "447700900801"}] * 1001}, 422, "recipients"),
        ({"recipients": []}, 422, "recipients"),
        ({"message": "x", "send_at": "2030-01-01T00:00:00", "recipients": [{"number": "447700900801"}]}, 422, "send_at"),
        ({"message": "x", "send_at": iso(8 * 86400), "recipients": [{"number": "447700900801"}]}, 422, "send_at"),
        ({"message": "x", "expires_at": iso(-60), "recipients": [{"number": "447700900801"}]}, 422, "expires_at"),
        ({"message": "x", "media": {"key": "a", "url": "https://x/y.jpg"}, "recipients": [{"number": "447700900801"}]}, 422, "media"),
        ({"message": "x", "colour": "red", "recipients": [{"number": "447700900801"}]}, 422, "colour"),
        ({"message": "x", "voice": True, "application": 8, "recipients": [{"number": "447700900801"}]}, 422, "voice"),
    ],
    ids=["too-many", "none", "naive-send-at", "send-at-far", "expired-already", "two-media", "unknown-field", "voice-channel"],
)
def test_given_a_body_over_the_limits_when_posted_then_a_clear_4xx_names_the_field(api, relay, body, status, field):
    _, http = api
    resp = post_push(http, body)
    assert resp.status_code == status
    assert field in resp.text


def test_given_a_body_over_5_mb_when_posted_then_413(api):
    _, http = api
    resp = post_push(http, b'{"message": "' + b"x" * (5 * 1024 * 1024) + b'", "recipients": [{"number": "447700900901"}]}')
    assert resp.status_code == 413


def test_given_an_unknown_id_when_read_then_404(api):
    _, http = api
    assert http.get("/pushes/0123456789abcdef01234567").status_code == 404
    assert http.get("/pushes/not-an-id").status_code == 404

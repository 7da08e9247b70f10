"""The relay's HTTP API through `relay serve` (ApiServer) over real HTTP, with moto server and the
Push API stand-in behind it: signed pushes, status, vendor delivery events, idempotency, limits."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from relay.signing import sign, sign_status
from relay_local.dev.serve import ApiServer
from relay_local.dev.session import LOCAL_EVENTS_SECRET, LOCAL_SIGNING_SECRET

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture
def api(relay, sample) -> Iterator[tuple[ApiServer, httpx.Client]]:
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/photo.jpg", Body=sample("photo.jpg"))
    s3.put_object(Bucket=relay.bucket, Key="media/brochure.pdf", Body=sample("invoice.pdf"))
    with ApiServer(relay) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        yield server, http


def post_push(
    http: httpx.Client, body: dict | bytes, headers: dict | None = None, secret: str = LOCAL_SIGNING_SECRET, now: float | None = None
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post("/pushes", content=raw, headers={"Content-Type": "application/json", **sign(secret, raw, now), **(headers or {})})


def get_status(http: httpx.Client, push_id: str, secret: str = LOCAL_SIGNING_SECRET) -> httpx.Response:
    """GET /pushes/{id}, signed over the line `GET /pushes/<id>`."""
    return http.get(f"/pushes/{push_id}", headers=sign_status(secret, push_id))


def wait_for(http: httpx.Client, push_id: str, done, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = get_status(http, push_id).json()
        if done(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def all_final(status: dict) -> bool:
    return all(r["state"] not in ("planned", "submitted") for r in status["recipients"])


def iso(seconds_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat()


def test_given_a_signed_push_when_posted_then_it_is_accepted_sent_and_visible_with_vendor_ids(api, relay):
    _, http = api
    resp = post_push(
        http,
        {
            "message": "Your order shipped",
            "media": {"key": "media/photo.jpg"},
            "recipients": [{"number": "+44 7700 900123", "reference": "o-1"}, {"number": "0770"}],
        },
    )
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
    resp = post_push(
        http, {"message": "hi", "media": {"key": "media/photo.jpg"}, "recipients": [{"number": "447700900201"}, {"number": "447700900202"}]}
    )
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
    states = {r["number"]: r for r in get_status(http, resp.json()["id"]).json()["recipients"]}
    assert states["447700900201"]["state"] == "read"
    assert states["447700900202"]["state"] == "failed" and "Message undeliverable" in states["447700900202"]["reason"]
    # the vendor's error code and message are shown as they came
    assert states["447700900202"]["error_code"] == "131026"
    assert states["447700900202"]["error_message"] == "Message undeliverable"


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
    resp = post_push(
        http, {"message": "later", "send_at": datetime.fromtimestamp(send_at, UTC).isoformat(), "recipients": [{"number": "447700900601"}]}
    )
    assert resp.status_code == 202
    wait_for(http, resp.json()["id"], all_final)
    [req] = relay.api.requests
    assert req.at >= send_at - 0.05


def test_given_base64_and_url_media_when_posted_then_base64_is_stored_and_presigned_and_urls_pass_through(api, relay, sample):
    _, http = api
    pdf = base64.b64encode(sample("invoice.pdf")).decode()
    resp = post_push(
        http,
        {
            "recipients": [
                {"number": "447700900701", "media": {"base64": pdf, "filename": "Invoice 42.pdf"}},
                {"number": "447700900702", "media": {"url": "https://cdn.example.com/promo/summer.jpg"}, "message": "Summer!"},
                {"number": "447700900703", "media": {"base64": "not base64!!", "filename": "x.pdf"}},
            ]
        },
    )
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
    assert get_status(http, "0123456789abcdef01234567").status_code == 404
    assert get_status(http, "not-an-id").status_code == 404


# -- issue 9: security and faults of the HTTP API ---------------------------------------------------------
FOREIGN_EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "foreign-events"
UNAUTHORIZED = {"message": "Unauthorized"}


def recipient_items(relay) -> list[dict]:
    items = relay.client("dynamodb").scan(TableName=relay.table)["Items"]
    return [i for i in items if i.get("kind", {}).get("S") == "recipient"]


@pytest.mark.parametrize("variant", ["unsigned", "signed-for-another-id", "wrong-secret", "stale", "post-signature"])
def test_given_a_push_when_its_status_is_read_without_a_valid_signature_then_401_like_post(api, variant):
    # Given a push that exists
    _, http = api
    push_id = post_push(http, {"message": "secret text", "recipients": [{"number": "447700901001"}]}).json()["id"]
    headers = {
        "unsigned": {},
        "signed-for-another-id": sign_status(LOCAL_SIGNING_SECRET, "0123456789abcdef01234567"),
        "wrong-secret": sign_status("guess", push_id),
        "stale": sign_status(LOCAL_SIGNING_SECRET, push_id, now=time.time() - 301),
        "post-signature": sign(LOCAL_SIGNING_SECRET, b""),
    }[variant]
    # When its status is read without a valid signature for this id
    resp = http.get(f"/pushes/{push_id}", headers=headers)
    # Then the answer is POST's 401, and nothing of the push is in it
    assert resp.status_code == 401 and resp.json() == UNAUTHORIZED
    assert "447700901001" not in resp.text and "secret text" not in resp.text


def test_given_a_signed_status_read_then_unknown_ids_are_404_only_after_authentication(api):
    _, http = api
    assert get_status(http, "0123456789abcdef01234567").json() == {"message": "no push with this id"}
    assert http.get("/pushes/0123456789abcdef01234567").status_code == 401


def test_given_an_idempotency_key_when_posted_then_the_push_id_is_not_a_plain_hash_of_the_key(api):
    # Given a caller's order number as Idempotency-Key
    _, http = api
    key = "order-1001"
    # When a push is posted with it
    push_id = post_push(http, {"message": "hi", "recipients": [{"number": "447700901002"}]}, {"Idempotency-Key": key}).json()["id"]
    # Then its id is the HMAC of the key under the signing secret: not computable from the key alone
    import hashlib
    import hmac

    from relay.models import short_hash

    assert push_id != short_hash("idempotency-key", key)
    assert push_id != hashlib.sha256(key.encode()).hexdigest()[:24]
    assert push_id == hmac.new(LOCAL_SIGNING_SECRET.encode(), b"push-id\x00" + key.encode(), hashlib.sha256).hexdigest()[:24]


def test_given_a_signed_request_without_idempotency_key_when_replayed_then_the_first_answer_and_nothing_new_is_planned(api, relay):
    # Given one signed request, captured on the wire (no Idempotency-Key)
    _, http = api
    raw = json.dumps({"message": "pay now", "recipients": [{"number": "447700901003"}]}).encode()
    headers = {"Content-Type": "application/json", **sign(LOCAL_SIGNING_SECRET, raw)}
    # When it is sent, then replayed byte for byte within the 5-minute window
    first = http.post("/pushes", content=raw, headers=headers)
    replay = http.post("/pushes", content=raw, headers=headers)
    # Then the replay gets the first answer, and the push is planned and sent once
    assert first.status_code == replay.status_code == 202
    assert replay.json() == first.json()
    wait_for(http, first.json()["id"], all_final)
    assert [i["number"]["S"] for i in recipient_items(relay)] == ["447700901003"]
    assert [d["number"] for r in relay.api.requests for d in r.body["data"]] == ["447700901003"]
    # and the same signature on another body is refused (the body is signed)
    other = http.post("/pushes", content=raw.replace(b"pay now", b"pay me"), headers=headers)
    assert other.status_code == 401


def test_given_a_signed_request_with_idempotency_key_when_replayed_then_nothing_new_is_planned(api, relay):
    _, http = api
    raw = json.dumps({"message": "once", "recipients": [{"number": "447700901004"}]}).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": "crm-9", **sign(LOCAL_SIGNING_SECRET, raw)}
    first = http.post("/pushes", content=raw, headers=headers)
    replay = http.post("/pushes", content=raw, headers=headers)
    assert first.status_code == replay.status_code == 202 and replay.json() == first.json()
    assert len(recipient_items(relay)) == 1


@pytest.mark.parametrize(
    "key",
    [
        "manifests/campaign.json",
        "outbox/447700900127/statement.jpg",
        "media/../manifests/campaign.json",
        "media//photo.jpg",
        "./media/photo.jpg",
        "/media/photo.jpg",
        "media/absent.jpg",
        "api-media/other/x.pdf",
    ],
)
def test_given_a_media_key_outside_the_allowed_prefixes_or_absent_when_posted_then_one_answer_for_both(api, relay, sample, key):
    # Given objects outside media/ that exist (a manifest, someone's outbox file)
    _, http = api
    s3 = relay.client("s3")
    for existing in ("manifests/campaign.json", "outbox/447700900127/statement.jpg", "api-media/other/x.pdf"):
        s3.put_object(Bucket=relay.bucket, Key=existing, Body=sample("photo.jpg"))
    # When a push names one of them, a path trick, or a key that does not exist
    resp = post_push(http, {"message": "x", "recipients": [{"number": "447700901005", "media": {"key": key}}]})
    # Then the recipient is rejected with the same reason whether it exists or not, and nothing is sent
    assert resp.status_code == 202
    [rejected] = resp.json()["rejected"]
    assert rejected["reason"].replace(repr(key), "<key>") == (
        "media <key>: no object the API may send; media keys must name an existing object under media/"
    )
    time.sleep(0.3)
    assert "447700901005" not in [d["number"] for r in relay.api.requests for d in r.body["data"]]


@pytest.mark.parametrize("relay_env", [{"RETRY_BASE_SECONDS": "0", "API_MEDIA_PREFIXES": "media/,brand/"}])
def test_given_configured_media_prefixes_when_posted_then_keys_under_them_are_sent(api, relay, sample):
    _, http = api
    relay.client("s3").put_object(Bucket=relay.bucket, Key="brand/logo.jpg", Body=sample("photo.jpg"))
    resp = post_push(http, {"message": "x", "media": {"key": "brand/logo.jpg"}, "recipients": [{"number": "447700901006"}]})
    assert resp.status_code == 202 and resp.json()["rejected"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "hi\x00there", "recipients": [{"number": "447700901007"}]}, "message"),
        ({"message": "ring\x07", "recipients": [{"number": "447700901007"}]}, "message"),
        ({"message": "\u202eevil", "recipients": [{"number": "447700901007"}]}, "message"),
        ({"message": "ok", "recipients": [{"number": "447700901007", "message": "x\x1b[31m"}]}, "recipients.0.message"),
        ({"message": "ok", "recipients": [{"number": "447700901007", "reference": "order\u20661"}]}, "recipients.0.reference"),
        ({"message": "ok", "recipients": [{"number": "447700901007", "reference": "order\n1"}]}, "recipients.0.reference"),
        ({"message": "ok", "recipients": [{"number": "4477009\x0001007"}]}, "recipients.0.number"),
    ],
    ids=["NUL", "BEL", "RLO", "ESC-in-recipient-message", "LRI-in-reference", "newline-in-reference", "NUL-in-number"],
)
def test_given_control_characters_when_posted_then_422_naming_the_field_and_nothing_planned(api, relay, body, field):
    _, http = api
    resp = post_push(http, body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"].startswith(field) and "U+" in resp.json()["message"]
    assert recipient_items(relay) == []


def test_given_layout_characters_in_a_message_when_posted_then_accepted():
    from relay.api_models import PushRequest

    PushRequest.model_validate({"message": "line 1\nline 2\ttab\r\n", "recipients": [{"number": "447700901008"}]})


def test_given_a_body_marked_base64_that_is_not_when_invoked_then_400_saying_so(relay):
    # Given an API Gateway event whose body claims to be base64 but is not
    event = json.loads((EVENTS / "api-post-pushes.json").read_text())
    event = {**event, "body": "{not base64!}", "isBase64Encoded": True}
    # When ApiFunction gets it
    result = relay.invoker.invoke("ApiFunction", event)
    # Then a clear 400, not a crash
    assert result["statusCode"] == 400
    assert json.loads(result["body"]) == {"message": "body is marked isBase64Encoded but is not valid base64"}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("http-api-v2-post-pushes.json", "HTTP API (payload format 2.0)"),
        ("function-url-get-push.json", "Function URL"),
        ("vpc-lattice-v1-post-pushes.json", "VPC Lattice"),
        ("vpc-lattice-v2-get-push.json", "VPC Lattice"),
    ],
)
def test_given_an_event_that_is_not_a_rest_proxy_event_when_invoked_then_a_clear_400_in_the_callers_shape(relay, name, kind):
    # Given a real-shaped HTTP API v2 / Function URL / VPC Lattice event
    event = json.loads((FOREIGN_EVENTS / name).read_text())
    # When ApiFunction gets it
    result = relay.invoker.invoke("ApiFunction", event)
    # Then it answers 400 in a shape that caller reads, saying what ApiFunction takes
    assert result["statusCode"] == 400 and result["headers"]["Content-Type"] == "application/json"
    message = json.loads(result["body"])["message"]
    assert "REST API (v1) proxy events" in message and kind in message
    if name.startswith("vpc-lattice"):
        assert result["statusDescription"] == "400 Bad Request" and result["isBase64Encoded"] is False
    assert recipient_items(relay) == []


def test_given_a_body_that_is_not_json_when_posted_then_422_naming_the_body_with_line_and_column(api):
    _, http = api
    resp = post_push(http, b'{"message": "x",\n "recipients": [}')
    assert resp.status_code == 422
    answer = resp.json()
    assert answer["field"] == "body"
    assert answer["message"].startswith("body is not valid JSON: ") and "line 2 column" in answer["message"]


def test_given_voice_without_application_when_the_default_channel_is_not_10_then_422_naming_voice(api, relay):
    _, http = api
    resp = post_push(http, {"message": "x", "voice": True, "recipients": [{"number": "447700901009"}]})
    assert resp.status_code == 422 and resp.json()["field"] == "voice"
    assert "application 10" in resp.json()["message"]
    assert recipient_items(relay) == []
    ok = post_push(http, {"message": "x", "voice": True, "application": 10, "recipients": [{"number": "447700901009"}]})
    assert ok.status_code == 202


HINDI = ("नमस्ते दोस्त " * 100)[:1190]  # 1,190 characters, 3,570 UTF-8 bytes


def test_given_100_recipients_with_their_own_long_hindi_messages_when_posted_then_202_and_every_one_is_sent(api, relay):
    # Given 100 recipients, each with a 1,190-character Hindi message of its own (a job sized in characters
    # fit 200,000 "bytes" but was over SQS's 262,144 real bytes: 502, recipients planned forever)
    _, http = api
    recipients = [{"number": f"4477009{i:05d}", "message": f"{i} {HINDI}"} for i in range(100)]
    # When posted
    resp = post_push(http, {"recipients": recipients})
    # Then accepted, split into jobs that each fit one SQS message, and every recipient sent
    assert resp.status_code == 202, resp.text
    assert resp.json()["recipients"] == 100 and resp.json()["jobs"] >= 2
    status = wait_for(http, resp.json()["id"], all_final, timeout=60)
    assert status["counts"] == {"accepted": 100}
    assert sum(len(req.body["data"]) for req in relay.api.requests) == 100


def test_given_one_recipient_with_a_450_kb_message_when_posted_then_it_is_rejected_with_the_length_and_others_are_sent(api, relay):
    # Given a recipient whose message is 450 KB (under the 5 MB body cap, over DynamoDB's 400 KB item)
    _, http = api
    resp = post_push(
        http, {"message": "Hi", "recipients": [{"number": "447700900301", "message": "x" * 450_000}, {"number": "447700900302"}]}
    )
    # Then a clear per-recipient rejection (not a 5xx), and the other recipient is sent
    assert resp.status_code == 202, resp.text
    [rejected] = resp.json()["rejected"]
    assert rejected["number"] == "447700900301" and "450000 characters" in rejected["reason"]
    status = wait_for(http, resp.json()["id"], all_final)
    assert status["counts"] == {"accepted": 1, "rejected": 1}
    # and its ledger entry keeps an excerpt and the length, never the whole field
    from relay.dynamodb import from_item

    [item] = [from_item(i) for i in recipient_items(relay) if i["state"]["S"] == "rejected"]
    assert item["message_length"] == 450_000 and len(item["message"]) <= 4096

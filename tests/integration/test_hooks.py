"""Third-party webhooks over real HTTP (`relay serve`'s ApiServer, moto server behind it):
POST /hooks/{route} verifies each sender's own signature (secrets in SSM SecureStrings of the
embedded stack), filters, de-duplicates, maps and queues a HookPush on the IngestQueue (read here;
no background pump: the worker is not under test), or records a `rejected` recipient.

Route files: tests/fixtures/routes/test-*.json (HOOK_ROUTES_DIR, local only). Signatures are
computed here with hashlib/hmac directly, or with the standardwebhooks package's own `sign`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from relay.hook_models import HookPush
from relay.ledger import Ledger
from relay.observability import logger
from relay.signing import sign_status
from relay_local.dev.ledger_reads import scan_all
from relay_local.dev.serve import ApiServer
from relay_local.dev.session import LOCAL_SIGNING_SECRET

pytestmark = pytest.mark.integration

ROUTES = Path(__file__).resolve().parents[1] / "fixtures" / "routes"
STRIPE_SECRET = "whsec_stripe_tEsT_8c1f0a"
SHOPIFY_SECRET = "shpss_shopify_tEsT_55aa"
GITHUB_OLD, GITHUB_NEW = "gh_old_tEsT_0001", "gh_new_tEsT_0002"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-tEsT-32-bytes!").decode()
GENERIC_SECRET = "generic_tEsT_secret_77"
SECRETS = {
    "/picky-relay/hooks/test-stripe": STRIPE_SECRET,
    "/picky-relay/hooks/test-shopify": SHOPIFY_SECRET,
    # a rotation under way: both accepted
    "/picky-relay/hooks/test-github": f"{GITHUB_OLD}\n{GITHUB_NEW}\n",
    "/picky-relay/hooks/test-standard": STANDARD_SECRET,
    "/picky-relay/hooks/test-generic": GENERIC_SECRET,
}
PHONE = "447700900123"


@pytest.fixture
def relay_env(relay_env) -> dict[str, str]:
    return {**relay_env, "HOOK_ROUTES_DIR": str(ROUTES), "POWERTOOLS_LOG_LEVEL": "INFO"}


@pytest.fixture
def http(relay) -> Iterator[httpx.Client]:
    ssm = relay.client("ssm")
    for name, value in SECRETS.items():
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    with ApiServer(relay, pump=False) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


# -- events and signatures, computed here ------------------------------------------------------------
def stripe_event(event_id: str = "evt_1Q2w3E", kind: str = "invoice.finalized", **invoice) -> bytes:
    obj = {
        "object": "invoice",
        "number": "INV-1042",
        "customer_name": "Ana",
        "customer_phone": "+44 7700 900123",
        "invoice_pdf": "https://pay.stripe.com/invoice/acct_1/inv_1/pdf",
        **invoice,
    }
    return json.dumps(
        {"id": event_id, "object": "event", "type": kind, "data": {"object": {k: v for k, v in obj.items() if v is not None}}}
    ).encode()


def stripe_headers(body: bytes, secret: str = STRIPE_SECRET, t: int | None = None) -> dict[str, str]:
    t = int(time.time()) if t is None else t
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}


def post(http: httpx.Client, route: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return http.post(f"/hooks/{route}", content=body, headers=headers)


def queued(relay) -> list[HookPush]:
    """Every HookPush on the IngestQueue (read, and left invisible: each test has its own stack; S3's
    own test event on the queue is not one)."""
    sqs, url = relay.client("sqs"), relay.stack.ref("IngestQueue")
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return found
        found += [HookPush.model_validate_json(m["Body"]) for m in messages if json.loads(m["Body"]).get("kind") == "hook-push"]


def items(relay) -> list[dict]:
    return scan_all(Ledger(relay.client("dynamodb"), relay.table))


def capture_logs(caplog) -> None:
    """INFO and up from every logger, the functions' own too (Powertools set its level when an earlier
    test module imported it, from that module's POWERTOOLS_LOG_LEVEL)."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger=logger.name)


def every_log(caplog) -> str:
    """Every record any logger wrote during the test, with its extra fields."""
    return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


def get_push(http: httpx.Client, push_id: str) -> httpx.Response:
    return http.get(f"/pushes/{push_id}", headers=sign_status(LOCAL_SIGNING_SECRET, push_id))


# -- accepted and queued ------------------------------------------------------------------------------
def test_given_a_signed_stripe_invoice_event_then_202_with_the_push_id_and_one_mapped_hook_push_queued(relay, http):
    # Given Stripe's invoice.finalized, signed with the endpoint secret as is
    body = stripe_event()
    # When Stripe posts it
    resp = post(http, "test-stripe", body, stripe_headers(body))
    # Then 202 with the push id, and nothing else
    assert resp.status_code == 202, resp.text
    [push_id] = resp.json().values()
    assert list(resp.json()) == ["id"] and len(push_id) == 24
    # And one HookPush on the IngestQueue, mapped from the event (no payload, no secret)
    [push] = queued(relay)
    assert push.model_dump(exclude={"received_at"}, exclude_none=True) == {
        "kind": "hook-push",
        "route": "test-stripe",
        "push_id": push_id,
        "delivery_id": "evt_1Q2w3E",
        "number": "+44 7700 900123",
        "message": "Invoice INV-1042 for Ana: {thanks}",
        "media_url": "https://pay.stripe.com/invoice/acct_1/inv_1/pdf",
        "media_hosts": ["pay.stripe.com"],
        "reference": "INV-1042",
    }
    # And the ledger keeps the delivery (its push id and state), nothing of the payload
    [hook] = items(relay)
    assert hook["pk"] == "HOOK#test-stripe#evt_1Q2w3E" and hook["state"] == "queued" and hook["push_id"] == push_id
    assert hook["expires"] > time.time() + 6 * 86400
    assert "Ana" not in json.dumps(hook) and STRIPE_SECRET not in json.dumps(hook)
    # And GET /pushes/{id} knows it before the worker plans it: queued, no recipients yet
    status = get_push(http, push_id)
    assert status.status_code == 200, status.text
    assert status.json() == {"id": push_id, "recipients": [], "counts": {}, "state": "queued"}


def test_given_the_same_delivery_twice_then_the_same_answer_and_one_hook_push(relay, http):
    # Given a delivery accepted once
    body = stripe_event("evt_dup")
    first = post(http, "test-stripe", body, stripe_headers(body))
    assert first.status_code == 202
    # When Stripe delivers it again later (signed afresh, as its retries are)
    again = post(http, "test-stripe", body, stripe_headers(body, t=int(time.time()) - 60))
    # Then the same answer, and still one HookPush on the queue
    assert (again.status_code, again.json()) == (202, first.json())
    assert [p.push_id for p in queued(relay)] == [first.json()["id"]]


def test_given_two_deliveries_then_two_push_ids(relay, http):
    a, b = stripe_event("evt_a"), stripe_event("evt_b")
    ids = {post(http, "test-stripe", x, stripe_headers(x)).json()["id"] for x in (a, b)}
    assert len(ids) == 2 and {p.push_id for p in queued(relay)} == ids


def test_given_a_shopify_fulfilment_then_verified_by_its_base64_hmac_and_keyed_by_its_webhook_id(relay, http):
    body = json.dumps({"name": "#1001", "shipping_address": {"phone": PHONE}}).encode()
    sig = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"X-Shopify-Hmac-Sha256": sig, "X-Shopify-Topic": "orders/fulfilled", "X-Shopify-Webhook-Id": "b54557e4-bdd9"}
    resp = post(http, "test-shopify", body, headers)
    assert resp.status_code == 202, resp.text
    [push] = queued(relay)
    assert (push.delivery_id, push.number, push.message, push.media_key) == (
        "b54557e4-bdd9",
        PHONE,
        "Order #1001 is on its way",
        "media/slips/#1001.pdf",
    )
    # another topic is not this route's: answered 200 and stored nowhere
    other = post(http, "test-shopify", body, {**headers, "X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": "x-2"})
    assert other.status_code == 200 and "ignored" in other.json()
    assert queued(relay) == [] and [i["pk"] for i in items(relay)] == ["HOOK#test-shopify#b54557e4-bdd9"]


def test_given_github_during_a_key_rotation_then_a_delivery_signed_with_the_second_secret_is_accepted(relay, http):
    body = json.dumps({"phone": PHONE, "release": {"tag_name": "v2.1"}}).encode()
    for n, secret in enumerate((GITHUB_NEW, GITHUB_OLD)):
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        resp = post(http, "test-github", body, {"X-Hub-Signature-256": sig, "X-GitHub-Delivery": f"d-{n}"})
        assert resp.status_code == 202, resp.text
    assert sorted(p.delivery_id for p in queued(relay)) == ["d-0", "d-1"]


def test_given_a_standard_webhooks_event_signed_by_the_package_then_its_template_values_are_filled(relay, http):
    # Given an event signed by the standardwebhooks package itself
    body = json.dumps({"type": "order.paid", "data": {"phone": PHONE, "name": "Ana", "total": 9.5}}).encode()
    now = datetime.now(UTC).replace(microsecond=0)
    headers = {
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(STANDARD_SECRET).sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, body.decode()),
    }
    # When posted
    resp = post(http, "test-standard", body, headers)
    # Then queued, with the template's values from the event (a number as JSON writes it)
    assert resp.status_code == 202, resp.text
    [push] = queued(relay)
    assert push.template is not None and push.template.values == ["Ana", "9.5"] and push.application == 8
    assert push.delivery_id == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def test_given_the_generic_scheme_then_verified_over_timestamp_and_body(relay, http):
    body = json.dumps({"event_id": 7, "to": PHONE, "text": "Your table is ready"}).encode()
    t = str(int(time.time()))
    mac = base64.b64encode(hmac.new(GENERIC_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).digest()).decode()
    resp = post(http, "test-generic", body, {"X-Signature": f"v1={mac}", "X-Timestamp": t})
    assert resp.status_code == 202, resp.text
    [push] = queued(relay)
    assert (push.delivery_id, push.message) == ("7", "Your table is ready")


# -- refused: nothing stored ----------------------------------------------------------------------------
def _standard_headers(body: bytes, secret: str = STANDARD_SECRET, t: int | None = None) -> dict[str, str]:
    t = int(time.time()) if t is None else t
    key = base64.b64decode(secret.removeprefix("whsec_"))
    sig = base64.b64encode(hmac.new(key, f"m1.{t}.".encode() + body, hashlib.sha256).digest()).decode()
    return {"webhook-id": "m1", "webhook-timestamp": str(t), "webhook-signature": f"v1,{sig}"}


STD_BODY = json.dumps({"data": {"phone": PHONE, "name": "Ana", "total": 1}}).encode()
BAD = {
    "tampered body": ("test-stripe", stripe_event(amount_due=1), stripe_headers(stripe_event())),
    "wrong secret": ("test-stripe", stripe_event(), stripe_headers(stripe_event(), secret="whsec_other")),
    "stale stripe": ("test-stripe", stripe_event(), stripe_headers(stripe_event(), t=int(time.time()) - 600)),
    "no signature": ("test-stripe", stripe_event(), {"Content-Type": "application/json"}),
    "stale standard": ("test-standard", STD_BODY, _standard_headers(STD_BODY, t=int(time.time()) - 600)),
    "tampered standard": ("test-standard", STD_BODY + b" ", _standard_headers(STD_BODY)),
    "github old secret only": ("test-github", b'{"phone": "1"}', {"X-Hub-Signature-256": "sha256=" + "0" * 64, "X-GitHub-Delivery": "d"}),
}


@pytest.mark.parametrize("case", list(BAD))
def test_given_a_wrong_missing_or_stale_signature_then_401_nothing_stored_and_only_the_route_and_reason_logged(relay, http, caplog, case):
    capture_logs(caplog)
    route, body, headers = BAD[case]
    # When the delivery comes
    resp = post(http, route, body, headers)
    # Then 401, the same answer whatever was wrong
    assert (resp.status_code, resp.json()) == (401, {"message": "Unauthorized"})
    # And nothing stored or queued
    assert items(relay) == [] and queued(relay) == []
    # And the log names the route and the reason class, never the body or a secret
    logs = every_log(caplog)
    refusals = [r for r in caplog.records if r.getMessage() == "webhook refused"]
    assert [r.route for r in refusals] == [route]
    assert refusals[0].reason == ("stale" if case.startswith("stale") else "missing" if case == "no signature" else "mismatch")
    for secret in (STRIPE_SECRET, STANDARD_SECRET, GITHUB_OLD, GITHUB_NEW, "whsec_other"):
        assert secret not in logs
    assert "INV-1042" not in logs and "7700 900123" not in logs and PHONE not in logs


def test_given_a_stripe_event_of_another_type_then_200_ignored_and_stored_nowhere(relay, http):
    body = stripe_event(kind="invoice.paid")
    resp = post(http, "test-stripe", body, stripe_headers(body))
    assert resp.status_code == 200
    assert resp.json() == {"ignored": "the route's condition is not true for this event: body.type == 'invoice.finalized'"}
    assert items(relay) == [] and queued(relay) == []


def test_given_an_event_without_the_customers_phone_then_200_the_recipient_rejected_with_the_reason_and_get_shows_it(relay, http):
    # Given an invoice event without the phone the route maps the number from
    body = stripe_event("evt_nophone", customer_phone=None)
    # When posted
    resp = post(http, "test-stripe", body, stripe_headers(body))
    # Then 200 (not a 4xx: Stripe would retry for days) naming why
    reason = "number: the event has no value at body.data.object.customer_phone"
    assert resp.status_code == 200, resp.text
    push_id = resp.json()["id"]
    assert resp.json() == {"id": push_id, "rejected": [{"number": "", "reason": reason}]}
    # And nothing queued; the ledger has the rejected recipient, where GET /pushes/{id} finds it
    assert queued(relay) == []
    [rejected] = [i for i in items(relay) if i.get("kind") == "recipient"]
    assert rejected["state"] == "rejected" and rejected["reason"] == reason
    status = get_push(http, push_id).json()
    assert [(r["state"], r["reason"]) for r in status["recipients"]] == [("rejected", reason)]
    assert status["counts"] == {"rejected": 1} and "state" not in status
    # And a second arrival gets the same answer and writes nothing new
    before = items(relay)
    again = post(http, "test-stripe", body, stripe_headers(body))
    assert (again.status_code, again.json()) == (200, resp.json())
    assert len(items(relay)) == len(before)


def test_given_a_message_placeholder_the_event_cannot_fill_then_rejected_naming_it(relay, http):
    body = stripe_event("evt_noname", customer_name=None)
    resp = post(http, "test-stripe", body, stripe_headers(body))
    assert resp.status_code == 200
    assert resp.json()["rejected"] == [
        {"number": "+44 7700 900123", "reason": "message: the event has no value for {body.data.object.customer_name}"}
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"id": "evt_1", "type": ', "body is not valid JSON: Expecting value at line 1 column 25"),
        (b"\xff\xfe{}", "body is not UTF-8 text"),
        (b'{"id": "\\ud800"}', "body has text that is not valid Unicode"),
    ],
)
def test_given_a_signed_body_that_is_not_json_then_400_naming_the_body(relay, http, body, says):
    resp = post(http, "test-stripe", body, stripe_headers(body))
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == "body" and resp.json()["message"].startswith(says)
    assert items(relay) == []


def test_given_no_delivery_id_then_400_naming_where_it_was_looked_for(relay, http):
    body = json.dumps({"type": "invoice.finalized", "data": {"object": {"customer_phone": PHONE}}}).encode()
    resp = post(http, "test-stripe", body, stripe_headers(body))
    assert resp.status_code == 400
    assert resp.json() == {"message": "no delivery id in the event: body (body.id)", "field": "body (body.id)"}
    sig = "sha256=" + hmac.new(GITHUB_NEW.encode(), b"{}", hashlib.sha256).hexdigest()
    gh = post(http, "test-github", b"{}", {"X-Hub-Signature-256": sig})
    assert (gh.status_code, gh.json()["field"]) == (400, "headers.X-GitHub-Delivery")
    assert items(relay) == [] and queued(relay) == []


@pytest.mark.parametrize("route", ["nope", "Test-Stripe", "test-stripe.json", "x" * 70, "%2E%2E"])
def test_given_an_unknown_route_then_404(relay, http, route):
    body = stripe_event()
    resp = post(http, route, body, stripe_headers(body))
    assert (resp.status_code, resp.json()) == (404, {"message": "not found"})


def test_given_a_body_over_1_mib_then_413_before_anything_else(relay, http):
    body = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    resp = post(http, "test-stripe", body, stripe_headers(body))
    assert resp.status_code == 413 and items(relay) == []


def test_given_an_accepted_delivery_then_its_logs_carry_no_payload_and_no_secret(relay, http, caplog):
    capture_logs(caplog)
    body = stripe_event("evt_logs")
    assert post(http, "test-stripe", body, stripe_headers(body)).status_code == 202
    logs = every_log(caplog)
    assert "webhook queued" in logs and "test-stripe" in logs
    assert STRIPE_SECRET not in logs and "INV-1042" not in logs and "Ana" not in logs and "900123" not in logs


# -- IAM as deployed, and a failure after the claim --------------------------------------------------------
def test_given_the_api_role_without_send_message_when_a_delivery_fails_to_queue_then_its_retry_queues_it(relay, http):
    from relay_local.dev.iam import Enforcer
    from relay_local.dev.iam_roles import revoke, transformed

    # Given ApiFunction's role without sqs:SendMessage (the deployed role has it on IngestQueue)
    deployed = relay.invoker.iam
    enforcer = Enforcer(relay.stack, doc=revoke(transformed(), "ApiFunction", "sqs:SendMessage"))
    relay.invoker.iam = enforcer
    body = stripe_event("evt_retry")
    # When a delivery comes, Then the send is refused on the IngestQueue and the sender gets a 5xx
    assert post(http, "test-stripe", body, stripe_headers(body)).status_code >= 500
    [denied] = enforcer.denied("ApiFunction", "sqs.SendMessage")
    assert denied.resource.endswith(":" + relay.stack.ref("IngestQueue").rsplit("/", 1)[1])
    assert queued(relay) == []
    # And when the sender retries with the role as deployed, the delivery is queued (not answered as seen)
    relay.invoker.iam = deployed
    again = post(http, "test-stripe", body, stripe_headers(body))
    assert again.status_code == 202, again.text
    assert [p.delivery_id for p in queued(relay)] == ["evt_retry"]


def test_given_the_api_role_without_get_parameter_then_the_route_cannot_verify_and_nothing_is_stored(relay, http):
    from relay_local.dev.iam import Enforcer
    from relay_local.dev.iam_roles import revoke, transformed

    enforcer = Enforcer(relay.stack, doc=revoke(transformed(), "ApiFunction", "ssm:GetParameter"))
    relay.invoker.iam = enforcer
    body = stripe_event()
    resp = post(http, "test-stripe", body, stripe_headers(body))
    assert (resp.status_code, resp.json()) == (500, {"message": "route test-stripe cannot verify deliveries now"})
    [denied] = enforcer.denied("ApiFunction", "ssm.GetParameter")
    assert denied.resource.endswith(":parameter/picky-relay/hooks/test-stripe")
    assert items(relay) == [] and queued(relay) == []


# -- the media fetch's rules, end to end (ApiFunction → IngestQueue → IngestFunction → the real fetcher) --
@pytest.mark.parametrize(
    ("route", "url", "says"),
    [
        ("test-stripe", "https://files.evil.example/invoice.pdf", "files.evil.example"),
        ("test-stripe", "http://pay.stripe.com/invoice/acct_1/inv_1/pdf", "https"),
        ("test-loopback", "https://localhost/invoice.pdf", "address"),
        ("test-loopback", "https://user:pw@pay.stripe.com/invoice.pdf", "user"),
    ],
    ids=["host-not-allowed", "plain-http", "loopback", "userinfo"],
)
def test_given_an_event_whose_media_url_breaks_a_fetch_rule_then_the_recipient_is_rejected_and_nothing_is_fetched_or_sent(
    relay, http, route, url, says
):
    # Given a signed Stripe-shaped event whose invoice_pdf breaks one of the fetch rules
    body = stripe_event(event_id=f"evt_ssrf_{abs(hash(url)) % 10**8}", invoice_pdf=url)
    # When the sender posts it and the relay's queues run
    answer = post(http, route, body, stripe_headers(body))
    assert answer.status_code == 202, answer.text
    push_id = answer.json()["id"]
    assert relay.run_until_idle(timeout=60)
    # Then the recipient is rejected with the rule it broke, nothing is stored under hook-media/,
    # and the vendor got nothing
    [recipient] = http.get(f"/pushes/{push_id}", headers=sign_status(LOCAL_SIGNING_SECRET, push_id)).json()["recipients"]
    assert recipient["state"] == "rejected" and says in recipient["reason"], recipient
    listed = relay.client("s3").list_objects_v2(Bucket=relay.bucket, Prefix="hook-media/")
    assert listed.get("KeyCount", 0) == 0
    assert relay.api.requests == []

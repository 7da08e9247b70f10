"""Sender signatures (relay.hook_verify) against vectors computed here with hashlib/hmac directly (and,
for Standard Webhooks, the package's own `Webhook.sign`): each scheme, tampered body, wrong secret,
stale timestamp, rotated keys, missing and malformed headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from relay.hook_models import HmacSpec, Verify
from relay.hook_verify import Unverified, verify

NOW = 1_780_000_000
BODY = b'{"id": "evt_1", "type": "invoice.finalized", "amount": 950}'
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-secret-32bytes").decode()


def spec(scheme: str, **hmac_spec) -> Verify:
    return Verify(scheme=scheme, secret_parameter="/picky-relay/hooks/x", hmac=HmacSpec(**hmac_spec) if hmac_spec else None)


def check(v: Verify, secrets: str, headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> None:
    verify(v, secrets, {k.lower(): x for k, x in headers.items()}, body, clock=lambda: now)


def reason(v: Verify, secrets: str, headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> str:
    with pytest.raises(Unverified) as caught:
        check(v, secrets, headers, body, now)
    return caught.value.reason


# -- vectors computed independently ---------------------------------------------------------------
def stripe_header(secret: str, body: bytes = BODY, t: int = NOW, extra: str = "") -> dict[str, str]:
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={sig}{extra}"}


def shopify_header(secret: str, body: bytes = BODY) -> dict[str, str]:
    return {"X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()}


def github_header(secret: str, body: bytes = BODY) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def standard_headers(secret: str = STANDARD_SECRET, body: bytes = BODY, t: int = NOW, msg_id: str = "msg_1") -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    sig = base64.b64encode(hmac.new(key, f"{msg_id}.{t}.".encode() + body, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(t), "webhook-signature": f"v1,{sig}"}


# -- stripe -----------------------------------------------------------------------------------------
def test_given_a_stripe_signature_then_verified_with_the_secret_used_as_is():
    check(spec("stripe"), "whsec_abc", stripe_header("whsec_abc"))


def test_given_stripe_with_several_v1_and_a_v0_then_any_matching_v1_is_enough_and_v0_is_ignored():
    good = stripe_header("whsec_abc")["Stripe-Signature"]
    t, v1 = good.split(",")
    check(spec("stripe"), "whsec_abc", {"Stripe-Signature": f"{t},v1={'0' * 64},{v1},v0={'f' * 64}"})
    # a v0 alone (Stripe's test scheme), even one that would match, is not a signature
    v0 = v1.replace("v1=", "v0=")
    assert reason(spec("stripe"), "whsec_abc", {"Stripe-Signature": f"{t},{v0}"}) == "malformed"


@pytest.mark.parametrize(
    ("headers", "body", "secret", "now", "why"),
    [
        (stripe_header("whsec_abc"), BODY + b" ", "whsec_abc", NOW, "mismatch"),
        (stripe_header("whsec_abc"), BODY, "whsec_other", NOW, "mismatch"),
        (stripe_header("abc"), BODY, "whsec_abc", NOW, "mismatch"),  # the prefix is part of the key
        (stripe_header("whsec_abc", t=NOW - 301), BODY, "whsec_abc", NOW, "stale"),
        (stripe_header("whsec_abc", t=NOW + 301), BODY, "whsec_abc", NOW, "stale"),
        ({}, BODY, "whsec_abc", NOW, "missing"),
        ({"Stripe-Signature": "v1=abc"}, BODY, "whsec_abc", NOW, "malformed"),
        ({"Stripe-Signature": "t=soon,v1=abc"}, BODY, "whsec_abc", NOW, "malformed"),
    ],
)
def test_given_a_bad_stripe_delivery_then_refused_with_its_reason_class(headers, body, secret, now, why):
    assert reason(spec("stripe"), secret, headers, body, now) == why


def test_given_stripe_at_the_edge_of_the_tolerance_then_still_verified():
    check(spec("stripe"), "whsec_abc", stripe_header("whsec_abc", t=NOW - 300))


# -- shopify, github ----------------------------------------------------------------------------------
def test_given_shopify_and_github_signatures_then_verified_and_tampering_refused():
    check(spec("shopify"), "shpss_1", shopify_header("shpss_1"))
    check(spec("github"), "gh-secret", github_header("gh-secret"))
    assert reason(spec("shopify"), "shpss_1", shopify_header("shpss_1"), BODY.replace(b"950", b"951")) == "mismatch"
    assert reason(spec("github"), "gh-secret", github_header("gh-secret"), BODY[:-1]) == "mismatch"
    assert reason(spec("github"), "wrong", github_header("gh-secret")) == "mismatch"
    assert reason(spec("shopify"), "shpss_1", {"X-Shopify-Hmac-Sha256": "not base64!"}) == "malformed"
    assert reason(spec("github"), "gh-secret", {"X-Hub-Signature-256": "sha1=abc"}) == "malformed"
    assert reason(spec("github"), "gh-secret", {}) == "missing"


# -- rotation ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scheme", "headers"),
    [
        ("stripe", stripe_header("new-secret")),
        ("shopify", shopify_header("new-secret")),
        ("github", github_header("new-secret")),
    ],
)
def test_given_two_secrets_in_the_parameter_during_a_rotation_then_the_second_is_accepted(scheme, headers):
    check(spec(scheme), "old-secret\nnew-secret\n", headers)
    assert reason(spec(scheme), "old-secret", headers) == "mismatch"


def test_given_an_empty_parameter_then_nothing_verifies():
    assert reason(spec("github"), "\n \n", github_header("")) == "no secret"


# -- standard webhooks -------------------------------------------------------------------------------
def test_given_standard_webhooks_signed_by_the_packages_own_sign_then_verified():
    # Given headers the package itself signs (its own clock: now)
    now = datetime.now(UTC).replace(microsecond=0)
    signature = Webhook(STANDARD_SECRET).sign("msg_p", now, BODY.decode())
    headers = {"webhook-id": "msg_p", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
    # Then our verifier accepts them
    check(spec("standard-webhooks"), STANDARD_SECRET, headers, now=now.timestamp())


def test_given_standard_webhooks_computed_here_then_verified_and_each_fault_refused():
    now = int(datetime.now(UTC).timestamp())  # the package checks the tolerance on its own clock too
    v = spec("standard-webhooks")
    check(v, STANDARD_SECRET, standard_headers(t=now), now=now)
    # several signatures in the header (a sender rotating): any v1 matching is enough
    h = standard_headers(t=now)
    h["webhook-signature"] = f"v1,{base64.b64encode(b'x' * 32).decode()} {h['webhook-signature']}"
    check(v, STANDARD_SECRET, h, now=now)
    assert reason(v, STANDARD_SECRET, standard_headers(t=now), BODY + b"\n", now=now) == "mismatch"
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret-32").decode()
    assert reason(v, other, standard_headers(t=now), now=now) == "mismatch"
    assert reason(v, STANDARD_SECRET, standard_headers(t=now - 301), now=now) == "stale"
    assert reason(v, STANDARD_SECRET, {**standard_headers(t=now), "webhook-id": "msg_2"}, now=now) == "mismatch"
    assert reason(v, STANDARD_SECRET, {"webhook-id": "m", "webhook-timestamp": str(now)}, now=now) == "missing"
    assert reason(v, STANDARD_SECRET, {**standard_headers(t=now), "webhook-signature": "garbage"}, now=now) == "mismatch"
    # rotation: the new secret on the second line
    check(v, f"{other}\n{STANDARD_SECRET}", standard_headers(t=now), now=now)


def test_given_a_standard_webhooks_body_that_is_not_utf8_then_refused_not_raised():
    now = int(datetime.now(UTC).timestamp())
    assert reason(spec("standard-webhooks"), STANDARD_SECRET, standard_headers(t=now, body=b"\xff"), b"\xff", now=now) == "mismatch"


# -- generic hmac-sha256 ------------------------------------------------------------------------------
def test_given_the_generic_scheme_over_timestamp_and_body_in_base64_then_verified_and_faults_refused():
    v = spec("hmac-sha256", header="X-Signature", prefix="v1=", encoding="base64", signed="timestamp.body", timestamp_header="X-Timestamp")

    def headers(secret: str, t: int = NOW, body: bytes = BODY) -> dict[str, str]:
        mac = base64.b64encode(hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).digest()).decode()
        return {"X-Signature": f"v1={mac}", "X-Timestamp": str(t)}

    check(v, "g-secret", headers("g-secret"))
    check(v, "old\ng-secret", headers("g-secret"))
    assert reason(v, "g-secret", headers("g-secret", t=NOW - 400)) == "stale"
    assert reason(v, "g-secret", headers("g-secret"), BODY + b"x") == "mismatch"
    assert reason(v, "g-secret", {**headers("g-secret"), "X-Timestamp": str(NOW + 1)}) == "mismatch"
    assert reason(v, "g-secret", {"X-Signature": headers("g-secret")["X-Signature"]}) == "missing"
    assert reason(v, "g-secret", {**headers("g-secret"), "X-Signature": "v2=abc"}) == "malformed"


def test_given_the_generic_scheme_over_the_body_in_hex_then_verified():
    v = spec("hmac-sha256", header="X-Sig", encoding="hex")
    check(v, "k", {"X-Sig": hmac.new(b"k", BODY, hashlib.sha256).hexdigest().upper()})
    assert reason(v, "k", {"X-Sig": hmac.new(b"j", BODY, hashlib.sha256).hexdigest()}) == "mismatch"

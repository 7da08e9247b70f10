"""`relay sign-hook` (relay_local/ops/sign_hook.py): each scheme's signature checked by a computation
of its own here (hashlib/hmac, and the standardwebhooks package for Standard Webhooks), made now, over
the body exactly as it was."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shlex
import time
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from relay.hook_models import Route
from relay_local.cli import main
from relay_local.dev.hooks_local import LOCAL_HOOK_SECRETS, load_route, local_hook_secret
from relay_local.ops.sign_hook import body_bytes, resign_hook

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> dict:
    return json.loads((EVENTS / f"hook-{name}.json").read_text())


def header(event: dict, name: str) -> str:
    found = [v for k, v in event["headers"].items() if k.lower() == name.lower()]
    assert len(found) == 1, (name, event["headers"])
    assert event["multiValueHeaders"][next(k for k in event["headers"] if k.lower() == name.lower())] == found
    return found[0]


def hmac256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def signed_now(name: str, **kwargs) -> tuple[dict, dict, int, int]:
    original = sample(name)
    before = int(time.time())
    event = resign_hook(original, name, load_route(name), LOCAL_HOOK_SECRETS[name], **kwargs)
    return original, event, before, int(time.time())


def test_given_the_stripe_sample_when_signed_then_stripe_signature_is_hex_hmac_of_t_dot_body_now():
    # Given the Stripe sample (its signature long stale); When it is signed again
    original, event, before, after = signed_now("stripe-invoice")
    # Then Stripe-Signature is t=<now>,v1=<hex HMAC-SHA256 of "<t>.<body>"> under the secret as is (whsec_ included)
    parts = dict(p.split("=", 1) for p in header(event, "Stripe-Signature").split(","))
    assert set(parts) == {"t", "v1"}
    t = int(parts["t"])
    assert before <= t <= after
    body = body_bytes(event)
    assert body == body_bytes(original)  # byte for byte
    secret = LOCAL_HOOK_SECRETS["stripe-invoice"]
    assert secret.startswith("whsec_")
    assert hmac.compare_digest(parts["v1"], hmac256(secret.encode(), f"{t}.".encode() + body).hex())
    # everything else is kept: the route, the other headers
    assert event["pathParameters"] == {"route": "stripe-invoice"} and event["path"] == "/hooks/stripe-invoice"
    assert header(event, "Content-Type") == header(original, "Content-Type")


def test_given_the_standard_sample_when_signed_then_the_standardwebhooks_package_verifies_it_and_so_does_hmac():
    original, event, before, after = signed_now("standard")
    body = body_bytes(event)
    assert body == body_bytes(original)
    secret = LOCAL_HOOK_SECRETS["standard"]
    # Then the package's own verifier accepts it (it checks the 5-minute tolerance too)
    Webhook(secret).verify(body, event["headers"])
    # and so does a computation of our own: base64 HMAC of "<id>.<timestamp>.<body>" under the decoded key
    msg_id, ts = header(event, "webhook-id"), header(event, "webhook-timestamp")
    assert msg_id == header(original, "webhook-id")  # the delivery id is kept: a resend is a duplicate
    assert before <= int(ts) <= after
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac256(key, f"{msg_id}.{ts}.".encode() + body)).decode()
    assert header(event, "webhook-signature") == f"v1,{expected}"


def test_given_the_shopify_sample_when_signed_then_x_shopify_hmac_is_base64_hmac_of_the_body_and_topic_and_id_are_kept():
    original, event, _, _ = signed_now("shopify-fulfilled")
    body = body_bytes(event)
    assert body == body_bytes(original)
    secret = LOCAL_HOOK_SECRETS["shopify-fulfilled"].encode()
    assert header(event, "X-Shopify-Hmac-Sha256") == base64.b64encode(hmac256(secret, body)).decode()
    assert header(event, "X-Shopify-Topic") == "orders/fulfilled"
    assert header(event, "X-Shopify-Webhook-Id") == header(original, "X-Shopify-Webhook-Id")


def test_given_a_github_route_and_a_raw_body_when_signed_then_an_event_is_built_with_sha256_hex_and_a_delivery_id():
    # Given a GitHub route (delivery id in X-GitHub-Delivery) and a raw body
    route = Route.model_validate(
        {
            "verify": {"scheme": "github", "secret_parameter": "/picky-relay/hooks/gh"},
            "delivery_id": {"header": "X-GitHub-Delivery"},
            "push": {"number": "body.phone"},
        }
    )
    body = b'{"action": "published", "phone": "447700900123"}'
    # When it is signed
    event = resign_hook({"body": body.decode()}, "gh", route, "gh-secret")
    # Then it is a POST /hooks/gh proxy event, signed sha256=<hex> over the body, with a delivery id made up
    assert (event["httpMethod"], event["resource"], event["pathParameters"]) == ("POST", "/hooks/{route}", {"route": "gh"})
    assert body_bytes(event) == body
    assert header(event, "X-Hub-Signature-256") == "sha256=" + hmac256(b"gh-secret", body).hex()
    assert len(header(event, "X-GitHub-Delivery")) == 36


@pytest.mark.parametrize(("encoding", "signed"), [("hex", "body"), ("base64", "timestamp.body")])
def test_given_a_generic_hmac_route_when_signed_then_its_header_prefix_encoding_and_timestamp_are_honoured(encoding, signed):
    spec = {"header": "X-Signature", "prefix": "sha256=", "encoding": encoding, "signed": signed}
    if signed == "timestamp.body":
        spec["timestamp_header"] = "X-Timestamp"
    route = Route.model_validate(
        {
            "verify": {"scheme": "hmac-sha256", "secret_parameter": "/picky-relay/hooks/x", "hmac": spec},
            "delivery_id": {"expression": "body.id"},
            "push": {"number": "body.phone"},
        }
    )
    body = '{"id": "d-1", "phone": "447700900123"}'
    event = resign_hook({"body": body, "httpMethod": "POST", "headers": {"x-signature": "stale"}}, "x", route, "k", now=1795000000)
    data = (b"1795000000." if signed == "timestamp.body" else b"") + body.encode()
    digest = hmac256(b"k", data)
    assert header(event, "X-Signature") == "sha256=" + (digest.hex() if encoding == "hex" else base64.b64encode(digest).decode())
    assert signed == "body" or header(event, "X-Timestamp") == "1795000000"


def test_given_an_event_with_a_stale_signature_in_other_case_then_it_is_replaced_not_doubled():
    original = sample("stripe-invoice")
    stale = {**original, "headers": {**original["headers"], "stripe-signature": "t=1,v1=00"}}
    event = resign_hook(stale, "stripe-invoice", load_route("stripe-invoice"), LOCAL_HOOK_SECRETS["stripe-invoice"])
    assert not header(event, "Stripe-Signature").startswith("t=1,")


def test_given_a_rotated_secret_when_signed_then_the_first_line_the_new_secret_signs():
    original = sample("shopify-fulfilled")
    event = resign_hook(original, "shopify-fulfilled", load_route("shopify-fulfilled"), "new-secret\nold-secret\n")
    assert header(event, "X-Shopify-Hmac-Sha256") == base64.b64encode(hmac256(b"new-secret", body_bytes(original))).decode()


def test_given_a_new_route_file_then_its_local_secret_is_derived_in_its_schemes_shape():
    route = Route.model_validate(
        {
            "verify": {"scheme": "standard-webhooks", "secret_parameter": "/x"},
            "delivery_id": {"header": "webhook-id"},
            "push": {"number": "body.n"},
        }
    )
    Webhook(local_hook_secret("someone-elses", route))  # a valid whsec_ secret: base64 that decodes


def test_given_the_cli_when_sign_hook_runs_on_a_sample_then_the_route_comes_from_the_event_and_it_verifies(capsys):
    # When `relay sign-hook events/hook-standard.json` runs (no --route: the event names it)
    assert main(["sign-hook", str(EVENTS / "hook-standard.json")]) == 0
    event = json.loads(capsys.readouterr().out)
    # Then the package verifies what it printed
    Webhook(LOCAL_HOOK_SECRETS["standard"]).verify(body_bytes(event), event["headers"])


def test_given_curl_when_sign_hook_runs_then_a_curl_command_posts_the_body_file_byte_for_byte_with_the_signature(capsys, tmp_path):
    body_file = tmp_path / "body"
    code = main(
        [
            "sign-hook",
            str(EVENTS / "hook-stripe-invoice.json"),
            "--route",
            "stripe-invoice",
            "--curl",
            "http://127.0.0.1:3000/hooks/stripe-invoice",
            "--body-out",
            str(body_file),
        ]
    )
    assert code == 0
    words = shlex.split(capsys.readouterr().out)
    assert words[:5] == ["curl", "-sS", "-X", "POST", "http://127.0.0.1:3000/hooks/stripe-invoice"]
    assert words[-2:] == ["--data-binary", f"@{body_file}"]
    headers = dict(w.split(": ", 1) for w in words[words.index("-H") : -2] if w != "-H")
    assert "Host" not in headers and "Content-Type" in headers
    body = body_file.read_bytes()
    assert body == body_bytes(sample("stripe-invoice"))
    parts = dict(p.split("=", 1) for p in headers["Stripe-Signature"].split(","))
    assert parts["v1"] == hmac256(LOCAL_HOOK_SECRETS["stripe-invoice"].encode(), f"{parts['t']}.".encode() + body).hex()


def test_given_a_raw_body_file_and_headers_when_sign_hook_runs_then_the_event_carries_them(capsys, tmp_path):
    raw = tmp_path / "order.json"
    raw.write_bytes(body_bytes(sample("shopify-fulfilled")))
    assert main(["sign-hook", str(raw), "--route", "shopify-fulfilled", "--header", "X-Shopify-Topic: orders/fulfilled"]) == 0
    event = json.loads(capsys.readouterr().out)
    assert header(event, "X-Shopify-Topic") == "orders/fulfilled"
    assert body_bytes(event) == raw.read_bytes()
    assert header(event, "X-Shopify-Webhook-Id")  # made up: a raw body has none


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["missing.json", "--route", "standard"], "no event or body file"),
        (["hook-standard.json", "--route", "nope"], "no route 'nope' in functions/routes/"),
        (["hook-standard.json", "--header", "no-colon"], "--header takes 'Name: value'"),
    ],
)
def test_given_bad_input_when_sign_hook_runs_then_one_clear_line_and_exit_2(capsys, argv, says):
    assert main(["sign-hook", str(EVENTS / argv[0]), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_given_a_hook_sample_when_relay_invoke_reads_it_then_it_is_signed_now_and_other_events_are_left_alone():
    from relay_local.dev.hooks_local import resign_if_hook

    # Given the Stripe sample (stale) and a /pushes event
    original = sample("stripe-invoice")
    before = int(time.time())
    # When relay invoke's re-signing looks at each
    event = resign_if_hook(original)
    # Then the hook is signed now with its route's local secret, the other is not a hook
    assert event is not None
    t = int(dict(p.split("=", 1) for p in header(event, "Stripe-Signature").split(","))["t"])
    assert t >= before > int(dict(p.split("=", 1) for p in header(original, "Stripe-Signature").split(","))["t"])
    assert resign_if_hook(json.loads((EVENTS / "api-post-pushes.json").read_text())) is None


@pytest.mark.parametrize(
    ("route", "lasts"),
    [("stripe-invoice", "good for 5 minutes"), ("standard", "good for 5 minutes"), ("shopify-fulfilled", "as long as the body")],
)
def test_given_curl_when_sign_hook_runs_then_it_says_how_long_the_signature_lasts_for_the_routes_scheme(capsys, tmp_path, route, lasts):
    # Given a route whose scheme signs a timestamp (Stripe, Standard Webhooks) or only the body (Shopify)
    event = {
        "stripe-invoice": "hook-stripe-invoice.json",
        "standard": "hook-standard.json",
        "shopify-fulfilled": "hook-shopify-fulfilled.json",
    }
    # When signed for curl
    code = main(
        ["sign-hook", str(EVENTS / event[route]), "--route", route, "--curl", "http://x/hooks/r", "--body-out", str(tmp_path / "b")]
    )
    # Then what it says of the signature's life is true for that scheme
    assert code == 0 and lasts in capsys.readouterr().err

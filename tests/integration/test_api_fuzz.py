"""No 5xx for any malformed input: property-based fuzz of the HTTP API over real HTTP.

Request bodies for POST /pushes are generated from docs/openapi.json (`#/components/schemas/
PushRequest`, refs resolved, list sizes and string lengths capped so bodies stay small); the
rest from plain hypothesis strategies (arbitrary JSON and bytes, vendor-like events, header and
path garbage). Everything goes through one local API server (relay_local.dev.serve.ApiServer, i.e.
the `sam local start-api` stand-in) backed by the embedded AWS, with no background sending.

What the fuzz found once (5xx) is pinned by the regression tests at the end.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from relay.api_models import PushAccepted, PushStatus
from relay.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, sign_status, signature
from relay_local.dev.serve import ApiServer
from relay_local.dev.session import LOCAL_EVENTS_SECRET, LOCAL_SIGNING_SECRET, LocalRelay

pytestmark = [
    pytest.mark.integration,
    # Powertools warns on every multipart body that is not base64-encoded (the fuzz sends many)
    pytest.mark.filterwarnings("ignore:Received multipart/form-data without base64 encoding:UserWarning"),
]

OPENAPI = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
PUSH_ID = re.compile(r"^[0-9a-f]{24}$")
MAX_ITEMS = 5
MAX_STRING = 80
UNAUTHORIZED = {"message": "Unauthorized"}
EXISTING_NUMBER = "447700900123"
EXISTING_REFERENCE = "fz-ref-1"
#: POST /hooks/{route}: the test routes (tests/fixtures/routes) and their secrets
HOOK_ROUTES = Path(__file__).resolve().parents[1] / "fixtures" / "routes"
HOOK_SECRETS = {"test-stripe": "whsec_fuzz_stripe", "test-shopify": "fuzz-shopify", "test-generic": "fuzz-generic"}


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Api(SimpleNamespace):
    def __repr__(self) -> str:  # keeps hypothesis' failure reports short
        return f"Api({self.client.base_url})"


# -- the server -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(embedded_aws) -> Iterator[Api]:
    env = {"RETRY_BASE_SECONDS": "0", "POWERTOOLS_LOG_LEVEL": "ERROR", "HOOK_ROUTES_DIR": str(HOOK_ROUTES)}
    relay = LocalRelay(stack_name=f"fz{uuid.uuid4().hex[:8]}", env=env)
    relay.start(aws=embedded_aws)
    server = None
    try:
        # the test routes' secrets (POST /hooks/{route}), as SSM SecureStrings
        for route, secret in HOOK_SECRETS.items():
            relay.client("ssm").put_parameter(Name=f"/picky-relay/hooks/{route}", Value=secret, Type="SecureString", Overwrite=True)
        server = ApiServer(relay, pump=False).start()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            ns = Api(relay=relay, client=client)
            # one push in the ledger: GET finds it, events may name its reference and number
            body = json.dumps({"message": "hi", "recipients": [{"number": EXISTING_NUMBER, "reference": EXISTING_REFERENCE}]}).encode()
            created = signed_post(ns, body)
            assert created.status_code == 202, created.text
            ns.existing_id = created.json()["id"]
            yield ns
    finally:
        if server is not None:
            server.stop()
        relay.stop()


def signed_post(
    api: Api, body: bytes, content_type: str | None = "application/json", extra: dict[str, bytes] | None = None
) -> httpx.Response:
    headers: dict[str, Any] = dict(sign(LOCAL_SIGNING_SECRET, body))
    if content_type is not None:
        headers["Content-Type"] = content_type
    headers.update(extra or {})
    return api.client.post("/pushes", content=body, headers=headers)


def post_event(api: Api, body: bytes, secret: str = LOCAL_EVENTS_SECRET) -> httpx.Response:
    return api.client.post(f"/events/{quote(secret, safe='')}", content=body, headers={"Content-Type": "application/json"})


def check(response: httpx.Response, allowed: set[int], sent: Any) -> None:
    """`response.status_code` is one of `allowed` (never a 5xx)."""
    event(str(response.status_code))
    assert response.status_code in allowed, f"{response.status_code} {response.text[:300]!r} for {sent!r:.600}"


# -- strategies from the OpenAPI document ------------------------------------------------------------
# (hypothesis-jsonschema 0.23.1, the latest, uses a Hypothesis internal that hypothesis 6.170 no longer
# has; the subset of JSON Schema pydantic emits for these models is small, so it is mapped here.)
def _bounded(node: Any) -> Any:
    """The schema with arrays capped at MAX_ITEMS and strings at MAX_STRING characters."""
    if isinstance(node, list):
        return [_bounded(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _bounded(v) for k, v in node.items()}
    if out.get("type") == "array":
        out["maxItems"] = min(out.get("maxItems", MAX_ITEMS), MAX_ITEMS)
    if out.get("type") == "string" and "enum" not in out and "format" not in out:
        out["maxLength"] = max(min(out.get("maxLength", MAX_STRING), MAX_STRING), out.get("minLength", 0))
    return out


COMPONENTS = _bounded(copy.deepcopy(OPENAPI["components"]))


def _date_times() -> st.SearchStrategy[str]:
    """RFC 3339 date-times: anywhere in the calendar, or within a few days of now (the 7-day rules)."""
    offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
    anywhere = st.builds(lambda d, tz: d.replace(tzinfo=tz), st.datetimes(), offsets)
    soon = st.builds(
        lambda s, tz: datetime.now(UTC).astimezone(tz) + timedelta(seconds=s),
        st.integers(min_value=-9 * 86400, max_value=9 * 86400),
        offsets,
    )
    return (anywhere | soon).map(datetime.isoformat)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against `schema` (the keywords pydantic's OpenAPI output uses)."""
    if "$ref" in schema:
        prefix = "#/components/schemas/"
        assert schema["$ref"].startswith(prefix), schema["$ref"]
        name = schema["$ref"][len(prefix) :]
        return st.deferred(lambda: from_schema(COMPONENTS["schemas"][name]))
    if "anyOf" in schema:
        return st.one_of([from_schema(s) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.integers(min_value=None if low is None else math.ceil(low), max_value=None if high is None else math.floor(high))
    if kind == "number":
        return st.floats(min_value=schema.get("minimum"), max_value=schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "string":
        if schema.get("format") == "date-time":
            return _date_times()
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda v: low <= len(v) <= (high or len(v)))
        return st.text(min_size=low, max_size=high)
    if kind == "array":
        return st.lists(from_schema(schema["items"]), min_size=schema.get("minItems", 0), max_size=schema.get("maxItems"))
    if kind == "object":
        assert schema.get("additionalProperties") is False, "only closed objects are mapped"
        props = {k: from_schema(v) for k, v in schema.get("properties", {}).items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: v for k, v in props.items() if k in required}, optional={k: v for k, v in props.items() if k not in required}
        )
    raise NotImplementedError(f"schema keyword set not mapped: {schema}")


push_requests = from_schema({"$ref": "#/components/schemas/PushRequest"})

#: numbers at the edges of what JSON, Python and DynamoDB (±1E-130 … ±9.99E+125, 38 digits) take
edge_numbers = st.sampled_from([0, -0.0, 2**53 + 1, 2**63, 10**38 + 1, 10**126, 1e125, 1e126, 1e300, 5e-324, 1e-130, 1e-131])
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | edge_numbers | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "application/octet-stream",
    ]
)
#: header values as an HTTP client may send them: printable latin-1, no CR/LF
header_text = st.text(st.characters(codec="latin-1", exclude_categories=["Cc", "Zs"]), min_size=1, max_size=60)

# -- what the vendor's Event Webhook might send: plausible entries, and every field of a random type
#: any JSON scalar; deferred so that `x | loose` draws from `loose` half the time, not 5 times in 6
loose = st.deferred(lambda: json_scalars)
digits = st.integers(min_value=0, max_value=10**15).map(str)
statuses = st.integers(min_value=0, max_value=5) | st.sampled_from([-1, 6, 99, "1", " 3 ", 2.0])
plausible_entries = st.fixed_dictionaries(
    {"status": statuses},
    optional={
        "msg_id": digits | st.integers(min_value=0, max_value=10**12),
        "push_id": digits | st.integers(min_value=0, max_value=10**12),
        "number": st.sampled_from([EXISTING_NUMBER, "+44 7700 900123"]) | digits,
        "reference_number": st.sampled_from([EXISTING_REFERENCE]) | st.text(max_size=20),
        "error_code": st.none() | digits | st.text(max_size=10),
        "error_message": st.none() | st.text(max_size=30),
    },
)
#: every field of a random type (most such entries are refused: 422)
loose_entries = st.fixed_dictionaries(
    {},
    optional={
        k: loose for k in ("status", "msg_id", "push_id", "number", "reference_number", "error_code", "error_message", "message_type")
    },
)
vendor_events = st.fixed_dictionaries(
    {"event_id": st.sampled_from([1, 1, 1, 2, 3, "1", " 1 "]) | loose},
    optional={
        "project_id": digits | loose,
        # fields newer accounts add are kept (stored as they came)
        "meta": st.dictionaries(st.text(max_size=8), json_scalars, max_size=3) | json_values,
        "data": st.lists(plausible_entries, max_size=4)
        | st.lists(plausible_entries | loose_entries | json_values, max_size=3)
        | plausible_entries
        | loose,
    },
)


# -- 1. bodies from the PushRequest schema, signed ----------------------------------------------------
@fuzz(200)
@given(push=push_requests)
def test_given_a_schema_valid_signed_push_then_it_is_planned_or_refused_never_5xx(api, push):
    body = json.dumps(push).encode()
    r = signed_post(api, body)
    check(r, {202, 409, 413, 422}, push)
    if r.status_code == 202:
        accepted = PushAccepted.model_validate_json(r.content)
        assert PUSH_ID.match(accepted.id)
        assert accepted.recipients + len(accepted.rejected) >= 1
    elif r.status_code < 500:
        assert r.json()  # an error body, JSON


# -- 2. anything, signed -------------------------------------------------------------------------------
@fuzz(150)
@given(value=json_values, content_type=content_types)
def test_given_arbitrary_signed_json_then_no_5xx(api, value, content_type):
    body = json.dumps(value).encode()
    r = signed_post(api, body, content_type)
    check(r, {202, 409, 413, 415, 422}, (value, content_type))


@fuzz(150)
@given(body=st.binary(max_size=300) | st.text(max_size=100).map(str.encode), content_type=content_types)
def test_given_arbitrary_signed_bytes_then_no_5xx(api, body, content_type):
    r = signed_post(api, body, content_type)
    check(r, {202, 409, 413, 415, 422}, (body, content_type))


# -- 3. signature variants ------------------------------------------------------------------------------
def _bad_signatures(body: bytes) -> st.SearchStrategy[dict[str, bytes]]:
    now = time.time()
    good = sign(LOCAL_SIGNING_SECRET, body, now)
    ts = good[TIMESTAMP_HEADER]
    enc = lambda headers: {k: v.encode("latin-1") for k, v in headers.items()}  # noqa: E731 - a one-line helper inside the test
    return st.one_of(
        st.just({}),
        st.just(enc({TIMESTAMP_HEADER: ts})),
        st.just(enc({SIGNATURE_HEADER: good[SIGNATURE_HEADER]})),
        # wrong secret
        st.text(max_size=30)
        .filter(lambda s: s != LOCAL_SIGNING_SECRET)
        .map(lambda secret: enc({TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: signature(secret, ts, body)})),
        # right secret, another body
        st.binary(max_size=50).filter(lambda other: other != body).map(lambda other: enc(sign(LOCAL_SIGNING_SECRET, other, now))),
        # right secret and body, stale or future timestamp
        st.one_of(st.integers(min_value=400, max_value=10**10), st.integers(min_value=-(10**10), max_value=-400)).map(
            lambda skew: enc(sign(LOCAL_SIGNING_SECRET, body, now + skew))
        ),
        # right mac, timestamp written another way
        st.sampled_from([f"{ts}.0", f"+{ts}", f"0x{int(ts):x}", f"{ts}e0", "0" * 13 + ts]).map(
            lambda other: enc({TIMESTAMP_HEADER: other, SIGNATURE_HEADER: signature(LOCAL_SIGNING_SECRET, other, body)})
        ),
        # right timestamp, mangled signature
        st.sampled_from(
            [
                good[SIGNATURE_HEADER].removeprefix("sha256="),
                good[SIGNATURE_HEADER][:-1],
                "sha1=" + good[SIGNATURE_HEADER][7:],
                good[SIGNATURE_HEADER] + "0",
                "sha256=",
            ]
        ).map(lambda sig: enc({TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sig})),
        # garbage
        st.fixed_dictionaries({}, optional={TIMESTAMP_HEADER: header_text, SIGNATURE_HEADER: header_text}).map(enc),
    )


@fuzz(150)
@given(
    data=st.data(),
    body=st.sampled_from([b'{"recipients":[{"number":"447700900123"}],"message":"hi"}', b"", b"{}"])
    | st.binary(max_size=200)
    | push_requests.map(lambda p: json.dumps(p).encode()),
)
def test_given_a_missing_wrong_or_stale_signature_then_401_that_echoes_nothing(api, data, body):
    headers = data.draw(_bad_signatures(body), label="headers")
    r = api.client.post("/pushes", content=body, headers={"Content-Type": "application/json", **headers})
    assert r.status_code == 401, (r.status_code, r.text[:300], headers)
    assert r.json() == UNAUTHORIZED


# -- 4. GET /pushes/{id} ---------------------------------------------------------------------------------
@fuzz(150)
@given(data=st.data())
def test_given_any_push_id_signed_then_200_or_404_and_unsigned_401_never_5xx(api, data):
    raw = data.draw(
        st.one_of(
            st.text(max_size=40),
            st.text(alphabet="0123456789abcdef", min_size=24, max_size=24),
            st.text(alphabet="0123456789abcdefABCDEF/.%", max_size=30),
            st.sampled_from([api.existing_id, api.existing_id.upper(), api.existing_id + "/", "..", ".", "%2F", "a/b"]),
        ),
        label="id",
    )
    keep_slashes = data.draw(st.booleans(), label="keep slashes")
    # the path as httpx sends it: it removes dot segments ("/pushes/0/." goes as "/pushes/0")
    path = httpx.URL("http://relay/pushes/" + quote(raw, safe="/" if keep_slashes else "")).raw_path.decode()
    segment = path.removeprefix("/pushes/")
    # signed over the id as it appears in the path (relay.signing)
    r = api.client.get(path, headers=sign_status(LOCAL_SIGNING_SECRET, segment))
    event(str(r.status_code))
    # 403: no route matched (API Gateway's "Missing Authentication Token"), e.g. "/pushes/" or "/pushes/a/b"
    assert r.status_code in {200, 403, 404}, (path, r.status_code, r.text[:300])
    if r.status_code == 200:
        status = PushStatus.model_validate_json(r.content)
        assert status.id == segment == api.existing_id
    # and unsigned, or signed for the existing push's id instead, it is 401 (or 403: no route), never 200 or 404
    if segment != api.existing_id:
        other = data.draw(st.sampled_from([{}, sign_status(LOCAL_SIGNING_SECRET, api.existing_id)]), label="other headers")
        refused = api.client.get(path, headers=other)
        assert refused.status_code in {401, 403}, (path, refused.status_code)
        if refused.status_code == 401:
            assert refused.json() == UNAUTHORIZED


# -- 5. POST /events/{secret} ---------------------------------------------------------------------------
@fuzz(300)
@given(body=vendor_events.map(lambda v: json.dumps(v).encode()))
def test_given_a_vendor_like_event_with_the_events_secret_then_200_or_422_never_5xx(api, body):
    r = post_event(api, body)
    check(r, {200, 422}, body)
    if r.status_code == 200:
        assert set(r.json()) == {"received", "updated", "unchanged", "unmatched", "ignored"}


@fuzz(150)
@given(body=json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200))
def test_given_any_body_with_the_events_secret_then_200_or_422_never_5xx(api, body):
    r = post_event(api, body)
    check(r, {200, 422}, body)


@fuzz(60)
@given(
    secret=st.text(min_size=1, max_size=40).filter(lambda s: s not in (LOCAL_EVENTS_SECRET, ".", "..")),
    body=vendor_events.map(lambda v: json.dumps(v).encode()),
)
def test_given_a_wrong_events_secret_then_404(api, secret, body):
    r = post_event(api, body, secret)
    assert r.status_code == 404, (secret, r.status_code, r.text[:300])
    assert r.json() == {"message": "not found"}


# -- 5b. POST /inbound/{secret} (the vendor's Global Webhook) -------------------------------------------
inbound_messages = st.fixed_dictionaries(
    {"number": st.sampled_from([EXISTING_NUMBER, "+44 7700 900123", "963587413"]) | digits | loose},
    optional={
        "application": st.sampled_from(["8", 8, "1", 101, ""]) | loose,
        "unique-id": digits | st.integers(min_value=0, max_value=10**12) | loose,
        "project-id": digits | loose,
        "direction": st.sampled_from([0, 1, "0", "1"]) | loose,
        "type": st.sampled_from(["1", 2, 9]) | loose,
        "name": st.text(max_size=120) | loose,
        "message-in": st.text(max_size=40) | loose,
        "message_in_raw": st.text(max_size=40) | loose,
        "media-url": st.text(max_size=40) | loose,
        "context-msg-id": digits | loose,
        "payload": json_values,
        "contact": json_values,
    },
)


def post_inbound(api: Api, body: bytes, secret: str = LOCAL_EVENTS_SECRET) -> httpx.Response:
    return api.client.post(f"/inbound/{quote(secret, safe='')}", content=body, headers={"Content-Type": "application/json"})


@fuzz(200)
@given(body=inbound_messages.map(lambda v: json.dumps(v).encode()))
def test_given_a_vendor_like_incoming_message_then_200_or_422_never_5xx_and_never_a_reply(api, body):
    r = post_inbound(api, body)
    check(r, {200, 422}, body)
    if r.status_code == 200:
        assert set(r.json()) <= {"recorded", "reason"}
    else:
        assert r.json()["field"]


@fuzz(100)
@given(body=json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200))
def test_given_any_body_with_the_inbound_secret_then_200_or_422_never_5xx(api, body):
    check(post_inbound(api, body), {200, 422}, body)


# -- 6. Idempotency-Key values ---------------------------------------------------------------------------
@fuzz(100)
@given(
    key=st.one_of(
        st.just(""),
        # (HTTP drops a header value's leading and trailing blanks: a client cannot send them)
        st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=40).map(lambda k: k.strip(" \t")),
        st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=250, max_size=2000).map(lambda k: k.strip(" \t")),
        st.sampled_from(["k", "x" * 255, "x" * 256, "é" * 128, "重复", "../../etc", "a" * 8000]),
    ),
    message=st.sampled_from(["hi", "hello", "caption"]),
)
def test_given_any_idempotency_key_on_a_signed_push_then_no_5xx(api, key, message):
    body = json.dumps({"message": message, "recipients": [{"number": "447700900123"}]}).encode()
    r = signed_post(api, body, extra={"Idempotency-Key": key.encode("utf-8")})
    check(r, {202, 409, 422}, key)
    if r.status_code == 202:
        assert PUSH_ID.match(r.json()["id"])


# -- 7. POST /hooks/{route} -------------------------------------------------------------------------------
def stripe_signed(body: bytes, t: int | None = None) -> dict[str, str]:
    t = int(time.time()) if t is None else t
    mac = hmac.new(HOOK_SECRETS["test-stripe"].encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


def shopify_signed(body: bytes, topic: str = "orders/fulfilled", delivery: str = "d-1") -> dict[str, str]:
    mac = base64.b64encode(hmac.new(HOOK_SECRETS["test-shopify"].encode(), body, hashlib.sha256).digest()).decode()
    return {"X-Shopify-Hmac-Sha256": mac, "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": delivery}


def post_hook(api: Api, route: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return api.client.post(f"/hooks/{route}", content=body, headers={k: v.encode("latin-1") for k, v in headers.items()})


#: Stripe-like events: the fields the test route reads, each plausible or of any JSON type
stripe_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["invoice.finalized", "invoice.finalized", "invoice.paid"]) | loose},
    optional={
        "id": st.text(min_size=1, max_size=30) | loose | st.text(min_size=201, max_size=300),
        "data": st.fixed_dictionaries(
            {},
            optional={
                "object": st.fixed_dictionaries(
                    {},
                    optional={
                        "customer_phone": st.sampled_from(["+44 7700 900123", "0", ""]) | json_values,
                        "customer_name": st.text(max_size=20) | json_values,
                        "number": st.text(max_size=20) | json_values,
                        "invoice_pdf": st.sampled_from(["https://pay.stripe.com/i/1/pdf", "http://10.0.0.1/x"]) | json_values,
                    },
                )
                | json_values
            },
        )
        | json_values,
    },
)
shopify_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=20) | json_values,
        "shipping_address": st.fixed_dictionaries({}, optional={"phone": digits | json_values}) | json_values,
    },
)


@fuzz(120)
@given(event=stripe_like)
def test_given_a_signed_stripe_like_event_then_queued_ignored_or_rejected_never_5xx(api, event):
    body = json.dumps(event).encode()
    r = post_hook(api, "test-stripe", body, stripe_signed(body))
    check(r, {200, 202, 400}, event)
    answer = r.json()
    if r.status_code == 202:
        assert PUSH_ID.match(answer["id"]) and set(answer) == {"id"}
    elif r.status_code == 200:
        assert set(answer) in ({"ignored"}, {"id", "rejected"})
    else:
        assert answer["field"]  # 400 names the body or the delivery id


@fuzz(80)
@given(event=shopify_like, topic=st.sampled_from(["orders/fulfilled", "orders/create"]) | header_text, delivery=header_text)
def test_given_a_signed_shopify_like_event_then_never_5xx(api, event, topic, delivery):
    body = json.dumps(event).encode()
    r = post_hook(api, "test-shopify", body, shopify_signed(body, topic, delivery))
    check(r, {200, 202, 400}, (event, topic, delivery))


@fuzz(100)
@given(body=json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200))
def test_given_any_signed_body_on_a_hook_route_then_no_5xx(api, body):
    check(post_hook(api, "test-stripe", body, stripe_signed(body)), {200, 202, 400}, body)


@fuzz(100)
@given(
    route=st.sampled_from(["test-stripe", "test-shopify", "test-generic"]) | st.text(min_size=1, max_size=80),
    body=st.binary(max_size=200),
    headers=st.dictionaries(
        st.sampled_from(["Stripe-Signature", "X-Shopify-Hmac-Sha256", "X-Signature", "X-Timestamp", "X-Shopify-Webhook-Id"]),
        header_text,
        max_size=4,
    ),
)
def test_given_any_route_and_unsigned_or_garbage_signed_body_then_401_or_404_that_echoes_nothing(api, route, body, headers):
    r = post_hook(api, quote(route, safe=""), body, headers)
    check(r, {401, 404}, (route, headers))
    assert r.json() in (UNAUTHORIZED, {"message": "not found"})


# -- what the fuzz once found as 5xx, now answered properly (regressions) -----------------------------
def _recipient(**fields: Any) -> dict[str, Any]:
    return {"recipients": [{"number": "447700900123", "message": "hi", **fields}]}


def test_given_a_signed_body_that_is_not_utf8_then_422(api):
    assert signed_post(api, b"\xff").status_code == 422


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary=xyz", "text/plain"])
def test_given_a_signed_body_that_is_not_json_content_then_415(api, content_type):
    assert signed_post(api, "Ā".encode(), content_type).status_code == 415


def test_given_a_media_url_that_cannot_be_parsed_then_that_recipient_is_rejected(api):
    r = signed_post(api, json.dumps(_recipient(media={"url": "https://[x/a.pdf"})).encode())
    assert r.status_code == 202 and "not a valid URL" in r.json()["rejected"][0]["reason"]


def test_given_a_lone_surrogate_in_a_string_then_422(api):
    assert signed_post(api, b'{"recipients":[{"number":"447700900123","message":"\\ud800"}]}').status_code == 422


def test_given_a_recipient_number_over_64_characters_then_422_naming_it(api):
    r = signed_post(api, json.dumps({"message": "hi", "recipients": [{"number": "1" * 2100}]}).encode())
    assert r.status_code == 422 and "recipients.0.number" in r.text


def test_given_an_event_with_a_number_dynamodb_cannot_hold_then_it_is_kept_as_text(api):
    assert post_event(api, b'{"event_id": 2, "x": 1e300}').status_code == 200


def test_given_an_unmatched_event_with_a_very_long_msg_id_then_it_is_kept(api):
    body = json.dumps({"event_id": 1, "data": [{"status": 1, "msg_id": "m" * 2100}]}).encode()
    r = post_event(api, body)
    assert r.status_code == 200 and r.json()["unmatched"] == 1


def test_given_an_event_over_256_kib_then_413(api):
    assert post_event(api, json.dumps({"event_id": 2, "x": "a" * 450_000}).encode()).status_code == 413


@pytest.mark.parametrize("path", ["/pushes", "/events/" + LOCAL_EVENTS_SECRET, "/inbound/" + LOCAL_EVENTS_SECRET])
def test_given_json_nested_deeper_than_python_parses_then_422(api, path):
    body = b"[" * 100_000 + b"]" * 100_000
    r = signed_post(api, body) if path == "/pushes" else api.client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_given_a_hook_event_whose_types_make_a_jmespath_function_fail_then_the_recipient_is_rejected(api):
    # join() over a number: JMESPath raises; the event decides, so it is a gap, not a 500
    body = json.dumps({"name": 1001, "shipping_address": {"phone": "447700900123"}}).encode()
    r = post_hook(api, "test-shopify", body, shopify_signed(body, delivery="jmespath-type"))
    assert r.status_code == 200, r.text
    assert r.json()["rejected"][0]["reason"].startswith("media_key: the event has no value")


def test_given_a_hook_event_with_a_huge_number_then_the_answer_and_ledger_keep_it_bounded(api):
    body = json.dumps({"type": "invoice.finalized", "id": "evt_huge", "data": {"object": {"customer_phone": "1" * 300_000}}}).encode()
    r = post_hook(api, "test-stripe", body, stripe_signed(body))
    assert r.status_code == 200, r.text
    [rejected] = r.json()["rejected"]
    assert len(rejected["number"]) <= 200 and rejected["reason"].startswith("message: the event has no value")


def test_given_a_hook_event_with_characters_sqs_refuses_then_it_is_queued(api):
    body = json.dumps({"event_id": "e-fffe", "to": "447700900123", "text": "odd \ufffe \uffff \u0000 end"}).encode()
    t = str(int(time.time()))
    mac = base64.b64encode(hmac.new(HOOK_SECRETS["test-generic"].encode(), f"{t}.".encode() + body, hashlib.sha256).digest()).decode()
    r = post_hook(api, "test-generic", body, {"X-Signature": f"v1={mac}", "X-Timestamp": t})
    assert r.status_code == 202, r.text
    # and every message on the IngestQueue holds only characters SQS takes (the embedded SQS does not
    # check: "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF", SendMessage)
    sqs, url = api.relay.client("sqs"), api.relay.stack.ref("IngestQueue")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in messages]
    assert any("e-fffe" in b for b in bodies)
    assert all(re.fullmatch("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*", b) for b in bodies)

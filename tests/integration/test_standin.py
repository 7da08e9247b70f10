"""The Push API stand-in, exercised over real loopback HTTP (httpx sync client)."""

from __future__ import annotations

import http.client
import json
import logging
import time

import httpx
import pytest

from relay_local.dev.ports import free_port
from relay_local.dev.standin import FAULT_KINDS, Answer, Faults, PushApiStandIn
from tests.integration.conftest import STANDIN_TOKEN

pytestmark = pytest.mark.integration

TOKEN = STANDIN_TOKEN


def push_body(*numbers: object, token: str = TOKEN, application: object = "8", **extra: object) -> dict:
    body: dict = {
        "token": token,
        "application": application,
        "globalmessage": "Hello",
        "globalmedia": "https://media.example/cat.jpg",
        "data": [{"number": n, "message": ""} for n in numbers] if numbers else [],
    }
    body.update(extra)
    return body


def post_push(client: httpx.Client, body: object, path: str = "/api/v2/push") -> httpx.Response:
    return client.post(path, json=body)


# -- success -----------------------------------------------------------------------------------


def test_success_returns_string_ids_one_entry_per_recipient_in_order(standin, client):
    # Given a stand-in with default (string) ids
    # When two pushes with three and one recipients are sent
    first = post_push(client, push_body("5511987654321", 447700900123, "4915112345678"))
    second = post_push(client, push_body("61412345678"))

    # Then both succeed with the vendor's shape
    assert first.status_code == 200 and second.status_code == 200
    a, b = first.json(), second.json()
    assert a["status"] == 100 and a["message"] == "Success"
    assert [row["number"] for row in a["data"]] == ["5511987654321", 447700900123, "4915112345678"]
    assert all(row["credit"] == "0.005" for row in a["data"])
    # And ids are strings, distinct and increasing
    ids = [a["push_id"], *(r["msg_id"] for r in a["data"]), b["push_id"], *(r["msg_id"] for r in b["data"])]
    assert all(isinstance(i, str) for i in ids)
    as_ints = [int(i) for i in ids]
    assert as_ints == sorted(as_ints) and len(set(as_ints)) == len(as_ints)
    assert standin.url == f"{standin.base_url}/api/v2/push"


def test_success_with_int_ids_and_old_account_path():
    # Given a stand-in that answers ids as integers
    with PushApiStandIn(port=free_port(), token=TOKEN, int_ids=True) as api, httpx.Client(base_url=api.base_url) as c:
        # When pushing on the older-account path
        r1 = post_push(c, push_body("5511987654321", "447700900123"), path="/app/api/v2/push")
        r2 = post_push(c, push_body("5511987654321"))

    # Then ids are ints, distinct and increasing, one row per recipient in order
    b1, b2 = r1.json(), r2.json()
    assert b1["status"] == 100 and b2["status"] == 100
    assert [row["number"] for row in b1["data"]] == ["5511987654321", "447700900123"]
    ids = [b1["push_id"], *(r["msg_id"] for r in b1["data"]), b2["push_id"], b2["data"][0]["msg_id"]]
    assert all(type(i) is int for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [r.path for r in api.requests] == ["/app/api/v2/push", "/api/v2/push"]


def test_keep_alive_connection_serves_many_requests_quickly(standin):
    # Given one persistent HTTP/1.1 connection
    conn = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=2)
    payload = json.dumps(push_body("5511987654321"))
    sockets = set()
    started = time.perf_counter()
    try:
        # When 40 pushes go over it back to back
        for _ in range(40):
            conn.request("POST", "/api/v2/push", body=payload, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            # Then each answer is complete (Content-Length framing) and the connection stays open
            assert resp.status == 200
            assert int(resp.getheader("Content-Length")) > 0
            assert json.loads(resp.read())["status"] == 100
            assert resp.getheader("Connection", "").lower() != "close"
            sockets.add(id(conn.sock))
    finally:
        conn.close()
    # And there is no ~40 ms Nagle/delayed-ACK stall per request
    assert time.perf_counter() - started < 1.0
    assert len(sockets) == 1
    assert len(standin.requests) == 40


# -- vendor validation -------------------------------------------------------------------------


def test_bad_token_is_401_and_no_token_is_echoed(standin, client, caplog):
    caplog.set_level(logging.DEBUG, logger="relay.standin")
    wrong = "wrong-token-0xDEADBEEF"
    # Given a wrong token, then a missing token, then the right one
    r_wrong = post_push(client, push_body("5511987654321", token=wrong))
    no_token = push_body("5511987654321")
    del no_token["token"]
    r_missing = post_push(client, no_token)
    r_ok = post_push(client, push_body("5511987654321"))

    # Then wrong and missing tokens are refused the vendor way
    assert r_wrong.status_code == 200
    assert r_wrong.json() == {"status": 401, "message": "Authentication failed"}
    assert r_missing.json() == {"status": 401, "message": "Authentication failed"}
    assert r_ok.json()["status"] == 100
    # And no token ever appears in a response, the control listing or a log line
    listing = client.get("/_requests").text
    for text in (r_wrong.text, r_missing.text, r_ok.text, listing, caplog.text, repr(standin)):
        assert wrong not in text and TOKEN not in text
    assert caplog.records, "the stand-in logs at DEBUG"


def test_non_json_or_non_object_body_is_410(client):
    r1 = client.post("/api/v2/push", content=b"not json", headers={"Content-Type": "application/json"})
    r2 = post_push(client, ["a", "list"])
    assert r1.status_code == 200 and r1.json() == {"status": 410, "message": "Invalid request"}
    assert r2.json() == {"status": 410, "message": "Invalid request"}


def test_missing_application_is_410(client):
    body = push_body("5511987654321")
    del body["application"]
    r = post_push(client, body)
    assert r.json()["status"] == 410


@pytest.mark.parametrize("data", [None, []], ids=["missing", "empty"])
def test_empty_number_list_is_402(client, data):
    body = push_body()
    if data is None:
        del body["data"]
    r = post_push(client, body)
    assert r.status_code == 200
    assert r.json() == {"status": 402, "message": "Empty number list"}


@pytest.mark.parametrize(
    "bad",
    ["+5511987654321", "05511987654321", "1234567", "1234567890123456", "55 11 98765 4321", True, None, 5.5],
    ids=["plus", "leading-0", "too-short", "too-long", "spaces", "bool", "null", "float"],
)
def test_invalid_number_rejects_whole_request_406(standin, client, bad):
    # Given one good and one bad number in the same request
    r = post_push(client, push_body("5511987654321", bad))
    # Then the whole request is refused
    assert r.json() == {"status": 406, "message": "Invalid mobile number"}
    assert standin.requests[-1].response_body == {"status": 406, "message": "Invalid mobile number"}


def test_number_bounds_accepted(client):
    r = post_push(client, push_body("12345678", "123456789012345", 12345678))
    assert r.json()["status"] == 100


def test_message_required_without_media_407(client):
    # Given no media and no global message
    body = push_body("5511987654321", "447700900123", globalmessage="")
    del body["globalmedia"]
    body["data"][0]["message"] = "hi"  # only one of two recipients has a message
    # Then it is refused
    assert post_push(client, body).json() == {"status": 407, "message": "Message cannot be empty"}
    # When every recipient has a message, or a global message is set, it passes
    body["data"][1]["message"] = "hello"
    assert post_push(client, body).json()["status"] == 100
    body2 = push_body("5511987654321", globalmessage="Caption for all")
    del body2["globalmedia"]
    assert post_push(client, body2).json()["status"] == 100
    # And media alone (no text) is fine
    assert post_push(client, push_body("5511987654321", globalmessage="")).json()["status"] == 100


def test_dynamic_media_only_on_whatsapp_official(client):
    # Given per-recipient media
    def dynamic(application: object, key: str = "media") -> dict:
        body = push_body(application=application, globalmessage="")
        del body["globalmedia"]
        body["data"] = [
            {"number": "5511987654321", "message": "one", key: "https://m.example/1.jpg"},
            {"number": "447700900123", "message": "two", key: "https://m.example/2.jpg"},
        ]
        return body

    # When sent on WhatsApp Personal (1), as string or int, with media or media_code
    for app, key in (("1", "media"), (1, "media_code"), ("10", "media")):
        r = post_push(client, dynamic(app, key)).json()
        # Then the vendor rule refuses it
        assert r["status"] == 410
        assert "dynamic media" in r["message"] and "WhatsApp Official" in r["message"]
    # When sent on WhatsApp Official (8), it is accepted
    assert post_push(client, dynamic("8")).json()["status"] == 100
    assert post_push(client, dynamic(8, "media_code")).json()["status"] == 100


def test_dynamic_channels_are_configurable():
    with PushApiStandIn(port=free_port(), token=TOKEN, dynamic_channels={8, 121}) as api, httpx.Client(base_url=api.base_url) as c:
        body = push_body(application="121")
        body["data"] = [{"number": "5511987654321", "message": "x", "media": "https://m.example/1.jpg"}]
        assert post_push(c, body).json()["status"] == 100


# -- scripting ---------------------------------------------------------------------------------


def test_scripted_answers_are_consumed_in_order_then_normal_resumes(standin, client):
    # Given a script: vendor 101, HTTP 500, HTTP 429, a vendor 403 on HTTP 200, a raw body
    standin.script(
        Answer(vendor_status=101),
        Answer(http_status=500),
        Answer(http_status=429),
        Answer(vendor_status=403),
        Answer(body="<html>oops</html>", http_status=502),
        Answer(vendor_status=999),
    )
    good = push_body("5511987654321")

    # When seven pushes are sent
    responses = [post_push(client, good) for _ in range(7)]

    # Then each scripted answer is used once, in order
    r101, r500, r429, r403, r502, r999, normal = responses
    assert (r101.status_code, r101.json()) == (200, {"status": 101, "message": "Service unavailable"})
    assert r500.status_code == 500 and r500.text.startswith("500")
    assert r429.status_code == 429 and r429.json() == {"status": 429, "message": "Rate limit exceeded"}
    assert (r403.status_code, r403.json()) == (200, {"status": 403, "message": "Insufficient balance"})
    assert r502.status_code == 502 and r502.text == "<html>oops</html>"
    assert r999.json() == {"status": 999, "message": "Error"}
    # And then the normal answer resumes
    assert normal.status_code == 200 and normal.json()["status"] == 100
    # And scripted answers are recorded too
    recorded = standin.requests
    assert [r.response_status for r in recorded] == [200, 500, 429, 200, 502, 200, 200]
    assert recorded[0].response_body == {"status": 101, "message": "Service unavailable"}
    assert recorded[1].response_body is None  # text body
    assert all(r.body == good for r in recorded)


def test_scripted_delay_makes_client_time_out_then_normal(standin, client):
    # Given a slow scripted answer, then a slightly slow normal one
    standin.script(Answer(delay=0.5), Answer(delay=0.15))
    body = push_body("5511987654321")

    # When the client gives up after 0.1 s
    with pytest.raises(httpx.ReadTimeout):
        client.post("/api/v2/push", json=body, timeout=0.1)
    # Then the request is still recorded (the vendor did receive it)
    assert len(standin.requests) == 1

    # When the next request waits long enough
    started = time.perf_counter()
    r = client.post("/api/v2/push", json=body, timeout=1.0)
    elapsed = time.perf_counter() - started
    # Then it is answered normally after the delay
    assert r.json()["status"] == 100 and elapsed >= 0.15
    # And with the script used up, answers are fast again
    started = time.perf_counter()
    assert post_push(client, body).json()["status"] == 100
    assert time.perf_counter() - started < 0.1


def test_scripted_body_dict_overrides_everything(standin, client):
    standin.script(Answer(body={"status": 100, "push_id": None, "data": []}))
    r = post_push(client, push_body("5511987654321", token="wrong"))
    assert r.json() == {"status": 100, "push_id": None, "data": []}


def test_requests_recorded_in_order_with_bodies_and_masking(standin, client):
    # Given three pushes with different recipients
    bodies = [push_body(n) for n in ("5511987654321", "447700900123", "4915112345678")]
    before = time.time()
    for b in bodies:
        post_push(client, b)

    # Then they are recorded in order with the bodies as sent (token included: test memory)
    recorded = standin.requests
    assert [r.body for r in recorded] == bodies
    assert all(r.path == "/api/v2/push" and r.response_status == 200 for r in recorded)
    assert all(json.loads(r.raw) == b for r, b in zip(recorded, bodies, strict=False))
    assert all(before <= r.at <= time.time() for r in recorded)
    assert [r.at for r in recorded] == sorted(r.at for r in recorded)
    assert {k.lower(): v for k, v in recorded[0].headers.items()}["content-type"] == "application/json"
    assert not any(r.over_limit for r in recorded)
    # And body_without_token masks a copy only
    masked = recorded[0].body_without_token()
    assert masked["token"] == "***" and masked["data"] == bodies[0]["data"]
    assert recorded[0].body["token"] == TOKEN
    # And `requests` is a copy
    standin.requests.clear()
    assert len(standin.requests) == 3


def test_reset_forgets_requests_and_script(standin, client):
    standin.script(Answer(vendor_status=101))
    post_push(client, push_body("5511987654321", "447700900123"))
    standin.script(Answer(vendor_status=403))
    standin.reset()
    assert standin.requests == []
    assert post_push(client, push_body("5511987654321")).json()["status"] == 100


# -- control endpoints -------------------------------------------------------------------------


def test_control_endpoints_over_http(standin, client):
    # Given a script queued over HTTP
    r = client.post("/_script", json=[{"vendor_status": 403}, {"http_status": 503}])
    assert r.status_code == 200 and r.json()["queued"] == 2
    good = push_body("5511987654321")

    # When pushes are sent
    first, second, third = (post_push(client, good) for _ in range(3))
    # Then the HTTP-scripted answers are used in order
    assert first.json() == {"status": 403, "message": "Insufficient balance"}
    assert second.status_code == 503
    assert third.json()["status"] == 100

    # And GET /_requests lists them with the token masked and no raw bytes
    listing = client.get("/_requests")
    assert listing.status_code == 200
    items = listing.json()
    assert [i["response_status"] for i in items] == [200, 503, 200]
    assert all(i["body"]["token"] == "***" for i in items)
    assert TOKEN not in listing.text
    assert {"path", "headers", "body", "at", "response_status", "response_body", "over_limit"} <= set(items[0])

    # And control calls are not recorded as push requests
    assert len(standin.requests) == 3

    # When reset over HTTP
    assert client.post("/_reset").status_code == 200
    # Then everything is forgotten
    assert client.get("/_requests").json() == []


def test_control_bad_script_and_unknown_paths(client):
    bad = client.post("/_script", json=[{"http_status": 500, "nope": 1}])
    assert bad.status_code == 400 and "nope" in bad.json()["message"]
    assert client.post("/_script", content=b"{").status_code == 400
    missing = client.get("/does-not-exist")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert client.post("/api/v3/push", json={}).status_code == 404
    assert client.get("/api/v2/push").status_code == 405


# -- rate limit --------------------------------------------------------------------------------


def test_rate_limit_with_compressed_clock():
    # Given 5 requests/minute and a 60x clock: a 1 s window
    with (
        PushApiStandIn(port=free_port(), token=TOKEN, rate_limit_per_minute=5, clock_scale=60) as api,
        httpx.Client(base_url=api.base_url, timeout=2.0) as c,
    ):
        body = push_body("5511987654321")
        started = time.monotonic()
        # When 8 are sent quickly
        responses = [post_push(c, body) for _ in range(8)]
        assert time.monotonic() - started < 0.5, "burst must fit in the window"

        # Then exactly 3 are dropped with the vendor's 429
        over = [r for r in api.requests if r.over_limit]
        assert len(over) == 3
        assert [r.status_code for r in responses] == [200] * 5 + [429] * 3
        assert responses[-1].json() == {"status": 429, "message": "Rate limit exceeded"}
        assert all(r.response_status == 429 for r in over)
        assert len(api.requests) == 8

        # When the window has passed
        time.sleep(max(0.0, 1.05 - (time.monotonic() - started)))
        # Then a new request succeeds
        again = post_push(c, body)
        assert again.status_code == 200 and again.json()["status"] == 100
        assert api.requests[-1].over_limit is False


# -- concurrency and latency -------------------------------------------------------------------


def test_concurrent_pushes_get_distinct_ids_and_are_all_recorded(standin):
    from concurrent.futures import ThreadPoolExecutor

    # Given 8 clients pushing at once
    def one(i: int) -> dict:
        with httpx.Client(base_url=standin.base_url, timeout=2.0) as c:
            return post_push(c, push_body(f"55119876543{i:02d}")).json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, range(24)))

    # Then every push succeeds with its own ids, and every request is recorded once
    assert all(a["status"] == 100 for a in answers)
    ids = [a["push_id"] for a in answers] + [a["data"][0]["msg_id"] for a in answers]
    assert len(set(ids)) == len(ids)
    assert sorted(r.body["data"][0]["number"] for r in standin.requests) == sorted(f"55119876543{i:02d}" for i in range(24))


def test_latency_applies_to_every_push():
    with PushApiStandIn(port=free_port(), token=TOKEN, latency=0.1) as api, httpx.Client(base_url=api.base_url) as c:
        started = time.perf_counter()
        assert post_push(c, push_body("5511987654321")).json()["status"] == 100
        assert time.perf_counter() - started >= 0.1


# -- random faults -----------------------------------------------------------------------------


def faulty(faults: Faults, **options: object) -> PushApiStandIn:
    return PushApiStandIn(port=free_port(), token=TOKEN, faults=faults, **options)


def test_fault_http_500_is_not_processed():
    # Given every push fails with HTTP 500
    with faulty(Faults(http_500=1.0, seed=1)) as api, httpx.Client(base_url=api.base_url, timeout=2.0) as c:
        # When pushing (even with a wrong token: faults that do not process do not validate)
        r = post_push(c, push_body("5511987654321"))
        bad = post_push(c, push_body("5511987654321", token="wrong"))
        # Then HTTP 500, recorded as that fault, nothing accepted
        assert r.status_code == 500 and bad.status_code == 500 and r.text.startswith("500")
        assert [(q.fault, q.accepted, q.response_status) for q in api.requests] == [("http_500", False, 500)] * 2
        assert api.accepted_entries == []
        assert api.stats()["http_500"] == 2 and api.stats()["accepted_requests"] == 0


def test_fault_http_429_and_vendor_101_are_not_processed():
    with faulty(Faults(http_429=1.0, seed=1)) as api, httpx.Client(base_url=api.base_url, timeout=2.0) as c:
        r = post_push(c, push_body("5511987654321"))
        assert (r.status_code, r.json()) == (429, {"status": 429, "message": "Rate limit exceeded"})
        [q] = api.requests
        assert (q.fault, q.accepted, q.over_limit) == ("http_429", False, False)

        # When switched to vendor 101 at run time
        api.set_faults(Faults(vendor_101=1.0, seed=1))
        r = post_push(c, push_body("5511987654321"))
        assert (r.status_code, r.json()) == (200, {"status": 101, "message": "Service unavailable"})
        assert (api.requests[-1].fault, api.requests[-1].accepted) == ("vendor_101", False)
        assert api.accepted_entries == []
        stats = api.stats()
        assert (stats["http_429"], stats["vendor_101"], stats["accepted_requests"]) == (1, 1, 0)

        # When faults are switched off, the next push is normal again
        api.set_faults(None)
        assert post_push(c, push_body("5511987654321")).json()["status"] == 100
        assert api.requests[-1].fault is None and api.requests[-1].accepted


def test_fault_timeout_before_accept_hangs_then_504_and_is_not_processed():
    faults = Faults(timeout=1.0, timeout_after_accept=0.0, hang_seconds=0.5, seed=1)
    with faulty(faults) as api, httpx.Client(base_url=api.base_url) as c:
        # When the client gives up after 0.2 s
        started = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            c.post("/api/v2/push", json=push_body("5511987654321"), timeout=0.2)
        assert time.perf_counter() - started < 0.45
        # Then the request is recorded as a plain timeout, not accepted, with the 504 it would get
        [q] = api.requests
        assert (q.fault, q.accepted, q.response_status) == ("timeout", False, 504)
        assert api.accepted_entries == [] and api.stats()["timeout"] == 1

        # And a patient client gets the 504 after hang_seconds
        started = time.perf_counter()
        r = c.post("/api/v2/push", json=push_body("5511987654321"), timeout=2.0)
        assert r.status_code == 504 and time.perf_counter() - started >= 0.5


def test_fault_timeout_after_accept_processes_then_hangs():
    faults = Faults(timeout=1.0, timeout_after_accept=1.0, hang_seconds=0.5, seed=1)
    with faulty(faults) as api, httpx.Client(base_url=api.base_url) as c:
        body = push_body("5511987654321", "447700900123")
        body["data"][0]["reference_number"] = "ref-1"
        # When the client gives up after 0.2 s
        with pytest.raises(httpx.ReadTimeout):
            c.post("/api/v2/push", json=body, timeout=0.2)
        # Then the vendor did accept it: entries as sent (no token), ids assigned
        assert api.accepted_entries == body["data"]
        assert all("token" not in e and TOKEN not in json.dumps(e) for e in api.accepted_entries)
        [q] = api.requests
        assert (q.fault, q.accepted, q.response_body["status"]) == ("timeout_after_accept", True, 100)
        hung_push_id = int(q.response_body["push_id"])
        assert [int(row["msg_id"]) for row in q.response_body["data"]] == [hung_push_id + 1, hung_push_id + 2]
        stats = api.stats()
        assert (stats["timeout_after_accept"], stats["accepted_requests"], stats["accepted_entries"]) == (1, 1, 2)

        # And the ids were consumed: the next push gets the following ones
        api.set_faults(None)
        r = post_push(c, push_body("5511987654321"))
        assert int(r.json()["push_id"]) == hung_push_id + 3


def test_fault_timeout_after_accept_still_validates():
    faults = Faults(timeout=1.0, timeout_after_accept=1.0, hang_seconds=0.1, seed=1)
    with faulty(faults) as api, httpx.Client(base_url=api.base_url, timeout=2.0) as c:
        r = post_push(c, push_body("5511987654321", token="wrong"))
        assert r.json() == {"status": 401, "message": "Authentication failed"}
        [q] = api.requests
        assert (q.fault, q.accepted) == ("timeout_after_accept", False)
        assert api.accepted_entries == []


def run_mixed(faults: Faults, n: int = 200) -> tuple[list[str | None], dict[str, int], PushApiStandIn]:
    api = faulty(faults)
    with api, httpx.Client(base_url=api.base_url, timeout=0.1) as c:
        for i in range(n):
            body = push_body(f"55119876{i:05d}", f"44770090{i:04d}")
            for j, entry in enumerate(body["data"]):
                entry["reference_number"] = f"r{i}-{j}"
            try:
                post_push(c, body)
            except httpx.ReadTimeout:
                pass
    return [r.fault for r in api.requests], api.stats(), api


def test_mixed_faults_are_near_expectation_and_reproducible():
    faults = Faults(http_500=0.05, timeout=0.02, http_429=0.01, vendor_101=0.03, hang_seconds=0.3, seed=7)
    from concurrent.futures import ThreadPoolExecutor

    # When two identical runs go at once (each sequential, on its own stand-in; seed 7 happens to
    # draw 10 timeouts, each costing the 0.1 s client timeout)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        (kinds, stats, api), (kinds_again, stats_again, _) = pool.map(lambda _: run_mixed(faults), range(2))
    assert time.perf_counter() - started < 2.0

    # Then the fault counts are near 200 x p (loose bounds)
    assert stats["requests"] == 200 and stats["over_limit"] == 0
    assert 2 <= stats["http_500"] <= 22
    assert 0 <= stats["timeout"] + stats["timeout_after_accept"] <= 12
    assert 0 <= stats["http_429"] <= 8
    assert 0 <= stats["vendor_101"] <= 15
    faulted = sum(stats[k] for k in FAULT_KINDS)
    assert 8 <= faulted <= 45
    # And the same seed gives the same run
    assert kinds == kinds_again and stats == stats_again
    # And accepted_entries is exactly the data of the accepted requests, in order
    accepted = [r for r in api.requests if r.accepted]
    assert len(accepted) == stats["accepted_requests"] == 200 - faulted + stats["timeout_after_accept"]
    assert api.accepted_entries == [e for r in accepted for e in r.body["data"]]
    assert stats["accepted_entries"] == len(api.accepted_entries) == 2 * len(accepted)
    assert all(r.fault in (None, "timeout_after_accept") for r in accepted)


def test_other_seed_gives_another_run():
    faults = Faults(http_500=0.3, vendor_101=0.3, seed=1)
    kinds, _, _ = run_mixed(faults, n=40)
    faults.seed = 2
    other, _, _ = run_mixed(faults, n=40)
    assert kinds != other


def test_scripted_answers_win_over_faults_and_take_no_draw():
    with faulty(Faults(http_500=1.0, seed=3)) as api, httpx.Client(base_url=api.base_url, timeout=2.0) as c:
        api.script(Answer(vendor_status=403), Answer())
        first, second, third = (post_push(c, push_body("5511987654321")) for _ in range(3))
        assert first.json() == {"status": 403, "message": "Insufficient balance"}
        assert second.json()["status"] == 100  # a scripted normal answer is processed, no fault
        assert third.status_code == 500
        assert [(r.fault, r.accepted) for r in api.requests] == [(None, False), (None, True), ("http_500", False)]


def test_rate_limit_drops_happen_before_faults():
    # Given 2 requests per (1 s) window and every push faulted with vendor 101
    with (
        faulty(Faults(vendor_101=1.0, seed=3), rate_limit_per_minute=2, clock_scale=60) as api,
        httpx.Client(base_url=api.base_url, timeout=2.0) as c,
    ):
        responses = [post_push(c, push_body("5511987654321")) for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 429, 429]
        assert [(r.fault, r.over_limit) for r in api.requests] == [("vendor_101", False)] * 2 + [(None, True)] * 2
        stats = api.stats()
        assert (stats["over_limit"], stats["vendor_101"], stats["http_429"]) == (2, 2, 0)


def test_hanging_answer_does_not_block_other_requests():
    faults = Faults(timeout=1.0, timeout_after_accept=1.0, hang_seconds=1.5, seed=1)
    with faulty(faults) as api, httpx.Client(base_url=api.base_url) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post("/api/v2/push", json=push_body("5511987654321"), timeout=0.1)
        # While that answer still hangs, others are answered at once
        api.set_faults(None)
        started = time.perf_counter()
        assert post_push(c, push_body("447700900123")).json()["status"] == 100
        assert c.get("/_requests").status_code == 200
        assert time.perf_counter() - started < 0.3
        assert len(api.accepted_entries) == 2


@pytest.mark.parametrize("after_accept", [0.0, 1.0])
def test_stop_returns_promptly_while_an_answer_hangs(after_accept):
    import threading

    api = faulty(Faults(timeout=1.0, timeout_after_accept=after_accept, hang_seconds=10, seed=1)).start()
    outcome: list[object] = []

    def push() -> None:
        try:
            with httpx.Client(base_url=api.base_url, timeout=5.0) as c:
                outcome.append(post_push(c, push_body("5511987654321")))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=push)
    caller.start()
    deadline = time.monotonic() + 1.0
    while not api.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(api.requests) == 1  # the answer is now hanging

    started = time.perf_counter()
    api.stop()
    assert time.perf_counter() - started < 1.0
    caller.join(timeout=1.0)
    assert not caller.is_alive()
    assert outcome and isinstance(outcome[0], httpx.HTTPError)  # the hung answer was dropped


def test_faults_are_validated_and_shown_in_the_public_listing():
    with pytest.raises(ValueError):
        Faults(http_500=0.6, vendor_101=0.6).validate()
    with pytest.raises(ValueError):
        PushApiStandIn(faults=Faults(timeout=-0.1))
    with pytest.raises(ValueError):
        PushApiStandIn(faults=Faults(hang_seconds=-1))
    with faulty(Faults(vendor_101=1.0, seed=1)) as api, httpx.Client(base_url=api.base_url, timeout=2.0) as c:
        post_push(c, push_body("5511987654321"))
        [item] = c.get("/_requests").json()
        assert (item["fault"], item["accepted"]) == ("vendor_101", False)
        assert api.faults == Faults(vendor_101=1.0, seed=1)
        # reset forgets the recorded requests, so the stats start over
        api.reset()
        assert api.stats() == {
            "requests": 0,
            "accepted_requests": 0,
            "accepted_entries": 0,
            "over_limit": 0,
            **{k: 0 for k in FAULT_KINDS},
        }

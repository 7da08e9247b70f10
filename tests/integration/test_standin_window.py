"""The stand-in's WhatsApp 24-hour window over real loopback HTTP: inbound messages it records and
posts to the relay (the vendor's Global Webhook body), free-form messages to numbers outside the
window accepted and then failed by a 131047 delivery report, and that report reaching the relay's
ledger through the relay's own API (`LocalRelay.serve_api`)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from relay.ledger import Ledger
from relay_local.dev.ledger_reads import scan_all
from relay_local.dev.ports import free_port
from relay_local.dev.session import LOCAL_EVENTS_SECRET, LOCAL_TOKEN
from relay_local.dev.standin import PushApiStandIn
from tests.integration.conftest import STANDIN_TOKEN

pytestmark = pytest.mark.integration

TOKEN = STANDIN_TOKEN
SECRET = "events-secret-5e1"
INSIDE, OUTSIDE, NEVER = "447700900301", "447700900302", "447700900303"


class Receiver:
    """A tiny HTTP server on loopback that records every POST (path, JSON body) and answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.path, json.loads(raw)))
                payload = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.httpd.shutdown()
    r.httpd.server_close()


@pytest.fixture
def standin_kwargs(receiver: Receiver) -> dict:
    return {"session_window": True, "relay_url": receiver.url, "events_secret": SECRET}


def free_form(*numbers: str, application: object = "8", **extra: object) -> dict:
    body: dict = {
        "token": TOKEN,
        "application": application,
        "globalmessage": "Your invoice",
        "globalmedia": "https://media.example/inv.pdf",
        "data": [{"number": n, "reference_number": f"ref-{n}"} for n in numbers],
    }
    body.update(extra)
    return body


# -- inbound messages -------------------------------------------------------------------------------
def test_given_a_relay_url_when_a_customer_writes_then_the_vendors_inbound_body_is_posted_to_inbound_secret(standin, client, receiver):
    # When a customer writes, through the control endpoint
    answer = client.post("/_inbound", json={"number": INSIDE, "message": "Hi, my invoice?"})

    # Then the vendor's Global Webhook body went to /inbound/<events secret>
    assert answer.status_code == 200 and answer.json()["posted"]["status"] == 200
    assert len(receiver.posts) == 1
    path, body = receiver.posts[0]
    assert path == f"/inbound/{SECRET}"
    assert body["number"] == INSIDE and body["application"] == "8"
    assert body["message-in"] == "Hi%2C+my+invoice%3F" and body["message_in_raw"] == "Hi, my invoice?"
    assert body["unique-id"].isdigit() and body["project-id"] and body["type"] and body["direction"] == 0
    # And what the stand-in shows of it masks the secret
    assert answer.json()["posted"]["path"] == "/inbound/***" and SECRET not in answer.text


def test_given_two_messages_when_posted_then_each_has_its_own_unique_id(standin, receiver):
    standin.customer_writes(INSIDE)
    standin.customer_writes(INSIDE, application=10)
    ids = [body["unique-id"] for _, body in receiver.posts]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert [body["application"] for _, body in receiver.posts] == ["8", "10"]


def test_given_post_false_when_a_customer_writes_then_only_the_standin_remembers(standin, receiver):
    assert standin.customer_writes(INSIDE, post=False) is None
    assert receiver.posts == [] and standin.window.last("8", INSIDE) is not None


def test_given_no_relay_url_when_a_customer_writes_then_nothing_is_posted_and_the_window_opens():
    with PushApiStandIn(port=free_port(), token=TOKEN, session_window=True) as api, httpx.Client(base_url=api.base_url) as c:
        answer = c.post("/_inbound", json={"number": INSIDE})
        assert answer.json() == {"ok": True, "posted": None}
        assert c.post("/api/v2/push", json=free_form(INSIDE)).json()["status"] == 100
        assert api.pending_reports == []  # inside the window: nothing to fail


@pytest.mark.parametrize(
    "bad", [{}, {"number": "0123"}, {"number": INSIDE, "minutes_ago": -5}, {"number": INSIDE, "when": "now"}, [INSIDE]]
)
def test_given_a_bad_inbound_request_when_posted_then_400_and_nothing_is_posted(client, receiver, bad):
    answer = client.post("/_inbound", json=bad)
    assert answer.status_code == 400 and "Bad inbound" in answer.json()["message"]
    assert receiver.posts == []


# -- the window ---------------------------------------------------------------------------------------
def test_given_customers_inside_outside_and_never_in_the_window_when_a_free_form_push_goes_then_two_fail_with_131047(
    standin, client, receiver
):
    # Given one customer wrote an hour ago, one 25 hours ago, one never
    standin.customer_writes(INSIDE, minutes_ago=60, post=False)
    standin.customer_writes(OUTSIDE, minutes_ago=25 * 60, post=False)

    # When a free-form push goes to all three
    answer = client.post("/api/v2/push", json=free_form(INSIDE, OUTSIDE, NEVER)).json()

    # Then the vendor accepts it (status 100, ids), as the real one does
    assert answer["status"] == 100
    msg_ids = {r["number"]: r["msg_id"] for r in answer["data"]}
    # And nothing is posted until the reports are flushed
    assert receiver.posts == [] and len(standin.pending_reports) == 1

    posted = standin.post_reports()

    # Then one delivery report went to /events/<secret>, failing the two outside the window
    assert [p.status for p in posted] == [200] and posted[0].path == "/events/***"
    path, event = receiver.posts[0]
    assert path == f"/events/{SECRET}"
    assert event["event_id"] == 1 and event["project_id"]
    assert [e["number"] for e in event["data"]] == [OUTSIDE, NEVER]
    for entry in event["data"]:
        assert entry["push_id"] == answer["push_id"] and entry["msg_id"] == msg_ids[entry["number"]]
        assert entry["status"] == 2 and entry["error_code"] == "131047" and entry["error_message"] == "Re-engagement message"
        assert entry["reference_number"] == f"ref-{entry['number']}"
    # And the queue is empty afterwards
    assert standin.pending_reports == [] and standin.post_reports() == []


def test_given_a_template_push_outside_the_window_then_no_failure_is_reported(standin, client):
    body = free_form(NEVER, template_id="invoice_doc", language="en", template_globalmessage=["Ana", "INV-1"])
    del body["globalmessage"]
    assert client.post("/api/v2/push", json=body).json()["status"] == 100
    assert standin.pending_reports == []


def test_given_another_channel_when_a_free_form_push_goes_outside_the_window_then_no_failure(standin, client):
    # the window is WhatsApp Official's (session_channels default {8}); 10 is Web Automation
    body = free_form(NEVER, application="10")
    body["data"][0]["number"] = NEVER
    assert client.post("/api/v2/push", json=body).json()["status"] == 100
    assert standin.pending_reports == []


def test_given_the_customer_wrote_on_another_channel_then_the_window_on_8_is_still_closed(standin, client):
    standin.customer_writes(NEVER, application=10, post=False)
    assert client.post("/api/v2/push", json=free_form(NEVER)).json()["status"] == 100
    assert [e["number"] for e in standin.pending_reports[0]["data"]] == [NEVER]


def test_given_the_window_rule_off_when_a_free_form_push_goes_then_nothing_is_queued(receiver):
    # Given a stand-in as every existing test makes it (session_window off)
    with PushApiStandIn(port=free_port(), token=TOKEN, relay_url=receiver.url, events_secret=SECRET) as api:
        with httpx.Client(base_url=api.base_url) as c:
            assert c.post("/api/v2/push", json=free_form(NEVER)).json()["status"] == 100
        # Then no report is queued or posted
        assert api.pending_reports == [] and api.post_reports() == [] and receiver.posts == []


def test_given_deliver_reports_when_a_push_goes_then_the_others_are_reported_delivered(receiver):
    with PushApiStandIn(
        port=free_port(), token=TOKEN, session_window=True, deliver_reports=True, relay_url=receiver.url, events_secret=SECRET
    ) as api:
        api.customer_writes(INSIDE, post=False)
        with httpx.Client(base_url=api.base_url) as c:
            assert c.post("/api/v2/push", json=free_form(INSIDE, NEVER)).json()["status"] == 100
        api.post_reports()
    ((_, event),) = receiver.posts
    assert {e["number"]: e["status"] for e in event["data"]} == {INSIDE: 1, NEVER: 2}
    assert "error_code" not in event["data"][0]


def test_given_queued_reports_when_posted_through_the_control_endpoint_then_they_are_sent_and_listed(standin, client, receiver):
    client.post("/api/v2/push", json=free_form(NEVER))
    assert len(client.get("/_reports").json()["pending"]) == 1
    answer = client.post("/_reports").json()
    assert [p["status"] for p in answer["posted"]] == [200] and len(receiver.posts) == 1
    listed = client.get("/_reports")
    assert listed.json()["pending"] == [] and len(listed.json()["posted"]) == 1 and SECRET not in listed.text


def test_given_reset_when_called_then_the_window_and_the_reports_are_forgotten(standin, client):
    standin.customer_writes(INSIDE, post=False)
    client.post("/api/v2/push", json=free_form(NEVER))
    client.post("/_reset")
    assert standin.pending_reports == [] and standin.window.last("8", INSIDE) is None


def test_given_a_report_delay_when_a_push_fails_the_window_then_the_report_is_posted_in_the_background(receiver):
    done = threading.Event()
    with PushApiStandIn(
        port=free_port(), token=TOKEN, session_window=True, relay_url=receiver.url, events_secret=SECRET, report_delay=0.0
    ) as api:
        original = api.post_reports

        def flush_then_signal() -> list:
            try:
                return original()
            finally:
                done.set()

        api.post_reports = flush_then_signal  # type: ignore[method-assign]
        with httpx.Client(base_url=api.base_url) as c:
            assert c.post("/api/v2/push", json=free_form(NEVER)).json()["status"] == 100
        assert done.wait(10)
    assert [path for path, _ in receiver.posts] == [f"/events/{SECRET}"]


# -- through the relay ----------------------------------------------------------------------------------
@pytest.fixture
def standin_options() -> dict:
    return {"session_window": True}


def test_given_the_relays_api_when_a_free_form_file_goes_outside_the_window_then_the_ledger_shows_it_failed_with_131047(relay, sample):
    # Given the relay's API is served and the stand-in points at it
    server = relay.serve_api()
    assert relay.api.posted == []
    # And a customer who wrote an hour ago (stand-in only) and one who never wrote
    relay.api.customer_writes(INSIDE, minutes_ago=60, post=False)
    s3 = relay.client("s3")
    for number in (INSIDE, NEVER):
        s3.put_object(Bucket=relay.bucket, Key=f"outbox/{number}/photo.jpg", Body=sample("photo.jpg"))

    # When the relay sends them free-form and the stand-in posts its reports
    assert relay.run_until_idle(timeout=60)
    posted = relay.api.post_reports()

    # Then the relay's Event Webhook took the report
    assert server.url.startswith("http://127.0.0.1:")
    assert [p.status for p in posted] == [200], [p.answer for p in posted]
    assert posted[0].answer["updated"] == 1
    # And the ledger shows the one outside the window failed with WhatsApp's 131047, the other accepted
    rows = {r["number"]: r for r in scan_all(Ledger(relay.client("dynamodb"), relay.table)) if r.get("kind") == "recipient"}
    assert rows[NEVER]["state"] == "failed"
    assert rows[NEVER]["error_code"] == "131047" and rows[NEVER]["error_message"] == "Re-engagement message"
    assert rows[INSIDE]["state"] == "accepted"
    assert LOCAL_EVENTS_SECRET not in json.dumps([vars(p) for p in relay.api.posted])


# -- relay serve --session-window ----------------------------------------------------------------------
def test_given_relay_serve_with_session_window_when_a_free_form_push_misses_the_window_then_the_report_reaches_the_relay(tmp_path):
    # Given `relay serve --session-window` in a process of its own
    relay_bin = Path(sys.executable).with_name("relay")
    proc = subprocess.Popen(
        [str(relay_bin), "serve", "--session-window", "--port", str(free_port())],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        standin_url = None
        for line in proc.stdout:
            if line.startswith("# a customer writes"):
                standin_url = line.rsplit(" ", 1)[1].strip().removesuffix("/_inbound")
            if line.startswith("# sign and send a push"):
                break
        assert standin_url is not None
        with httpx.Client(base_url=standin_url, timeout=10.0) as c:
            # When a customer writes, the stand-in posts it to the relay it serves beside
            inbound = c.post("/_inbound", json={"number": INSIDE}).json()
            assert inbound["posted"]["path"] == "/inbound/***" and inbound["posted"]["status"] is not None
            # And a free-form push to a number that never wrote is accepted
            body = {**free_form(NEVER), "token": LOCAL_TOKEN}
            assert c.post("/api/v2/push", json=body).json()["status"] == 100
            # Then, a moment later, its 131047 report was posted to the relay's Event Webhook and taken
            deadline = time.monotonic() + 30
            reports: list = []
            while not reports and time.monotonic() < deadline:
                reports = [p for p in c.get("/_reports").json()["posted"] if p["path"] == "/events/***"]
                time.sleep(0.1)
            [report] = reports
            assert report["status"] == 200 and report["answer"]["received"] == 1
            assert report["body"]["data"][0]["error_code"] == "131047"
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""PushApiClient over real loopback HTTP against the Push API stand-in: the round trip, how every
kind of failure comes back, and that the API token never leaves the request body (not in results,
errors, tracebacks, logs, stdout, the ledger or the send queue)."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

import sender.app  # noqa: F401 - imported at collection, so Powertools binds the session's stdout, not one test's capsys
from relay.ledger import Ledger
from relay.models import Entry, Job, MediaRef
from relay.pushapi import PushApiClient, PushResult, TransportError, build_request
from relay.sending import Sender
from relay_local.dev.ledger_reads import by_vendor_id, job_items
from relay_local.dev.poller import pump
from relay_local.dev.ports import free_port
from relay_local.dev.session import LOCAL_TOKEN
from relay_local.dev.standin import Answer, PushApiStandIn

pytestmark = pytest.mark.integration

TOKEN = "tok-SECRET-123"
ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def standin() -> Iterator[PushApiStandIn]:
    with PushApiStandIn(token=TOKEN) as api:
        yield api


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(5.0)) as c:
        yield c


@pytest.fixture
def api(standin, http) -> PushApiClient:
    return PushApiClient(standin.url, lambda: TOKEN, http=http)


@pytest.fixture
def every_log(caplog, capsys) -> Iterator[Callable[[], str]]:
    """Everything any logger writes, at DEBUG, plus stdout/stderr: returns a function giving the text.

    Handlers bound to a stream before this test (Powertools binds sys.stdout when a module is
    imported, which may be in an earlier test) are pointed at a buffer for the test's duration.
    """
    caplog.set_level(logging.DEBUG)
    buffer = io.StringIO()
    loggers = [logging.getLogger(), *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    levels = [(lg, lg.level) for lg in loggers]
    streams = []
    for lg in loggers:
        if lg.level > logging.DEBUG:
            lg.setLevel(logging.DEBUG)
        for handler in lg.handlers:
            if isinstance(handler, logging.StreamHandler) and not type(handler).__module__.startswith("_pytest"):
                streams.append((handler, handler.setStream(buffer)))
    seen: list[str] = []

    def text() -> str:
        out = capsys.readouterr()
        seen.extend([out.out, out.err])
        records = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
        return "\n".join([caplog.text, records, buffer.getvalue(), *seen])

    try:
        yield text
    finally:
        for handler, stream in streams:
            handler.setStream(stream)
        for lg, level in levels:
            lg.setLevel(level)


def ledger_of(relay) -> Ledger:
    return Ledger(relay.client("dynamodb"), relay.table)


def two_recipient_job() -> Job:
    """The first job of events/sqs-send-jobs.json: two recipients, each with its own media."""
    event = json.loads((EVENTS / "sqs-send-jobs.json").read_text())
    return Job.model_validate_json(event["Records"][0]["body"])


def one_job(number: str = "447700900123") -> Job:
    ref = MediaRef(bucket="b", key=f"outbox/{number}/p.jpg", kind="image", content_type="image/jpeg", size=9, filename="p.jpg")
    entry = Entry(rid=f"r{number}", number=number, message="hi", media=ref, object_pk=f"OBJ#b/outbox/{number}/p.jpg")
    return Job(job_id=f"job-{number}", application=8, entries=[entry], sources=[entry.object_pk])


def presign(ref: MediaRef) -> str:
    return f"https://x/{ref.key}"


def assert_no_token(exc: TransportError, token: str = TOKEN) -> None:
    rendered = "".join(traceback.format_exception(exc))
    for text in (str(exc), exc.reason, repr(exc), repr(exc.args), rendered):
        assert token not in text


# -- round trip -----------------------------------------------------------------------------------
def test_given_a_job_when_pushed_then_the_vendor_gets_the_token_in_the_body_and_its_ids_come_back(standin, api):
    job = two_recipient_job()
    body = build_request(job, presign)

    result = api.push(body)

    [req] = standin.requests
    assert req.body["token"] == TOKEN
    assert req.body_without_token() == {**body, "token": "***"}
    assert req.headers.get("Content-Type", req.headers.get("content-type")) == "application/json"
    assert [d["media"] for d in req.body["data"]] == ["https://x/outbox/447700900123/photo.jpg", "https://x/outbox/447700900125/clip.mp4"]
    assert result.accepted and result.status == 100
    assert result.push_id == req.response_body["push_id"]
    assert [(d.number, d.msg_id) for d in result.data] == [(d["number"], d["msg_id"]) for d in req.response_body["data"]]
    assert TOKEN not in result.model_dump_json()


def test_given_a_vendor_with_integer_ids_when_pushed_then_the_result_has_them_as_strings(http):
    with PushApiStandIn(token=TOKEN, int_ids=True) as standin:
        result = PushApiClient(standin.url, lambda: TOKEN, http=http).push(build_request(one_job(), presign))
        [req] = standin.requests
    assert isinstance(req.response_body["push_id"], int)
    assert result.push_id == str(req.response_body["push_id"])
    assert result.data[0].msg_id == str(req.response_body["data"][0]["msg_id"])


def test_given_the_token_is_read_per_push_when_it_rotates_then_the_next_push_carries_the_new_one(standin, http):
    tokens = iter(["old-token", TOKEN])
    api = PushApiClient(standin.url, lambda: next(tokens), http=http)
    first = api.push(build_request(one_job(), presign))
    second = api.push(build_request(one_job(), presign))
    assert (first.status, second.status) == (401, 100)
    assert [r.body["token"] for r in standin.requests] == ["old-token", TOKEN]


# -- token secrecy --------------------------------------------------------------------------------
def test_given_a_wrong_token_when_pushed_then_a_401_result_comes_back_without_the_token(http, every_log):
    with PushApiStandIn(token="the-right-one") as standin:
        api = PushApiClient(standin.url, lambda: TOKEN, http=http)
        result = api.push(build_request(one_job(), presign))
        [req] = standin.requests
    assert isinstance(result, PushResult)
    assert result.status == 401 and not result.accepted
    assert req.body["token"] == TOKEN  # it was really sent
    for text in (result.model_dump_json(), repr(result), str(result), json.dumps(result.model_dump()), every_log()):
        assert TOKEN not in text


@pytest.mark.parametrize(
    ("answer", "http_status", "sent"),
    [
        (Answer(http_status=500), 500, False),
        (Answer(http_status=503), 503, False),
        (Answer(http_status=429), 429, False),
        (Answer(body="<html>oops</html>"), 200, True),
        (Answer(http_status=502, body="<html>bad gateway</html>"), 502, False),
    ],
    ids=["500", "503", "429", "html-200", "html-502"],
)
def test_given_no_usable_answer_when_pushed_then_transport_error_names_the_status_but_never_the_token(
    standin, api, every_log, answer, http_status, sent
):
    standin.script(answer)
    with pytest.raises(TransportError) as caught:
        api.push(build_request(one_job(), presign))
    exc = caught.value
    assert exc.http_status == http_status
    assert str(http_status) in exc.reason
    assert exc.sent is sent
    assert standin.requests[0].body["token"] == TOKEN
    assert_no_token(exc)
    logged = every_log()
    assert "HTTP Request: POST" in logged  # httpx's own INFO line: the capture is live
    assert TOKEN not in logged


def test_given_a_vendor_that_does_not_answer_in_time_when_pushed_then_the_error_is_ambiguous_and_tokenless(standin, every_log):
    standin.script(Answer(delay=1.0))
    with httpx.Client(timeout=httpx.Timeout(0.3)) as http:
        api = PushApiClient(standin.url, lambda: TOKEN, http=http)
        with pytest.raises(TransportError) as caught:
            api.push(build_request(one_job(), presign))
    exc = caught.value
    assert exc.sent is True  # the request left: the vendor may have queued it
    assert exc.http_status is None
    assert "Timeout" in exc.reason
    assert len(standin.requests) == 1 and standin.requests[0].body["token"] == TOKEN
    assert exc.__cause__ is None and exc.__suppress_context__
    assert_no_token(exc)
    assert TOKEN not in every_log()


def test_given_nothing_listening_when_pushed_then_the_error_says_not_sent_and_is_tokenless(every_log):
    url = f"http://127.0.0.1:{free_port()}/api/v2/push"
    with httpx.Client(timeout=httpx.Timeout(2.0)) as http:
        api = PushApiClient(url, lambda: TOKEN, http=http)
        with pytest.raises(TransportError) as caught:
            api.push(build_request(one_job(), presign))
    exc = caught.value
    assert exc.sent is False and exc.http_status is None
    assert "ConnectError" in exc.reason
    assert_no_token(exc)
    assert TOKEN not in every_log()


def test_given_every_kind_of_answer_when_pushed_then_no_log_line_or_output_anywhere_holds_the_token(standin, api, every_log):
    standin.script(
        Answer(vendor_status=101),
        Answer(http_status=500),
        Answer(http_status=429),
        Answer(body="<html>oops</html>"),
        Answer(body={"status": 999, "message": "new"}),
    )
    outcomes = []
    for _ in range(6):  # five scripted answers, then a normal success
        try:
            outcomes.append(api.push(build_request(two_recipient_job(), presign)).status)
        except TransportError as exc:
            outcomes.append(exc.http_status)
            logging.getLogger("test").exception("push failed: %s", exc)  # as a handler might log it
    print(outcomes)
    assert outcomes == [101, 500, 429, 200, 999, 100]
    assert all(r.body["token"] == TOKEN for r in standin.requests)
    logged = every_log()
    assert "push failed" in logged and "HTTP Request: POST" in logged
    assert TOKEN not in logged


@contextmanager
def corrupt_gzip_vendor() -> Iterator[str]:
    """A loopback HTTP server that reads the push and answers 200 with a body claiming gzip that
    is not: the request reached the "vendor", its answer cannot be read."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name for it
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            payload = b"this is not gzip"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v2/push"
    finally:
        server.shutdown()
        server.server_close()


def test_given_an_answer_body_that_cannot_be_decoded_when_pushed_then_it_is_an_ambiguous_transport_error(http):
    with corrupt_gzip_vendor() as url:
        api = PushApiClient(url, lambda: TOKEN, http=http)
        try:
            api.push(build_request(one_job(), presign))
        except Exception as exc:  # noqa: BLE001 - what kind it is, is the point
            raised = exc
        else:
            raised = None
    assert isinstance(raised, TransportError), f"raised {type(raised).__name__}: {raised}"
    assert raised.sent is True
    assert_no_token(raised)


def test_given_a_success_with_a_null_message_when_pushed_then_it_is_accepted_not_retried(standin, api):
    standin.script(
        Answer(
            body={"status": 100, "push_id": "5", "message": None, "data": [{"msg_id": "6", "number": "447700900123", "credit": "0.005"}]}
        )
    )
    result = api.push(build_request(one_job(), presign))
    assert result.accepted and result.push_id == "5" and result.data[0].msg_id == "6"


# -- HTTP 429 and 5xx -----------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_given_http_429_or_5xx_when_pushed_then_transport_error_carries_the_http_status(standin, api, status):
    standin.script(Answer(http_status=status))
    with pytest.raises(TransportError) as caught:
        api.push(build_request(one_job(), presign))
    assert caught.value.http_status == status
    assert f"HTTP {status}" in str(caught.value)


def test_given_a_vendor_error_code_in_a_normal_answer_when_pushed_then_it_is_a_result_not_an_error(standin, api):
    standin.script(Answer(vendor_status=403))
    result = api.push(build_request(one_job(), presign))
    assert result.status == 403 and not result.accepted and result.message == "Insufficient balance"


# -- secrecy through the whole path -------------------------------------------------------------
def test_given_the_send_queue_contract_when_inspected_then_no_field_or_sample_event_can_carry_a_token():
    schema = Job.model_json_schema()
    assert "token" not in schema["properties"]
    for model in schema.get("$defs", {}).values():
        assert not any("token" in name.lower() for name in model.get("properties", {}))
    assert Job.model_config.get("extra") == "forbid"  # a token slipped into a job is refused
    with pytest.raises(ValueError):
        Job.model_validate({**two_recipient_job().model_dump(), "token": TOKEN})

    def keys(value) -> Iterator[str]:
        if isinstance(value, dict):
            for k, v in value.items():
                yield k
                yield from keys(v)
        elif isinstance(value, list):
            for v in value:
                yield from keys(v)
        elif isinstance(value, str) and value.lstrip().startswith(("{", "[")):
            try:
                yield from keys(json.loads(value))  # SQS bodies are JSON inside JSON
            except ValueError:
                pass

    files = sorted(EVENTS.glob("*.json"))
    assert files
    for path in files:
        text = path.read_text()
        assert LOCAL_TOKEN not in text and TOKEN not in text, path
        assert not [k for k in keys(json.loads(text)) if "token" in k.lower()], path


@pytest.mark.parametrize("relay_env", [{"RETRY_BASE_SECONDS": "0", "POWERTOOLS_LOG_LEVEL": "DEBUG"}])
def test_given_an_upload_when_relayed_end_to_end_then_the_token_is_in_the_request_only(relay, sample, every_log):
    relay.client("s3").put_object(Bucket=relay.bucket, Key="outbox/447700900123/p.jpg", Body=sample("photo.jpg"))
    # the planner's output: the send queue's message bodies, looked at before the sender runs
    assert pump([relay.pollers["IngestFunction"]], timeout=30)
    sender = relay.pollers["SenderFunction"]
    jobs = sender._receive()
    assert len(jobs) == 1
    for m in jobs:
        assert LOCAL_TOKEN not in m["Body"] and "token" not in json.loads(m["Body"])
        relay.client("sqs").change_message_visibility(QueueUrl=sender.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)

    assert relay.run_until_idle(timeout=60)

    [req] = relay.api.requests
    assert req.body["token"] == LOCAL_TOKEN  # the token was used, so its absence elsewhere means something
    items = relay.client("dynamodb").scan(TableName=relay.table)["Items"]
    assert {i["state"]["S"] for i in items if i["kind"]["S"] == "recipient"} == {"accepted"}
    dumped = json.dumps(items)
    assert LOCAL_TOKEN not in dumped and '"token"' not in dumped
    logged = every_log()
    assert '"sent"' in logged  # the sender's own Powertools line reached the capture
    assert LOCAL_TOKEN not in logged


def test_given_the_vendor_answers_out_of_order_when_sent_then_each_recipient_keeps_its_own_msg_id(relay):
    job = two_recipient_job()
    first, second = job.entries
    relay.api.script(
        Answer(
            body={
                "status": 100,
                "push_id": 77,
                "message": "Success",
                "data": [
                    {"msg_id": 9002, "number": second.number, "credit": "0.005"},
                    {"msg_id": 9001, "number": first.number, "credit": "0.005"},
                ],
            }
        )
    )
    book = ledger_of(relay)
    with httpx.Client(timeout=5.0) as http:
        sender = Sender(api=PushApiClient(relay.api.url, lambda: LOCAL_TOKEN, http=http), ledger=book, presign=presign)
        outcome = sender.send(job)

    assert outcome.state == "accepted" and outcome.push_id == "77"
    [req] = relay.api.requests
    assert [d["number"] for d in req.body["data"]] == [first.number, second.number]  # sent in our order
    rows = {r["number"]: r for r in job_items(book, job.job_id) if r["kind"] == "recipient"}
    assert rows[first.number]["msg_id"] == "9001" and rows[second.number]["msg_id"] == "9002"
    assert rows[first.number]["vendor_pk"] == "MSG#9001" and rows[second.number]["vendor_pk"] == "MSG#9002"
    assert {r["push_id"] for r in rows.values()} == {"77"}
    [head] = [r for r in job_items(book, job.job_id) if r["kind"] == "push"]
    assert head["state"] == "accepted" and head["push_id"] == "77" and head["vendor_pk"] == "PID#77"
    [found] = by_vendor_id(book, msg_id="9002")
    assert found["sk"] == f"RCP#{second.rid}"


def test_given_the_vendor_times_out_when_sent_then_the_job_is_ambiguous_and_never_sent_again(relay):
    job = two_recipient_job()
    relay.api.script(Answer(delay=1.0))
    book = ledger_of(relay)
    with httpx.Client(timeout=httpx.Timeout(0.3)) as http:
        sender = Sender(api=PushApiClient(relay.api.url, lambda: LOCAL_TOKEN, http=http), ledger=book, presign=presign)
        outcome = sender.send(job)
        assert outcome.state == "ambiguous" and not outcome.dead_letter
        again = sender.send(job)  # the queue delivers it again: nothing is sent
        assert again.duplicate and again.state == "ambiguous"
    items = job_items(book, job.job_id)
    [head] = [i for i in items if i["kind"] == "push"]
    assert head["state"] == "ambiguous" and head["ambiguous"] is True and "Timeout" in head["reason"]
    assert {i["state"] for i in items if i["kind"] == "recipient"} == {"ambiguous"}
    assert len(relay.api.requests) == 1
    assert LOCAL_TOKEN not in json.dumps(items)


# -- the total deadline (relay.vendor_http) -------------------------------------------------------
def test_given_slow_headers_when_pushed_with_a_total_deadline_then_it_ends_at_the_deadline_not_the_read_timeout(standin):
    from relay.vendor_http import vendor_client

    # Given a per-read timeout of 30 s, a total deadline of 1 s, and a vendor that answers after 8 s
    standin.script(Answer(delay=8.0))
    with vendor_client(httpx.Timeout(30.0)) as http:
        api = PushApiClient(standin.url, lambda: TOKEN, http=http, deadline_seconds=1.0)
        started = time.monotonic()
        # When pushed
        with pytest.raises(TransportError) as caught:
            api.push(build_request(one_job(), presign))
        took = time.monotonic() - started
    # Then the request ends at its deadline (the answer would have taken 8 s), ambiguous, tokenless
    assert took < 6
    assert caught.value.sent is True and "within 1s" in caught.value.reason
    assert_no_token(caught.value)


def test_given_a_kept_alive_connection_when_the_next_answer_trickles_then_the_deadline_holds_on_it_too(standin):
    from relay.vendor_http import vendor_client

    with vendor_client(httpx.Timeout(30.0)) as http:
        api = PushApiClient(standin.url, lambda: TOKEN, http=http, deadline_seconds=1.5)
        # Given a first push that opens the connection and is answered at once
        assert api.push(build_request(one_job(), presign)).accepted
        # When the next one, on the same connection, is answered a byte a second
        standin.script(Answer(trickle=1.0))
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            api.push(build_request(one_job(), presign))
    # Then it too ends at its deadline
    assert time.monotonic() - started < 6 and caught.value.sent is True


def test_given_a_non_json_4xx_when_pushed_then_it_is_a_refusal_naming_the_status_not_an_ambiguous_error(standin, api):
    from relay.pushapi import HttpRefused

    standin.script(Answer(http_status=403, body="<html>Access denied by WAF</html>"))
    with pytest.raises(HttpRefused) as caught:
        api.push(build_request(one_job(), presign))
    assert caught.value.sent is False and caught.value.http_status == 403
    assert "HTTP 403" in caught.value.reason and "PickyApiUrl" in caught.value.reason
    assert_no_token(caught.value)

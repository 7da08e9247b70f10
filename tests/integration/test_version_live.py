"""The relay's version where a running relay shows it: the X-Relay-Version header of every ApiFunction
answer (through `relay serve` over real HTTP, the embedded AWS and the Push API stand-in behind it)
and the `version` key of every log line the functions write."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from relay.signing import sign, sign_status
from relay.version import __version__
from relay_local.dev.serve import ApiServer
from relay_local.dev.session import LOCAL_EVENTS_SECRET, LOCAL_SIGNING_SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
def http(relay, sample) -> Iterator[httpx.Client]:
    relay.client("s3").put_object(Bucket=relay.bucket, Key="media/photo.jpg", Body=sample("photo.jpg"))
    with ApiServer(relay) as server, httpx.Client(base_url=server.url, timeout=20) as client:
        yield client


@pytest.fixture
def relay_env() -> dict[str, str]:
    """The functions log at INFO here (the invoker sets each function's level from its environment)."""
    return {"RETRY_BASE_SECONDS": "0", "POWERTOOLS_LOG_LEVEL": "INFO"}


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict]]]:
    """The lines the functions' (shared) Powertools logger has written so far in the test, parsed."""
    from relay.observability import logger

    buffer = io.StringIO()
    stream = logger.registered_handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        logger.registered_handler.setStream(stream)


def post_push(http: httpx.Client, body: bytes, **headers: str) -> httpx.Response:
    return http.post("/pushes", content=body, headers={"Content-Type": "application/json", **sign(LOCAL_SIGNING_SECRET, body), **headers})


def wait_final(http: httpx.Client, push_id: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        answer = http.get(f"/pushes/{push_id}", headers=sign_status(LOCAL_SIGNING_SECRET, push_id))
        if all(r["state"] not in ("planned", "submitted") for r in answer.json()["recipients"]) or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_given_a_push_when_its_state_is_read_then_the_answer_carries_the_relay_version_header(http):
    # Given a signed push, planned and sent
    accepted = post_push(
        http, json.dumps({"message": "hi", "media": {"key": "media/photo.jpg"}, "recipients": [{"number": "447700905001"}]}).encode()
    )
    assert accepted.status_code == 202
    # When GET /pushes/{id} reads it
    status = wait_final(http, accepted.json()["id"])
    # Then both answers say which relay answered
    assert status.status_code == 200 and status.json()["recipients"][0]["state"] == "accepted"
    assert status.headers["X-Relay-Version"] == __version__
    assert accepted.headers["X-Relay-Version"] == __version__


def test_given_requests_the_relay_refuses_when_answered_then_every_error_carries_the_relay_version_header(http):
    unknown = "0" * 24
    too_big = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    answers = {
        # refused before routing (relay.api_guard)
        "401 unsigned GET": http.get(f"/pushes/{unknown}"),
        "413 body too large": post_push(http, too_big),
        "415 not JSON": post_push(http, b"x=1", **{"Content-Type": "text/plain"}),
        # answered by a route or the resolver's exception handlers (relay.api_answers)
        "404 unknown push": http.get(f"/pushes/{unknown}", headers=sign_status(LOCAL_SIGNING_SECRET, unknown)),
        "422 invalid body": post_push(http, b'{"recipients": []}'),
        "422 body not JSON": post_push(http, b"{oops"),
        "404 wrong events secret": http.post("/events/not-the-secret", json={"event_id": 1, "data": []}),
        "404 no such hook route": http.post("/hooks/no-such-route", json={}),
        "200 vendor event": http.post(f"/events/{LOCAL_EVENTS_SECRET}", json={"event_id": 1, "data": []}),
    }
    # Then each has the status it names, and the header
    assert {name: r.status_code for name, r in answers.items()} == {name: int(name.split()[0]) for name in answers}
    assert {name: r.headers.get("X-Relay-Version") for name, r in answers.items()} == dict.fromkeys(answers, __version__)


def test_given_the_relay_at_work_when_its_functions_log_then_every_line_carries_the_version(relay, http, sample, log_lines):
    # Given an outbox upload (IngestFunction → SenderFunction) and a push through the API, each
    # function invoked more than once
    relay.client("s3").put_object(Bucket=relay.bucket, Key="outbox/447700905101/p.jpg", Body=sample("photo.jpg"))
    accepted = post_push(
        http, json.dumps({"message": "hi", "media": {"key": "media/photo.jpg"}, "recipients": [{"number": "447700905102"}]}).encode()
    )
    assert accepted.status_code == 202
    wait_final(http, accepted.json()["id"])
    for _ in range(2):  # two delivery reports: two more ApiFunction invocations that log
        assert http.post(f"/events/{LOCAL_EVENTS_SECRET}", json={"event_id": 1, "data": []}).status_code == 200
    assert relay.run_until_idle(timeout=60)
    # When the log lines are read
    lines = log_lines()
    # Then the functions logged, over several invocations each
    functions = {line.get("function_name", "").rsplit("-", 1)[-1] for line in lines}
    assert {"ApiFunction", "IngestFunction", "SenderFunction"} <= functions, functions
    api_invocations = {line["function_request_id"] for line in lines if line.get("function_name", "").endswith("-ApiFunction")}
    assert len(api_invocations) >= 2
    # and every line carries the relay's version
    assert [line.get("version") for line in lines] == [__version__] * len(lines)

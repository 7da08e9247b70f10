"""Every file in events/ is accepted by its function, run the way template.yaml configures it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.models import PushJob
from relay_local.cli import resign
from relay_local.demo import upload_samples

EVENTS = Path(__file__).resolve().parents[2] / "events"
FUNCTION_FOR = {"s3-": "IngestFunction", "sqs-ingest": "IngestFunction", "sqs-send": "SenderFunction", "api-": "ApiFunction"}

pytestmark = pytest.mark.integration


def function_for(name: str) -> str:
    return next(fn for prefix, fn in FUNCTION_FOR.items() if name.startswith(prefix))


def retarget(event: dict, bucket: str) -> dict:
    """events/ name the default local bucket; each test has its own stack."""
    return json.loads(json.dumps(event).replace("relay-local-mediabucket", bucket))


@pytest.mark.parametrize("path", sorted(p for p in EVENTS.glob("*.json") if not p.name.startswith("api-")), ids=lambda p: p.name)
def test_given_an_event_file_when_invoked_then_its_handler_accepts_it(path, relay):
    # Given the sample media the events refer to, in this test's bucket
    upload_samples(relay)
    event = retarget(json.loads(path.read_text()), relay.bucket)
    # When the function named for this kind of event runs it
    result = relay.invoker.invoke(function_for(path.name), event)
    # Then nothing in it failed, and it did its job
    if "Records" in event and event["Records"][0].get("eventSource") == "aws:sqs":
        assert result == {"batchItemFailures": []}
    else:
        assert result["jobs"] >= 1 and result["recipients"] >= 1
    if path.name.startswith("sqs-send"):
        jobs = [PushJob.model_validate_json(r["body"]) for r in event["Records"]]
        sent = sorted(d["number"] for req in relay.api.requests for d in req.body["data"])
        assert sent == sorted(e.number for job in jobs for e in job.entries)
        assert all(req.response_body["status"] == 100 for req in relay.api.requests)


def test_given_the_event_files_then_none_holds_a_secret():
    for path in EVENTS.glob("*.json"):
        text = path.read_text()
        assert '"token"' not in text and "X-Amz-Signature" not in text, path.name


def test_given_the_api_event_files_when_invoked_in_order_then_push_status_and_delivery_are_answered(relay):
    """POST /pushes (re-signed: a signature is only good for 5 minutes), then GET /pushes/{id}
    for the id the POST answered, then the vendor's delivery event."""
    upload_samples(relay)
    post = resign(retarget(json.loads((EVENTS / "api-post-pushes.json").read_text()), relay.bucket))
    created = relay.invoker.invoke("ApiFunction", post)
    assert created["statusCode"] == 202
    push_id = json.loads(created["body"])["id"]
    get = json.loads((EVENTS / "api-get-push.json").read_text())
    assert get["pathParameters"]["id"] == push_id  # the GET event asks for what the POST event creates
    status = relay.invoker.invoke("ApiFunction", get)
    assert status["statusCode"] == 200
    assert {r["state"] for r in json.loads(status["body"])["recipients"]} == {"planned"}
    assert relay.run_until_idle(timeout=60)
    vendor = relay.invoker.invoke("ApiFunction", json.loads((EVENTS / "api-vendor-event.json").read_text()))
    assert vendor["statusCode"] == 200 and json.loads(vendor["body"])["received"] == 1

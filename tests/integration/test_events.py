"""Every file in events/ does what the README says when its function runs it, the way template.yaml
configures it: each test checks the outcome (ledger entries, answers), not only that nothing failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.ledger import Ledger
from relay.models import Job
from relay_local.dev.demo import recipients, upload_samples
from relay_local.dev.ledger_reads import scan_all
from relay_local.ops.sign_event import resign

EVENTS = Path(__file__).resolve().parents[2] / "events"
FUNCTION_FOR = {"s3-": "IngestFunction", "sqs-ingest": "IngestFunction", "sqs-send": "SenderFunction", "api-": "ApiFunction"}

pytestmark = pytest.mark.integration


def function_for(name: str) -> str:
    return next(fn for prefix, fn in FUNCTION_FOR.items() if name.startswith(prefix))


def retarget(event: dict, bucket: str) -> dict:
    """events/ name the default local bucket; each test has its own stack."""
    return json.loads(json.dumps(event).replace("relay-local-mediabucket", bucket))


#: what each event file must leave in the ledger when its function runs on a fresh stack with the
#: sample media: {number: media key} of planned recipients, and the numbers rejected
OUTCOMES = {
    "s3-put-outbox.json": ({"447700900123": "outbox/447700900123/photo.jpg"}, set()),
    "s3-put-manifest.json": (
        {"447700900201": "media/chart.png", "447700900202": "media/photo.jpg", "447700900203": "media/note.mp3"},
        {"12345", "447700900205"},
    ),
    "sqs-ingest-batch.json": (
        {
            "447700900123": "outbox/447700900123/photo.jpg",
            "447700900124": "outbox/+44 7700 900124/invoice 2026-11.pdf",
            "447700900301": None,
            "447700900302": None,
            "447700900303": None,
        },
        set(),
    ),
}


def ledger_outcome(relay) -> tuple[dict[str, str | None], set[str]]:
    rows = recipients(relay)
    planned = {r["number"]: r.get("media_key") for r in rows if r["state"] == "planned" and not r.get("caption_for")}
    return planned, {r["number"] for r in rows if r["state"] == "rejected"}


@pytest.mark.parametrize("path", sorted(p for p in EVENTS.glob("*.json") if not p.name.startswith(("api-", "hook-"))), ids=lambda p: p.name)
def test_given_an_event_file_when_invoked_then_its_handler_does_what_the_readme_says(path, relay):
    # Given the sample media the events refer to, in this test's bucket
    upload_samples(relay)
    event = retarget(json.loads(path.read_text()), relay.bucket)
    # When the function named for this kind of event runs it
    result = relay.invoker.invoke(function_for(path.name), event)
    # Then nothing in it failed, and it did its job: the ledger holds what the event names
    if "Records" in event and event["Records"][0].get("eventSource") == "aws:sqs":
        assert result == {"batchItemFailures": []}
    else:
        assert result["jobs"] >= 1 and result["recipients"] >= 1
    if path.name in OUTCOMES:
        planned, rejected = ledger_outcome(relay)
        expected_planned, expected_rejected = OUTCOMES[path.name]
        assert set(planned) == set(expected_planned)
        assert {n: planned[n] for n, k in expected_planned.items() if k} == {n: k for n, k in expected_planned.items() if k}
        assert rejected == expected_rejected
    if path.name.startswith("sqs-send"):
        jobs = [Job.model_validate_json(r["body"]) for r in event["Records"]]
        sent = sorted(d["number"] for req in relay.api.requests for d in req.body["data"])
        assert sent == sorted(e.number for job in jobs for e in job.entries)
        assert all(req.response_body["status"] == 100 for req in relay.api.requests)


def test_given_every_event_file_then_an_outcome_is_checked_for_it():
    names = {p.name for p in EVENTS.glob("*.json")}
    checked = set(OUTCOMES) | {
        "sqs-send-jobs.json",
        "api-post-pushes.json",
        "api-get-push.json",
        "api-vendor-event.json",
        "api-inbound-message.json",
        # webhook samples: tests/unit/test_hook_samples.py, test_sign_hook.py, integration/test_hook_samples_local.py
        "hook-stripe-invoice.json",
        "hook-shopify-fulfilled.json",
        "hook-standard.json",
    }
    assert names == checked


def test_given_the_ingest_batch_then_its_keys_are_encoded_once_as_s3_encodes_them():
    from urllib.parse import unquote_plus

    event = json.loads((EVENTS / "sqs-ingest-batch.json").read_text())
    keys = [unquote_plus(r["s3"]["object"]["key"]) for m in event["Records"] for r in json.loads(m["body"])["Records"]]
    assert "outbox/+44 7700 900124/invoice 2026-11.pdf" in keys
    assert not any("%" in k for k in keys)


def test_given_the_event_files_then_none_holds_a_secret():
    for path in EVENTS.glob("*.json"):
        text = path.read_text()
        assert '"token"' not in text and "X-Amz-Signature" not in text, path.name


def test_given_the_api_event_files_when_invoked_in_order_then_push_status_and_delivery_are_answered(relay, sample):
    """POST /pushes (re-signed: a signature is only good for 5 minutes), then GET /pushes/{id}
    (signed for that id) for the id the POST answered, then the vendor's delivery event."""
    s3 = relay.client("s3")  # only the media the push names, so its request is the only one sent
    s3.put_object(Bucket=relay.bucket, Key="media/photo.jpg", Body=sample("photo.jpg"))
    s3.put_object(Bucket=relay.bucket, Key="media/brochure.pdf", Body=sample("invoice.pdf"))
    post = resign(retarget(json.loads((EVENTS / "api-post-pushes.json").read_text()), relay.bucket))
    created = relay.invoker.invoke("ApiFunction", post)
    assert created["statusCode"] == 202, created
    answer = json.loads(created["body"])
    assert answer["rejected"] == [] and answer["recipients"] == 3  # two recipients, the PDF's caption as its own text
    get = json.loads((EVENTS / "api-get-push.json").read_text())
    assert get["pathParameters"]["id"] == answer["id"]  # the GET event asks for what the POST event creates
    unsigned = relay.invoker.invoke("ApiFunction", {**get, "headers": {}, "multiValueHeaders": {}})
    assert unsigned["statusCode"] == 401
    status = relay.invoker.invoke("ApiFunction", resign(get))
    assert status["statusCode"] == 200
    body = json.loads(status["body"])
    assert sorted(r["number"] for r in body["recipients"]) == ["447700900123", "447700900124", "447700900124"]
    assert body["counts"] == {"planned": 3}
    assert relay.run_until_idle(timeout=60)
    vendor = relay.invoker.invoke("ApiFunction", json.loads((EVENTS / "api-vendor-event.json").read_text()))
    assert vendor["statusCode"] == 200
    # the event names the first message the stand-in accepted: 447700900123's, now delivered
    assert json.loads(vendor["body"]) == {"received": 1, "updated": 1, "unchanged": 0, "unmatched": 0, "ignored": 0}
    final = json.loads(relay.invoker.invoke("ApiFunction", resign(get))["body"])
    assert {r["number"]: r["state"] for r in final["recipients"] if r["number"] == "447700900123"} == {"447700900123": "delivered"}


def test_given_a_fresh_stack_when_the_get_event_is_invoked_then_relay_invoke_posts_the_push_first_and_it_is_found(relay):
    # Given a fresh stack with the sample media, as `relay invoke` makes one
    from relay_local.cli import post_first

    upload_samples(relay)
    get = resign(json.loads((EVENTS / "api-get-push.json").read_text()))
    # When `relay invoke ApiFunction -e events/api-get-push.json` runs it
    post_first(relay, "ApiFunction", get)
    result = relay.invoker.invoke("ApiFunction", get)
    # Then the push events/api-post-pushes.json creates is found (not a 404)
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["id"] == get["pathParameters"]["id"]


def test_given_a_fresh_stack_when_the_vendor_event_is_invoked_then_it_is_kept_as_an_unmatched_event(relay):
    # Given a stack whose ledger knows no message yet
    event = json.loads((EVENTS / "api-vendor-event.json").read_text())
    # When the vendor's delivery report arrives on the local events secret
    result = relay.invoker.invoke("ApiFunction", event)
    # Then it is answered and kept (findable by its msg_id), never dropped
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {"received": 1, "updated": 0, "unchanged": 0, "unmatched": 1, "ignored": 0}
    kept = [i for i in scan_all(Ledger(relay.client("dynamodb"), relay.table)) if i.get("kind") == "unmatched_event"]
    assert [i.get("msg_id") for i in kept] == ["1000002"]


def test_given_the_inbound_message_event_when_invoked_twice_then_the_window_is_recorded_once(relay):
    # Given the vendor's Global Webhook body for one incoming message, on the local events secret
    from relay_local.dev.session import LOCAL_EVENTS_SECRET

    event = json.loads((EVENTS / "api-inbound-message.json").read_text())
    assert event["pathParameters"]["secret"] == LOCAL_EVENTS_SECRET  # the local placeholder, never a real secret
    # When ApiFunction runs it, then runs it again (the vendor's retry)
    first = relay.invoker.invoke("ApiFunction", event)
    again = relay.invoker.invoke("ApiFunction", event)
    # Then the customer's window on WhatsApp Official is on record, once, and neither answer is an instant reply
    assert first["statusCode"] == 200 and json.loads(first["body"]) == {"recorded": True}
    assert again["statusCode"] == 200 and json.loads(again["body"])["recorded"] is False
    ledger = Ledger(relay.client("dynamodb"), relay.table)
    assert set(ledger.last_inbound(8, ["447700900123"])) == {"447700900123"}
    assert [i["pk"] for i in scan_all(ledger) if i.get("kind") == "inbound"] == ["IN#12345#70946012"]


def test_given_the_get_event_when_signed_by_sign_event_then_the_signature_is_over_its_get_line(capsys):
    # Given events/api-get-push.json
    from relay.signing import status_payload, verify
    from relay_local.cli import main
    from relay_local.dev.session import LOCAL_SIGNING_SECRET

    # When `relay sign-event` signs it
    assert main(["sign-event", str(EVENTS / "api-get-push.json")]) == 0
    signed = json.loads(capsys.readouterr().out)
    # Then the signature is the GET one for its id, which the API accepts
    assert verify(LOCAL_SIGNING_SECRET, signed["headers"], status_payload(signed["pathParameters"]["id"]))


@pytest.mark.parametrize(("name", "says"), [("missing.json", "no event file"), ("s3-put-outbox.json", "not an API Gateway REST (v1)")])
def test_given_a_file_it_cannot_sign_when_sign_event_runs_then_one_clear_line_and_exit_2(capsys, name, says):
    from relay_local.cli import main

    assert main(["sign-event", str(EVENTS / name)]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err

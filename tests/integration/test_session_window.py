"""WhatsApp's 24-hour window at send time, over real HTTP (moto server + the Push API stand-in):
the sender decides each recipient's form just before its request (template or free-form), splits a
job whose recipients get different forms, skips captions the template replaces, records the form
and why in the ledger, and a free-form message failed by WhatsApp's closed-window error (131047)
earns exactly one template send.

Jobs are planned here directly (ledger + send queue, as relay.recording does), with a template and
no form: what the inputs (API, manifests, outbox files) plan for session `auto`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from relay.ledger import Ledger
from relay.media import MediaKind
from relay.models import Entry, Job, MediaRef, Source
from relay.sendqueue import SendQueue
from relay.signing import sign_status
from relay.templates import WINDOW_SECONDS, TemplateRef
from relay_local.dev.ledger_reads import job_items, scan_all
from relay_local.dev.serve import ApiServer
from relay_local.dev.session import LOCAL_EVENTS_SECRET, LOCAL_SIGNING_SECRET

pytestmark = pytest.mark.integration

HOUR = 3600
TEMPLATE = TemplateRef(id="invoice_doc", language="en")
REQUEST_ID = "0123456789abcdef01234567"  # an API push request id (GET /pushes/{id})


# -- helpers ------------------------------------------------------------------------------------
def book(relay) -> Ledger:
    return Ledger(relay.client("dynamodb"), relay.table)


def invoice(relay, sample) -> MediaRef:
    body = sample("invoice.pdf")
    relay.client("s3").put_object(Bucket=relay.bucket, Key="media/INV-1042.pdf", Body=body)
    return MediaRef(
        bucket=relay.bucket,
        key="media/INV-1042.pdf",
        kind=MediaKind.DOCUMENT,
        content_type="application/pdf",
        size=len(body),
        filename="INV-1042.pdf",
    )


def source(relay) -> Source:
    return Source(kind="api", bucket=relay.bucket, key=REQUEST_ID)


def entry(relay, number: str, media: MediaRef | None = None, caption_for: str | None = None, **fields) -> Entry:
    return Entry(
        rid=f"r-{number}" if caption_for is None else f"c-{number}",
        number=number,
        message=fields.pop("message", "Your invoice INV-1042"),
        media=media,
        object_pk=source(relay).object_pk,
        caption_for=caption_for,
        template_values=fields.pop("template_values", ("Ana", "INV-1042")),
        template_header=fields.pop("template_header", "INV-1042.pdf"),
        **fields,
    )


def job(relay, *entries: Entry, job_id: str = "job-1", template: TemplateRef | None = TEMPLATE, **fields) -> Job:
    return Job(job_id=job_id, application=8, entries=list(entries), template=template, sources=[source(relay).source_id], **fields)


def plan(relay, *jobs: Job) -> None:
    """What relay.recording does for an API push: the source, the ledger, then the send queue."""
    ledger = book(relay)
    ledger.begin_source(source(relay))
    ledger.write_plan([], jobs)
    SendQueue(relay.client("sqs"), relay.stack.ref("SendQueue")).enqueue(list(jobs))
    ledger.mark_planned([source(relay)], {})


def wrote_in(relay, number: str, seconds_ago: float, unique: str = "u1") -> None:
    assert book(relay).record_inbound(8, number, time.time() - seconds_ago, "p1", f"{unique}-{number}", {"message": "hi"})


def recipients(relay) -> dict[str, dict]:
    """Recipient items by rid."""
    return {i["rid"]: i for i in scan_all(book(relay)) if i.get("kind") == "recipient"}


def pushes(relay) -> dict[str, dict]:
    return {i["job_id"]: i for i in scan_all(book(relay)) if i.get("kind") == "push"}


def sent(relay) -> list[dict]:
    return [r.body_without_token() for r in relay.api.requests]


@pytest.fixture
def api(relay) -> Iterator[httpx.Client]:
    """`relay serve` over real HTTP; the test drives the queues itself (run_until_idle)."""
    with ApiServer(relay, pump=False) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        yield http


def report_failed(http: httpx.Client, row: dict, code: str = "131047", message: str = "Re-engagement message") -> dict:
    body = {
        "project_id": "1",
        "event_id": 1,
        "data": [{"number": row["number"], "msg_id": row["msg_id"], "status": 2, "error_code": code, "error_message": message}],
    }
    resp = http.post(f"/events/{LOCAL_EVENTS_SECRET}", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


# -- the window, both ways ------------------------------------------------------------------------
def test_given_a_customer_who_wrote_an_hour_ago_when_sent_then_the_invoice_goes_free_form_with_its_caption(relay, sample):
    # Given a customer who wrote an hour ago, and an invoice for them planned with a template (session auto)
    pdf = invoice(relay, sample)
    wrote_in(relay, "447700900101", HOUR)
    plan(relay, job(relay, entry(relay, "447700900101", media=pdf)))
    # When the sender runs
    assert relay.run_until_idle(timeout=60)
    # Then the invoice went free-form: the caption as the message, the PDF as media, no template
    [body] = sent(relay)
    assert body["globalmessage"] == "Your invoice INV-1042" and httpx.get(body["globalmedia"]).content == sample("invoice.pdf")
    assert "template_id" not in body and "template_globalmessage" not in body
    # and the ledger says which form went out, and why
    row = recipients(relay)["r-447700900101"]
    assert row["state"] == "accepted" and row["form"] == "freeform" and row["template_id"] == "invoice_doc"
    assert row["form_reason"] == "customer wrote 1h00m ago: inside the 24-hour window"
    assert pushes(relay)["job-1"]["form"] == "freeform" and pushes(relay)["job-1"]["template_id"] == "invoice_doc"


def test_given_a_customer_who_never_wrote_when_sent_then_the_template_goes_with_the_pdf_as_its_header(relay, sample):
    # Given two customers with no message on record, each with their own invoice
    pdf = invoice(relay, sample)
    relay.client("s3").put_object(Bucket=relay.bucket, Key="media/INV-1043.pdf", Body=sample("invoice.pdf"))
    other = pdf.model_copy(update={"key": "media/INV-1043.pdf", "filename": "INV-1043.pdf"})
    plan(
        relay,
        job(
            relay,
            entry(relay, "447700900201", media=pdf),
            entry(relay, "447700900202", media=other, template_values=("Bo", "INV-1043"), template_header="INV-1043.pdf"),
        ),
    )
    # When the sender runs
    assert relay.run_until_idle(timeout=60)
    # Then one template request: its id and language, per-recipient values, header names and header media
    [body] = sent(relay)
    assert body["template_id"] == "invoice_doc" and body["language"] == "en"
    assert "globalmessage" not in body and all("message" not in d for d in body["data"])
    data = {d["number"]: d for d in body["data"]}
    assert data["447700900201"]["template_message"] == ["Ana", "INV-1042"] and data["447700900201"]["template_header"] == "INV-1042.pdf"
    assert data["447700900202"]["template_message"] == ["Bo", "INV-1043"] and data["447700900202"]["template_header"] == "INV-1043.pdf"
    assert httpx.get(data["447700900202"]["media"]).content == sample("invoice.pdf")
    # and each recipient's entry says template, and why
    rows = recipients(relay)
    for rid in ("r-447700900201", "r-447700900202"):
        assert rows[rid]["state"] == "accepted" and rows[rid]["form"] == "template" and rows[rid]["template_id"] == "invoice_doc"
        assert rows[rid]["form_reason"] == "no message from the customer on record: outside the 24-hour window"
        assert "fallback_job" not in rows[rid]  # already the template: nothing to fall back to


@pytest.mark.parametrize(
    ("seconds_ago", "form"),
    [(WINDOW_SECONDS - 300, "template"), (WINDOW_SECONDS - 900, "freeform")],
    ids=["inside-24h-but-within-the-margin", "just-outside-the-margin"],
)
def test_given_a_window_closing_within_the_safety_margin_when_sent_then_the_template_goes(relay, sample, seconds_ago, form):
    # Given the default margin (SESSION_MARGIN_SECONDS 600) and a customer who wrote `seconds_ago`
    pdf = invoice(relay, sample)
    wrote_in(relay, "447700900301", seconds_ago)
    plan(relay, job(relay, entry(relay, "447700900301", media=pdf)))
    # When the sender runs
    assert relay.run_until_idle(timeout=60)
    # Then a window closing in 5 minutes gets the template; one closing in 15 still free-form
    [body] = sent(relay)
    assert ("template_id" in body) == (form == "template")
    row = recipients(relay)["r-447700900301"]
    assert row["form"] == form
    if form == "template":
        assert row["form_reason"] == "customer last wrote 23h55m ago: outside the 24-hour window (margin 600s)"


def test_given_a_channel_not_in_session_channels_when_sent_then_free_form_without_reading_windows(relay, sample):
    # Given the window applies only on channel 101 here, and a customer on channel 8 who never wrote
    relay.invoker.extra_env["SESSION_CHANNELS"] = "101"
    pdf = invoice(relay, sample)
    plan(relay, job(relay, entry(relay, "447700900401", media=pdf)))
    # When the sender runs
    assert relay.run_until_idle(timeout=60)
    # Then the invoice goes free-form, as before templates existed
    [body] = sent(relay)
    assert "template_id" not in body and body["globalmessage"] == "Your invoice INV-1042"
    row = recipients(relay)["r-447700900401"]
    assert row["form"] == "freeform" and row["form_reason"] == "the 24-hour window does not apply on this channel"


def test_given_a_customer_who_writes_after_planning_when_sent_then_the_decision_is_made_at_send_time(relay, sample):
    # Given an invoice planned while the customer had never written
    pdf = invoice(relay, sample)
    plan(relay, job(relay, entry(relay, "447700900501", media=pdf)))
    assert recipients(relay)["r-447700900501"]["state"] == "planned" and "form" not in recipients(relay)["r-447700900501"]
    # When the customer writes before the sender runs
    wrote_in(relay, "447700900501", 60)
    assert relay.run_until_idle(timeout=60)
    # Then the invoice goes free-form with its caption
    [body] = sent(relay)
    assert "template_id" not in body and body["globalmessage"] == "Your invoice INV-1042"
    assert recipients(relay)["r-447700900501"]["form"] == "freeform"


# -- mixed forms and captions ---------------------------------------------------------------------
def test_given_recipients_who_get_different_forms_when_sent_then_one_request_per_form(relay, sample):
    # Given one job for three customers: two wrote in recently, one never did
    pdf = invoice(relay, sample)
    wrote_in(relay, "447700900601", HOUR)
    wrote_in(relay, "447700900602", 2 * HOUR)
    plan(relay, job(relay, *(entry(relay, n, media=pdf) for n in ("447700900601", "447700900602", "447700900603"))))
    # When the sender runs
    assert relay.run_until_idle(timeout=60)
    # Then one request per form: free-form for the two, the template for the third
    bodies = sent(relay)
    assert len(bodies) == 2
    [free] = [b for b in bodies if "template_id" not in b]
    [templ] = [b for b in bodies if "template_id" in b]
    assert sorted(d["number"] for d in free["data"]) == ["447700900601", "447700900602"]
    assert [d["number"] for d in templ["data"]] == ["447700900603"]
    # and the ledger shows each recipient's form and why, once each, all accepted
    rows = recipients(relay)
    assert len(rows) == 3 and {r["state"] for r in rows.values()} == {"accepted"}
    assert {rid: r["form"] for rid, r in rows.items()} == {
        "r-447700900601": "freeform",
        "r-447700900602": "freeform",
        "r-447700900603": "template",
    }
    assert rows["r-447700900602"]["form_reason"] == "customer wrote 2h00m ago: inside the 24-hour window"
    assert rows["r-447700900603"]["form_reason"].startswith("no message from the customer on record")
    # the planned job is `split`, its parts carry their form
    jobs = pushes(relay)
    assert jobs["job-1"]["state"] == "split" and jobs["job-1"]["reason"] == "recipients get different forms: 2 freeform, 1 template"
    parts = [j for j in jobs.values() if j["job_id"] != "job-1"]
    assert sorted((p["form"], p["state"], p["recipients"]) for p in parts) == [("freeform", "accepted", 2), ("template", "accepted", 1)]
    assert job_items(book(relay), "job-1") == [jobs["job-1"]]  # the split job keeps no recipient


def test_given_a_caption_outside_the_window_when_sent_then_it_is_skipped_and_nothing_is_sent(relay, sample):
    # Given the caption of a document, as its own text message, for a customer who never wrote
    plan(relay, job(relay, entry(relay, "447700900701", caption_for="r-447700900701", message="Invoice INV-1042 attached")))
    # When the sender runs
    assert relay.run_until_idle(timeout=60)
    # Then nothing is sent: the caption is skipped with the reason, the job ends skipped
    assert relay.api.requests == []
    row = recipients(relay)["c-447700900701"]
    assert row["state"] == "skipped" and "form" not in row
    assert row["reason"].startswith("caption not sent: no message from the customer on record")
    job_item = pushes(relay)["job-1"]
    assert job_item["state"] == "skipped" and job_item["reason"].startswith("every recipient skipped: caption not sent")


def test_given_captions_inside_and_outside_the_window_when_sent_then_only_the_open_ones_go_free_form(relay, sample):
    # Given captions for two customers: one wrote in an hour ago, one never did
    wrote_in(relay, "447700900801", HOUR)
    plan(
        relay,
        job(
            relay,
            entry(relay, "447700900801", caption_for="r-447700900801", message="Invoice attached"),
            entry(relay, "447700900802", caption_for="r-447700900802", message="Invoice attached"),
        ),
    )
    # When the sender runs
    assert relay.run_until_idle(timeout=60)
    # Then one free-form request for the open window only; the other caption skipped, not split off
    [body] = sent(relay)
    assert [d["number"] for d in body["data"]] == ["447700900801"] and body["globalmessage"] == "Invoice attached"
    rows = recipients(relay)
    assert rows["c-447700900801"]["state"] == "accepted" and rows["c-447700900801"]["form"] == "freeform"
    assert rows["c-447700900802"]["state"] == "skipped"
    assert "fallback_job" not in rows["c-447700900801"]  # a caption never gets a template fallback
    assert pushes(relay)["job-1"]["state"] == "accepted"


# -- the single fallback ----------------------------------------------------------------------------
def test_given_a_free_form_message_failed_for_a_closed_window_then_one_template_fallback_and_never_another(relay, sample, api, monkeypatch):
    counted: list[tuple[str, int]] = []
    monkeypatch.setattr("relay.template_fallbacks.count", lambda name, value=1: counted.append((name, value)))
    # Given an invoice sent free-form because the ledger believed the window open
    pdf = invoice(relay, sample)
    wrote_in(relay, "447700900901", HOUR)
    plan(relay, job(relay, entry(relay, "447700900901", media=pdf, reference="inv-1042")))
    assert relay.run_until_idle(timeout=60)
    first = recipients(relay)["r-447700900901"]
    assert first["state"] == "accepted" and first["form"] == "freeform"
    fallback_job = json.loads(first["fallback_job"])  # what a fallback would send: no URL, no message
    assert fallback_job["form"] == "template" and "url" not in json.dumps(fallback_job) and "Your invoice" not in json.dumps(fallback_job)
    # When WhatsApp reports it failed: re-engagement message (131047)
    assert report_failed(api, first) == {"received": 1, "updated": 1, "unchanged": 0, "unmatched": 0, "ignored": 0}
    assert relay.run_until_idle(timeout=60)
    # Then exactly one more request: the template, with the PDF as its header, the same reference
    bodies = sent(relay)
    assert len(bodies) == 2
    templ = bodies[1]
    assert templ["template_id"] == "invoice_doc" and templ["template_globalmessage"] == ["Ana", "INV-1042"]
    assert templ["template_header"] == "INV-1042.pdf" and httpx.get(templ["globalmedia"]).content == sample("invoice.pdf")
    assert [d["number"] for d in templ["data"]] == ["447700900901"] and templ["data"][0]["reference_number"] == "inv-1042"
    # and the ledger keeps both attempts: the first failed with its reason and naming its fallback
    rows = recipients(relay)
    failed, retried = rows["r-447700900901"], rows["r-447700900901-t"]
    assert failed["state"] == "failed" and failed["reason"] == "vendor delivery status 2: error 131047: Re-engagement message"
    assert failed["fallback_rid"] == "r-447700900901-t"
    assert retried["state"] == "accepted" and retried["form"] == "template" and retried["fallback_for"] == "r-447700900901"
    assert retried["form_reason"].startswith("fallback: the free-form message r-447700900901 failed")
    assert "fallback_job" not in retried
    assert counted == [("TemplateFallbacks", 1)]

    # When the same report is replayed
    assert report_failed(api, first)["unchanged"] == 1
    assert relay.run_until_idle(timeout=60)
    # Then nothing more is planned or sent
    assert len(relay.api.requests) == 2 and len(recipients(relay)) == 2 and counted == [("TemplateFallbacks", 1)]

    # When the fallback itself fails for a closed window
    assert report_failed(api, retried)["updated"] == 1
    assert relay.run_until_idle(timeout=60)
    # Then it earns nothing more: never more than one fallback
    assert len(relay.api.requests) == 2 and len(recipients(relay)) == 2 and counted == [("TemplateFallbacks", 1)]
    assert recipients(relay)["r-447700900901-t"]["state"] == "failed"

    # and GET /pushes/{id} shows both attempts
    status = api.get(f"/pushes/{REQUEST_ID}", headers=sign_status(LOCAL_SIGNING_SECRET, REQUEST_ID))
    assert status.status_code == 200
    assert [(r["number"], r["state"]) for r in status.json()["recipients"]] == [("447700900901", "failed"), ("447700900901", "failed")]
    # each naming the other by its id: the first its fallback, the fallback the message it replaced
    by_id = {r["id"]: r for r in status.json()["recipients"]}
    assert by_id["r-447700900901"]["fallback_rid"] == "r-447700900901-t" and by_id["r-447700900901"]["form"] == "freeform"
    assert by_id["r-447700900901-t"]["fallback_for"] == "r-447700900901" and by_id["r-447700900901-t"]["form"] == "template"


@pytest.mark.parametrize(
    ("session", "code", "message"),
    [
        ("freeform", "131047", "Re-engagement message"),  # the caller asked for free-form only
        ("auto", "131026", "Message undeliverable"),  # another failure: the template would not help
    ],
)
def test_given_a_failure_that_earns_no_fallback_when_reported_then_nothing_more_is_sent(relay, sample, api, session, code, message):
    # Given an invoice sent free-form (session freeform, or auto inside the window)
    pdf = invoice(relay, sample)
    wrote_in(relay, "447700901001", HOUR)
    plan(relay, job(relay, entry(relay, "447700901001", media=pdf), template=TEMPLATE.model_copy(update={"session": session})))
    assert relay.run_until_idle(timeout=60)
    first = recipients(relay)["r-447700901001"]
    assert first["form"] == "freeform"
    # When it is reported failed
    assert report_failed(api, first, code, message)["updated"] == 1
    assert relay.run_until_idle(timeout=60)
    # Then no fallback
    assert len(relay.api.requests) == 1
    rows = recipients(relay)
    assert list(rows) == ["r-447700901001"] and rows["r-447700901001"]["state"] == "failed" and "fallback_rid" not in rows["r-447700901001"]


# -- metrics ------------------------------------------------------------------------------------------
def test_given_each_form_when_accepted_then_the_outcome_counts_recipients_per_form_and_skipped(relay, sample):
    from relay.pushapi import PushApiClient
    from relay.sending import Sender
    from relay_local.dev.session import LOCAL_TOKEN

    pdf = invoice(relay, sample)
    wrote_in(relay, "447700901101", HOUR)
    jobs = [
        job(relay, entry(relay, "447700901101", media=pdf), job_id="free"),
        job(relay, entry(relay, "447700901102", media=pdf), job_id="templ"),
        job(relay, entry(relay, "447700901103", caption_for="r-x"), entry(relay, "447700901101", caption_for="r-y"), job_id="caps"),
    ]
    book(relay).write_plan([], jobs)
    sender = Sender(
        api=PushApiClient(relay.api.url, lambda: LOCAL_TOKEN),
        ledger=book(relay),
        presign=lambda media: f"https://example.invalid/{media.key}",
    )
    assert sender.send(jobs[0]).metrics == {"RecipientsAccepted": 1, "FormFreeform": 1}
    assert sender.send(jobs[1]).metrics == {"RecipientsAccepted": 1, "FormTemplate": 1}
    assert sender.send(jobs[2]).metrics == {"RecipientsAccepted": 1, "FormFreeform": 1, "RecipientsSkipped": 1}

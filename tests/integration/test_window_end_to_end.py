"""WhatsApp's 24-hour window end to end, over real HTTP: invoices dropped into S3 with a template
in their metadata, customers whose messages reach the relay through the vendor's Global Webhook
(the stand-in posts them to POST /inbound/{secret}), the form decided at send time, and the
stand-in failing a free-form message outside its window with a 131047 delivery report that the
relay answers with exactly one template fallback."""

from __future__ import annotations

import pytest

from relay.ledger import Ledger
from relay_local.dev.demo import INVOICE_TEMPLATE as TEMPLATE_METADATA
from relay_local.dev.ledger_reads import scan_all

pytestmark = pytest.mark.integration

WROTE_AN_HOUR_AGO = "447700900801"
NEVER_WROTE = "447700900802"
#: wrote 24 h 5 min ago by the vendor's clock, but the webhook reached the relay only now (a late
#: retry): the relay believes the window open, WhatsApp does not
LATE_WEBHOOK = "447700900803"


@pytest.fixture
def standin_options() -> dict:
    return {"session_window": True}


def recipients(relay) -> dict[str, list[dict]]:
    by_number: dict[str, list[dict]] = {}
    for item in scan_all(Ledger(relay.client("dynamodb"), relay.table)):
        if item.get("kind") == "recipient":
            by_number.setdefault(item["number"], []).append(item)
    return by_number


def test_given_three_customers_when_their_invoices_are_dropped_then_each_gets_the_right_form_and_one_fallback_at_most(relay, sample):
    # Given the relay's API serving the stand-in's webhooks, and what each customer did
    relay.serve_api()
    relay.api.customer_writes(WROTE_AN_HOUR_AGO, minutes_ago=60)
    relay.api.customer_writes(LATE_WEBHOOK, minutes_ago=24 * 60 + 5)
    assert [p.status for p in relay.api.posted] == [200, 200]
    # When an invoice for each is dropped into the outbox with the template in its metadata
    s3 = relay.client("s3")
    for number in (WROTE_AN_HOUR_AGO, NEVER_WROTE, LATE_WEBHOOK):
        s3.put_object(Bucket=relay.bucket, Key=f"outbox/{number}/INV-1042.pdf", Body=sample("invoice.pdf"), Metadata=TEMPLATE_METADATA)
    assert relay.run_until_idle(timeout=60)
    # and the vendor posts its delivery reports (the late-webhook customer's free-form document and
    # its caption text failed: one report per request)
    answers = relay.api.post_reports()
    assert [a.status for a in answers] == [200, 200]
    assert relay.run_until_idle(timeout=60)
    relay.api.post_reports()  # the fallback's own report, if any (a template is never failed for the window)

    # Then the customer who wrote an hour ago got the invoice free-form, its caption as its own text
    rows = recipients(relay)
    [media, caption] = sorted(rows[WROTE_AN_HOUR_AGO], key=lambda r: bool(r.get("caption_for")))
    assert media["form"] == "freeform" and media["state"] == "accepted" and "inside the 24-hour window" in media["form_reason"]
    assert caption["form"] == "freeform" and caption["message"] == TEMPLATE_METADATA["message"] and caption["state"] == "accepted"
    # And the one who never wrote got the template, the PDF as its header; the caption was not sent
    [media, caption] = sorted(rows[NEVER_WROTE], key=lambda r: bool(r.get("caption_for")))
    assert media["form"] == "template" and media["template_id"] == "invoice_doc" and media["state"] == "accepted"
    assert caption["state"] == "skipped"
    # And the late one: free-form failed with 131047, then exactly one template send, accepted
    late = {r["rid"]: r for r in rows[LATE_WEBHOOK] if not r.get("caption_for")}
    [first] = [r for r in late.values() if not r.get("fallback_for")]
    [fallback] = [r for r in late.values() if r.get("fallback_for")]
    assert first["state"] == "failed" and first["error_code"] == "131047" and first["fallback_rid"] == fallback["rid"]
    assert fallback["fallback_for"] == first["rid"] and fallback["form"] == "template" and fallback["state"] == "accepted"
    # (its caption text failed for the window too, and earns no fallback: the template carries the message)
    [caption] = [r for r in rows[LATE_WEBHOOK] if r.get("caption_for")]
    assert caption["state"] == "failed" and caption["error_code"] == "131047" and not caption.get("fallback_rid")
    # And the vendor saw one template request per customer who needed one, each with the header
    templates = [r.body_without_token() for r in relay.api.requests if "template_id" in (r.body or {})]
    numbers = sorted(d["number"] for body in templates for d in body["data"])
    assert numbers == [NEVER_WROTE, LATE_WEBHOOK]
    header = TEMPLATE_METADATA["template-header"]
    assert all(body.get("template_header") == header or all(d.get("template_header") == header for d in body["data"]) for body in templates)
    assert all(r.response_body and r.response_body.get("status") == 100 for r in relay.api.requests)

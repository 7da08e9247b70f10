"""`relay demo` (what `make demo` runs): the main job on the embedded stack, end to end.

Uploads sample media and two manifests to the local media bucket; the S3 notifications go
through the ingest queue into IngestFunction, the planned jobs through the send queue into
SenderFunction, which talks to the Push API stand-in. Then it prints the ledger and checks that
every recipient reached a final state and that every media URL the stand-in got downloads the
right bytes. Then three more acts: a CRM's signed push through the local API (`webhook_push`),
WhatsApp's 24-hour window (`window_act`), and a Stripe-shaped signed webhook becoming a WhatsApp
invoice, its PDF downloaded from a local stand-in for pay.stripe.com (`stripe_act`).
"""

from __future__ import annotations

import json
import sys
from email.header import Header

import httpx

from relay.ledger import Ledger
from relay.lifecycle import RECIPIENT_FINAL_STATES
from relay_local.dev.ledger_reads import scan_all
from relay_local.dev.session import LocalRelay
from relay_local.ops import ledger_table
from relay_local.template import ROOT

SAMPLES = ROOT / "samples"


def mime_word(text: str) -> str:
    """User metadata is ASCII-only; SDKs send other text as RFC 2047, as done here."""
    return text if text.isascii() else Header(text, "utf-8").encode()


#: (key, sample file, caption) — per-recipient files, one push for all of them.
OUTBOX = [
    ("outbox/447700900123/photo.jpg", "media/photo.jpg", "Olá Ana, here is your photo 📸"),
    ("outbox/+44 7700 900124/invoice 2026-11.pdf", "media/invoice.pdf", "Invoice INV-1042 attached, due 30 Nov"),
    ("outbox/447700900125/clip.mp4", "media/clip.mp4", None),
    ("outbox/07700900126/photo.jpg", "media/photo.jpg", "national number without country code"),
    ("outbox/447700900127/statement.jpg", "media/invoice.pdf", "a PDF wearing a .jpg name"),
]
MEDIA = [
    ("media/chart.png", "media/chart.png"),
    ("media/photo.jpg", "media/photo.jpg"),
    ("media/brochure.pdf", "media/invoice.pdf"),
    ("media/note.mp3", "media/note.mp3"),
]
MANIFESTS = [("manifests/black-friday.json", "manifests/black-friday.json"), ("manifests/brochure.csv", "manifests/brochure.csv")]


def upload_samples(relay: LocalRelay) -> int:
    s3 = relay.client("s3")
    for key, sample in MEDIA:
        s3.put_object(Bucket=relay.bucket, Key=key, Body=(SAMPLES / sample).read_bytes())
    for key, sample, caption in OUTBOX:
        meta = {"message": mime_word(caption)} if caption else {}
        s3.put_object(Bucket=relay.bucket, Key=key, Body=(SAMPLES / sample).read_bytes(), Metadata=meta)
    for key, sample in MANIFESTS:
        s3.put_object(Bucket=relay.bucket, Key=key, Body=(SAMPLES / sample).read_bytes())
    return len(OUTBOX) + len(MANIFESTS)


def recipients(relay: LocalRelay) -> list[dict]:
    ledger = Ledger(relay.client("dynamodb"), relay.table)
    items = [i for i in scan_all(ledger) if i.get("kind") == "recipient"]
    return sorted(items, key=lambda i: (i.get("object_pk", ""), i.get("number", ""), i.get("sk", "")))


def table(rows: list[dict], window: bool = False) -> str:
    """The ledger's recipients (relay_local/ops/ledger_table.py, as `relay status` shows them: whole
    reasons, wrapped); `window`: with the form each got and why (the third act)."""
    return ledger_table.render(rows, form_reason=window)


def check_media_urls(relay: LocalRelay) -> tuple[int, list[str]]:
    """Fetch every media URL the stand-in received, as the vendor would, and compare with S3."""
    assert relay.api is not None
    s3 = relay.client("s3")
    problems, fetched = [], 0
    with httpx.Client(timeout=10) as http:
        for req in relay.api.requests:
            body = req.body or {}
            urls = [body.get("globalmedia")] + [d.get("media") for d in body.get("data", [])]
            for url in filter(None, urls):
                got = http.get(url)
                key = httpx.URL(url).path.split("/", 2)[2]
                want = s3.get_object(Bucket=relay.bucket, Key=httpx.URL(f"http://x/{key}").path[1:])["Body"].read()
                fetched += 1
                if got.status_code != 200 or got.content != want:
                    problems.append(f"{url.split('?')[0]}: HTTP {got.status_code}, {len(got.content)} bytes")
    return fetched, problems


def webhook_push(relay: LocalRelay) -> list[str]:
    """Second act: a third-party system pushes over the signed HTTP API, the vendor reports delivery."""
    from relay.signing import sign, sign_status
    from relay_local.dev.serve import ApiServer
    from relay_local.dev.session import LOCAL_EVENTS_SECRET, LOCAL_SIGNING_SECRET

    print()
    with ApiServer(relay, pump=False) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        print(f"relay serve: API on {server.url}; a CRM posts a signed push (X-Relay-Signature, Idempotency-Key)")
        body = json.dumps(
            {
                "message": "Your order #1042 has shipped",
                "media": {"key": "media/photo.jpg"},
                "recipients": [{"number": "+44 7700 900401", "reference": "order-1042"}, {"number": "447700900402"}],
            }
        ).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": "crm-order-1042", **sign(LOCAL_SIGNING_SECRET, body)}
        created = http.post("/pushes", content=body, headers=headers)
        print(f"POST /pushes → {created.status_code} {created.text}")
        unsigned = http.post("/pushes", content=body, headers={"Content-Type": "application/json"})
        print(f"the same body unsigned → {unsigned.status_code} {unsigned.text}")
        if created.status_code != 202 or unsigned.status_code != 401:
            return ["the signed push was not accepted, or the unsigned one was"]
        push_id = created.json()["id"]
        relay.run_until_idle(timeout=60)
        # a status read is signed too, over `GET /pushes/<id>` (README, "Signing requests")
        sent = http.get(f"/pushes/{push_id}", headers=sign_status(LOCAL_SIGNING_SECRET, push_id)).json()["recipients"]
        event = {
            "project_id": "demo",
            "event_id": 1,
            "data": [{"number": r["number"], "msg_id": r["msg_id"], "status": 3 if i == 0 else 1} for i, r in enumerate(sent)],
        }
        applied = http.post(f"/events/{LOCAL_EVENTS_SECRET}", json=event)
        print(f"the vendor's Event Webhook: POST /events/<secret> → {applied.status_code} {applied.text}")
        final = http.get(f"/pushes/{push_id}", headers=sign_status(LOCAL_SIGNING_SECRET, push_id)).json()
        for r in final["recipients"]:
            print(f"  GET /pushes/{push_id}: {r['number']} {r['state']} push_id={r.get('push_id')} msg_id={r.get('msg_id')}")
        if sorted(r["state"] for r in final["recipients"]) != ["delivered", "read"]:
            return [f"the webhook push did not end delivered/read: {final['counts']}"]
    return []


#: the third act's customers: (number, what they did, minutes ago they wrote or None)
CUSTOMERS = [("447700900501", "wrote an hour ago", 60), ("447700900502", "never wrote", None)]
INVOICE_TEMPLATE = {
    "template": "invoice_doc",
    "template-language": "en",
    "template-values": json.dumps(["Ana", "INV-2001"]),
    "template-header": "Invoice INV-2001.pdf",
    "message": "Your invoice INV-2001 is attached",
}


def window_act(relay: LocalRelay) -> list[str]:
    """Third act: WhatsApp's 24-hour window. One customer wrote an hour ago (the stand-in posts the
    vendor's Global Webhook to POST /inbound/<secret>), one never did; an invoice for each is
    dropped into the outbox with a template in its metadata. The sender decides each form at send
    time: free-form with the caption inside the window, the template with the PDF as its header
    outside it. The stand-in acts out the window too (a free-form message outside it would fail)."""
    assert relay.api is not None
    print()
    print("WhatsApp's 24-hour window: the stand-in now fails free-form messages outside it (131047)")
    relay.api.session_window = True
    server = relay.serve_api()
    print(f"the vendor's Global Webhook → {server.url}/inbound/<secret> (it carries no time: the relay counts from its arrival)")
    for number, did, minutes in CUSTOMERS:
        if minutes is not None:
            posted = relay.api.customer_writes(number, minutes_ago=minutes)
            print(
                f"  customer {number} {did}: POST /inbound/<secret> → {posted.status if posted else '-'} {posted.answer if posted else ''}"
            )
        else:
            print(f"  customer {number} {did}")
    s3 = relay.client("s3")
    for number, _did, _minutes in CUSTOMERS:
        key = f"outbox/{number}/INV-2001.pdf"
        s3.put_object(Bucket=relay.bucket, Key=key, Body=(SAMPLES / "media/invoice.pdf").read_bytes(), Metadata=INVOICE_TEMPLATE)
    print(f"dropped an invoice for each into outbox/ with metadata template={INVOICE_TEMPLATE['template']}; running the pollers…")
    before = len(relay.api.requests)
    if not relay.run_until_idle(timeout=60):
        return ["the window act's queues did not drain"]
    reports = relay.api.post_reports()
    relay.run_until_idle(timeout=60)
    numbers = {number for number, _d, _m in CUSTOMERS}
    rows = [r for r in recipients(relay) if r.get("number") in numbers]
    print()
    print(table(rows, window=True))
    print()
    for req in relay.api.requests[before:]:
        body = req.body_without_token() or {}
        media = "globalmedia" in body or any("media" in d for d in body.get("data", []))
        free = "free-form, the invoice with its caption" if media else "free-form text: the caption, after its document"
        form = f"template {body['template_id']} (header {body.get('template_header')!r})" if "template_id" in body else free
        print(f"  Push API request: {form} to {', '.join(d['number'] for d in body.get('data', []))}")
    print(f"  delivery reports the stand-in posted: {len(reports)} (a failed one only for a free-form message outside the window)")
    media = {r["number"]: r for r in rows if not r.get("caption_for")}
    inside, outside = (media.get(n, {}) for n, _d, _m in CUSTOMERS)
    problems = []
    if (inside.get("form"), inside.get("state")) != ("freeform", "accepted"):
        problems.append(f"the customer who wrote did not get the invoice free-form: {inside.get('form')} {inside.get('state')}")
    if (outside.get("form"), outside.get("state")) != ("template", "accepted"):
        problems.append(f"the customer who never wrote did not get the template: {outside.get('form')} {outside.get('state')}")
    if reports:
        problems.append(f"the stand-in failed {len(reports)} message(s) for the window")
    return problems


HOOK_ROUTE = "stripe-invoice"
HOOK_EVENT = ROOT / "events" / "hook-stripe-invoice.json"


def _hook_media_urls(body: dict, push_id: str) -> list[str]:
    urls = [body.get("globalmedia")] + [d.get("media") for d in body.get("data", [])]
    return [u for u in urls if u and f"/hook-media/{push_id}/" in u]


def stripe_act(relay: LocalRelay) -> list[str]:
    """Fourth act: a third-party webhook as it comes. A Stripe-shaped `invoice.finalized` event,
    signed now with the route's local secret the way Stripe signs (Stripe-Signature), is POSTed to
    /hooks/stripe-invoice (functions/routes/stripe-invoice.json). The relay answers 202 with the push
    id at once; IngestFunction then downloads the invoice PDF its `invoice_pdf` URL names (a local
    HTTPS host stands in for pay.stripe.com, relay_local/dev/media_host.py) into hook-media/<push
    id>/, checks it and sends it as a presigned S3 URL. The same delivery again gets the first
    answer and sends nothing."""
    from relay.signing import sign_status
    from relay_local.dev.hooks_local import load_route, local_hook_secret
    from relay_local.dev.session import LOCAL_SIGNING_SECRET
    from relay_local.ops.sign_hook import GATEWAY_HEADERS, body_bytes, resign_hook

    assert relay.api is not None
    print()
    route = load_route(HOOK_ROUTE)
    signed = resign_hook(json.loads(HOOK_EVENT.read_text()), HOOK_ROUTE, route, local_hook_secret(HOOK_ROUTE, route))
    body = body_bytes(signed)
    invoice = json.loads(body)["data"]["object"]
    headers = {k: v for k, v in signed["headers"].items() if k.lower() not in GATEWAY_HEADERS}
    print(
        f"a Stripe-shaped webhook: {json.loads(body)['type']} for invoice {invoice['number']}, signed now (Stripe-Signature),"
        " its PDF at https://pay.stripe.com/… (locally a HTTPS host on 127.0.0.1 stands in for pay.stripe.com)"
    )
    server = relay.serve_api()
    before = len(relay.api.requests)
    with httpx.Client(base_url=server.url, timeout=20) as http:
        first = http.post(f"/hooks/{HOOK_ROUTE}", content=body, headers=headers)
        print(f"POST /hooks/{HOOK_ROUTE} → {first.status_code} {first.text}")
        if first.status_code != 202:
            return [f"the Stripe-shaped webhook was not accepted: {first.status_code} {first.text}"]
        push_id = first.json()["id"]
        if not relay.run_until_idle(timeout=60):
            return ["the Stripe act's queues did not drain"]
        sent = [r for r in relay.api.requests[before:] if _hook_media_urls(r.body or {}, push_id)]
        if len(sent) != 1:
            return [f"the stand-in got {len(sent)} request(s) with a hook-media/{push_id}/ URL, not 1"]
        request = sent[0].body_without_token() or {}
        url = _hook_media_urls(request, push_id)[0]
        key = httpx.URL(url).path.split("/", 2)[2]
        form = f"template {request['template_id']}" if "template_id" in request else "free-form"
        print(f"  IngestFunction downloaded the PDF into {key}, checked it, and planned the push")
        print(
            f"  Push API request: {form} to {', '.join(d['number'] for d in request.get('data', []))} with a presigned URL of {key}"
            " (the customer never wrote: the route's template, the PDF as its header)"
        )
        want = (SAMPLES / "media/invoice.pdf").read_bytes()
        got = httpx.get(url, timeout=10)
        same = got.status_code == 200 and got.content == want
        print(
            f"  the presigned URL downloads {len(got.content)} bytes: {'the same as samples/media/invoice.pdf' if same else 'NOT the PDF'}"
        )
        status = http.get(f"/pushes/{push_id}", headers=sign_status(LOCAL_SIGNING_SECRET, push_id)).json()
        for r in status.get("recipients", []):
            what = "the message" if r.get("caption_for") else "the invoice"
            note = f" ({r['reason']})" if r.get("reason") else ""
            print(f"  GET /pushes/{push_id}: {what} to {r['number']} {r['state']} reference={r.get('reference')}{note}")
        again = http.post(f"/hooks/{HOOK_ROUTE}", content=body, headers=headers)
        relay.run_until_idle(timeout=60)
        extra = len(relay.api.requests) - before - 1
        print(f"the same delivery again → {again.status_code} {again.text} (the first answer; {extra} more request(s) sent)")
    problems = []
    if not same:
        problems.append(f"the presigned hook-media URL did not download the invoice PDF (HTTP {got.status_code}, {len(got.content)} bytes)")
    if [r.get("state") for r in status.get("recipients", []) if not r.get("caption_for")] != ["accepted"]:
        problems.append(f"the webhook's recipient is not accepted: {status}")
    if (again.status_code, again.text) != (first.status_code, first.text) or extra:
        problems.append(f"the same delivery again was not answered as the first, or sent again: {again.status_code} {again.text}, {extra}")
    return problems


def main(argv: list[str] | None = None) -> int:
    # the table below shows every rejection; keep the handlers' JSON logs to errors here
    with LocalRelay(env={"POWERTOOLS_LOG_LEVEL": "ERROR"}, media_host=True) as relay:
        assert relay.aws and relay.api
        print(f"embedded AWS (moto server) on {relay.aws.endpoint}; Push API stand-in on {relay.api.url}")
        print(f"stack from template.yaml: bucket {relay.bucket}, table {relay.table}")
        uploads = upload_samples(relay)
        print(f"uploaded {uploads} files (+{len(MEDIA)} media the manifests use); running the pollers…")
        if not relay.run_until_idle(timeout=120):
            print("demo: FAILED - the queues did not drain within 120 s", file=sys.stderr)
            return 1
        rows = recipients(relay)
        print()
        print(table(rows))
        print()
        requests = relay.api.requests
        states: dict[str, int] = {}
        for r in rows:
            states[r["state"]] = states.get(r["state"], 0) + 1
        print(f"{len(rows)} ledger entries: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
        per_request = [len((r.body or {}).get("data", [])) for r in requests]
        print(f"{len(requests)} Push API requests carried {sum(per_request)} messages {per_request}")
        fetched, problems = check_media_urls(relay)
        print(f"{fetched} presigned media URLs fetched from the embedded S3: {'all match' if not problems else 'MISMATCH'}")
        failures = []
        not_final = [r for r in rows if r["state"] not in RECIPIENT_FINAL_STATES]
        if not_final:
            failures.append(f"{len(not_final)} recipients are not in a final state")
        if not requests:
            failures.append("the stand-in received no request")
        if any(r.response_status != 200 or (r.response_body or {}).get("status") != 100 for r in requests):
            failures.append("the stand-in refused a request: " + json.dumps([r.response_body for r in requests]))
        failures += problems
        if failures:
            print("demo: FAILED - " + "; ".join(failures), file=sys.stderr)
            return 1
        for act in (webhook_push, window_act, stripe_act):  # the later acts, in order: each stops the demo if it fails
            failures = act(relay)
            if failures:
                print("demo: FAILED - " + "; ".join(failures), file=sys.stderr)
                return 1
        print("demo: OK")
        return 0


if __name__ == "__main__":
    sys.exit(main())

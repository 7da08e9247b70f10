"""Template sends through every input (issue 11, items 1, 5, 6): POST /pushes, manifests (JSON and
CSV) and outbox metadata, over real HTTP (moto server, the relay's API, the Push API stand-in).

Jobs with session `template` go out in the template form (relay.pushapi.build_request); a job with
session `auto` is decided at send time by the sender, so here it is only checked as planned with
its template (the ledger's `template_id`)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from relay.ledger import Ledger
from relay_local.dev.ledger_reads import scan_all
from relay_local.dev.serve import ApiServer
from tests.integration.test_api import get_status, post_push

pytestmark = pytest.mark.integration

INVOICE_IMAGE_TEMPLATE = {"id": "IMG1", "kind": "image", "languages": ["en"], "variables": 1}


@pytest.fixture
def standin_options() -> dict:
    """The stand-in approves the templates these tests send (it refuses unknown ids and value counts)."""
    from relay_local.dev.standin_templates import StandInTemplate

    return {
        "templates": [
            StandInTemplate("INV1", kind="document", variables=2, languages=("en", "pt_BR")),
            StandInTemplate("INV2", kind="document", variables=1, languages=("en",)),
            StandInTemplate("IMG1", kind="image", variables=1, languages=("en",)),
            StandInTemplate("TXT2", kind="text", variables=2, languages=("en",)),
        ]
    }


@pytest.fixture
def api(relay, sample) -> Iterator[httpx.Client]:
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/invoice.pdf", Body=sample("invoice.pdf"))
    s3.put_object(Bucket=relay.bucket, Key="media/photo.jpg", Body=sample("photo.jpg"))
    with ApiServer(relay) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        yield http


def catalogue(relay, entry: dict) -> None:
    relay.client("s3").put_object(Bucket=relay.bucket, Key=f"templates/{entry['id']}.json", Body=json.dumps(entry).encode())


def recipients(relay) -> list[dict]:
    return [i for i in scan_all(Ledger(relay.client("dynamodb"), relay.table)) if i.get("kind") == "recipient"]


def sent_bodies(relay) -> list[dict]:
    return [r.body_without_token() for r in relay.api.requests]


# -- POST /pushes ---------------------------------------------------------------------------------
def test_given_a_push_with_a_document_template_and_shared_values_when_sent_then_the_request_is_the_template(api, relay):
    # Given a push of the invoice template (session template) with the PDF as its header
    resp = post_push(
        api,
        {
            "message": "Your invoice",
            "media": {"key": "media/invoice.pdf"},
            "template": {"id": "INV1", "language": "pt_BR", "values": ["Ana", "9.50"], "header": "Invoice 17.pdf", "session": "template"},
            "recipients": [{"number": "447700900401"}, {"number": "447700900402"}],
        },
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["recipients"] == 2 and resp.json()["rejected"] == []
    # When the relay runs
    assert relay.run_until_idle(timeout=60)
    # Then one request in the template form: id, language, shared values, header name, header media
    [body] = sent_bodies(relay)
    assert body["template_id"] == "INV1" and body["language"] == "pt_BR"
    assert body["template_globalmessage"] == ["Ana", "9.50"] and body["template_header"] == "Invoice 17.pdf"
    assert "X-Amz-Signature=" in body["globalmedia"] and "globalmessage" not in body
    assert [d["number"] for d in body["data"]] == ["447700900401", "447700900402"]
    assert all("message" not in d and "template_message" not in d for d in body["data"])
    # and GET /pushes/{id} shows the template of every recipient
    status = get_status(api, resp.json()["id"]).json()
    assert {r["template_id"] for r in status["recipients"]} == {"INV1"}


def test_given_per_recipient_values_headers_and_media_when_sent_then_each_data_entry_carries_its_own(api, relay, sample):
    relay.client("s3").put_object(Bucket=relay.bucket, Key="media/invoice-2.pdf", Body=sample("invoice.pdf"))
    # Given recipients with their own values, header names and PDFs (one falls back to the shared values)
    resp = post_push(
        api,
        {
            "template": {"id": "INV2", "language": "en", "values": ["Customer"], "session": "template"},
            "recipients": [
                {"number": "447700900411", "media": {"key": "media/invoice.pdf"}, "template_values": ["Ana"], "template_header": "A.pdf"},
                {"number": "447700900412", "media": {"key": "media/invoice-2.pdf"}, "template_header": "B.pdf"},
            ],
        },
    )
    assert resp.status_code == 202, resp.text
    # When sent
    assert relay.run_until_idle(timeout=60)
    # Then per-recipient values, header names and header media in data[]
    [body] = sent_bodies(relay)
    assert "template_globalmessage" not in body and "globalmedia" not in body
    data = {d["number"]: d for d in body["data"]}
    assert data["447700900411"]["template_message"] == ["Ana"] and data["447700900411"]["template_header"] == "A.pdf"
    assert data["447700900412"]["template_message"] == ["Customer"] and data["447700900412"]["template_header"] == "B.pdf"
    assert data["447700900411"]["media"] != data["447700900412"]["media"]
    assert httpx.get(data["447700900412"]["media"]).content == sample("invoice.pdf")


def test_given_session_auto_when_pushed_then_every_recipient_is_planned_with_the_template(api, relay):
    # Given a push with a template and the default session (auto)
    resp = post_push(
        api,
        {
            "message": "Your invoice",
            "media": {"key": "media/invoice.pdf"},
            "template": {"id": "INV1", "language": "en", "values": ["Ana"]},
            "recipients": [{"number": "447700900421"}],
        },
    )
    assert resp.status_code == 202, resp.text
    # Then the recipient and its caption text are in the ledger with the template (the form is the sender's)
    rows = recipients(relay)
    assert len(rows) == 2 and {r["template_id"] for r in rows} == {"INV1"}
    assert {r.get("caption_for") is not None for r in rows} == {True, False}


@pytest.mark.parametrize(
    ("template", "recipient", "field", "says"),
    [
        ({"id": "INV1", "language": "en", "values": ["a\nb"]}, {}, "template.values", "contains a newline"),
        ({"id": "INV1", "language": "en", "values": [""]}, {}, "template.values", "is empty"),
        (
            {"id": "INV1", "language": "en"},
            {"template_values": ["a     b"]},
            "recipients.0.template_values",
            "more than four consecutive spaces",
        ),
        ({"id": "INV1", "language": "en", "header": "x" * 61}, {}, "template.header", "at most 60 characters"),
        ({"id": "INV 1", "language": "en"}, {}, "template.id", "pattern"),
        ({"id": "INV1", "language": "english"}, {}, "template.language", "pattern"),
        ({"id": "INV1", "language": "en", "session": "maybe"}, {}, "template.session", "'auto', 'template' or 'freeform'"),
        (None, {"template_values": ["Ana"]}, "recipients.0.template_values", "needs the push's `template`"),
        (None, {"template_header": "A.pdf"}, "recipients.0.template_header", "needs the push's `template`"),
    ],
)
def test_given_malformed_template_input_when_pushed_then_422_names_the_field_and_nothing_is_planned(
    api, relay, template, recipient, field, says
):
    # Given a push whose template input is malformed
    body = {"media": {"key": "media/invoice.pdf"}, "recipients": [{"number": "447700900431", **recipient}]}
    if template is not None:
        body["template"] = template
    # When posted
    resp = post_push(api, body)
    # Then 422 names the field and says what is wrong, and nothing is planned or sent
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"].startswith(field), resp.json()
    assert says in resp.json()["message"], resp.json()
    assert relay.run_until_idle(timeout=30)
    assert relay.api.requests == [] and recipients(relay) == []


def test_given_an_image_template_in_the_catalogue_when_pushed_with_a_pdf_then_the_recipient_is_rejected_with_the_reason(api, relay):
    # Given the catalogue says IMG1 is an image template
    catalogue(relay, INVOICE_IMAGE_TEMPLATE)
    # When a push sends it with a PDF, and another recipient with a photo
    resp = post_push(
        api,
        {
            "template": {"id": "IMG1", "language": "en", "values": ["Ana"], "session": "template"},
            "recipients": [
                {"number": "447700900441", "media": {"key": "media/invoice.pdf"}},
                {"number": "447700900442", "media": {"key": "media/photo.jpg"}},
            ],
        },
    )
    # Then the PDF recipient is rejected with the catalogue's reason, the photo one is sent
    assert resp.status_code == 202, resp.text
    assert resp.json()["rejected"] == [{"number": "447700900441", "reason": "template IMG1 is an image template; the media is document"}]
    assert relay.run_until_idle(timeout=60)
    [body] = sent_bodies(relay)
    assert body["template_id"] == "IMG1" and [d["number"] for d in body["data"]] == ["447700900442"]
    states = {r["number"]: r["state"] for r in get_status(api, resp.json()["id"]).json()["recipients"]}
    assert states == {"447700900441": "rejected", "447700900442": "accepted"}


def test_given_an_invalid_catalogue_entry_when_pushed_then_recipients_are_rejected_saying_so(api, relay):
    relay.client("s3").put_object(Bucket=relay.bucket, Key="templates/INV1.json", Body=b"{not json")
    resp = post_push(
        api,
        {"media": {"key": "media/invoice.pdf"}, "template": {"id": "INV1", "language": "en"}, "recipients": [{"number": "447700900451"}]},
    )
    assert resp.status_code == 202, resp.text
    [rejected] = resp.json()["rejected"]
    assert rejected["reason"].startswith("catalogue entry templates/INV1.json is invalid: not JSON")


# -- manifests ------------------------------------------------------------------------------------
def test_given_a_json_manifest_with_a_template_when_uploaded_then_values_and_headers_are_filled_per_row(relay, sample):
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/invoice.pdf", Body=sample("invoice.pdf"))
    # Given a manifest of the invoice template with {column} placeholders in its values and header
    manifest = {
        "media": "media/invoice.pdf",
        "template_id": "INV1",
        "template_language": "en",
        "template_values": ["{name}", "{amount}"],
        "template_header": "Invoice {invoice}.pdf",
        "session": "template",
        "recipients": [
            {"number": "447700900501", "name": "Ana", "amount": "9.50", "invoice": "17"},
            {"number": "447700900502", "name": "Bo", "amount": "3.00", "invoice": "18"},
            {"number": "447700900503", "name": "Cy", "invoice": "19"},
            {"number": "447700900504", "name": "Di", "amount": "", "invoice": "20"},
        ],
    }
    s3.put_object(Bucket=relay.bucket, Key="manifests/invoices.json", Body=json.dumps(manifest).encode())
    # When the relay runs
    assert relay.run_until_idle(timeout=60)
    # Then one template request with each row's values and header name, the PDF as shared header media
    [body] = sent_bodies(relay)
    assert body["template_id"] == "INV1" and body["language"] == "en" and "X-Amz-Signature=" in body["globalmedia"]
    data = {d["number"]: d for d in body["data"]}
    assert set(data) == {"447700900501", "447700900502"}
    assert data["447700900501"]["template_message"] == ["Ana", "9.50"] and data["447700900501"]["template_header"] == "Invoice 17.pdf"
    assert data["447700900502"]["template_message"] == ["Bo", "3.00"] and data["447700900502"]["template_header"] == "Invoice 18.pdf"
    # and the rows whose values cannot be filled are rejected per row, with the value named
    reasons = {r["number"]: r["reason"] for r in recipients(relay) if r["state"] == "rejected"}
    assert reasons == {
        "447700900503": "row 3: template value 2 uses {amount} but the row has no column 'amount'",
        "447700900504": "template value 2 ({{2}}) is empty",
    }


def test_given_a_csv_manifest_with_a_template_when_uploaded_then_it_is_sent_as_the_template(relay, sample):
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/invoice.pdf", Body=sample("invoice.pdf"))
    csv = (
        "# media: media/invoice.pdf\n# template_id: INV1\n# template_language: en\n"
        '# template_values: ["{name}"]\n# session: template\n'
        "number,name\n447700900511,Ana\n447700900512,Bo\n"
    )
    s3.put_object(Bucket=relay.bucket, Key="manifests/invoices.csv", Body=csv.encode())
    assert relay.run_until_idle(timeout=60)
    [body] = sent_bodies(relay)
    assert body["template_id"] == "INV1"
    assert {d["number"]: d["template_message"] for d in body["data"]} == {"447700900511": ["Ana"], "447700900512": ["Bo"]}


def test_given_malformed_template_settings_when_a_manifest_is_uploaded_then_the_manifest_is_refused_with_the_reason(relay):
    s3 = relay.client("s3")
    manifest = {"template_id": "INV1", "template_values": ["{name}"], "recipients": [{"number": "447700900521", "name": "Ana"}]}
    s3.put_object(Bucket=relay.bucket, Key="manifests/bad.json", Body=json.dumps(manifest).encode())
    assert relay.run_until_idle(timeout=60)
    assert relay.api.requests == []
    [row] = recipients(relay)
    assert row["state"] == "rejected" and row["reason"] == "manifest refused: template_id needs template_language"


def test_given_an_image_template_in_the_catalogue_when_a_manifest_sends_it_with_a_pdf_then_each_row_is_rejected(relay, sample):
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/invoice.pdf", Body=sample("invoice.pdf"))
    catalogue(relay, INVOICE_IMAGE_TEMPLATE)
    manifest = {
        "media": "media/invoice.pdf",
        "template_id": "IMG1",
        "template_language": "en",
        "template_values": ["{name}"],
        "recipients": [{"number": "447700900531", "name": "Ana"}, {"number": "447700900532", "name": "Bo"}],
    }
    s3.put_object(Bucket=relay.bucket, Key="manifests/images.json", Body=json.dumps(manifest).encode())
    assert relay.run_until_idle(timeout=60)
    assert relay.api.requests == []
    rows = recipients(relay)
    assert len(rows) == 2
    assert {(r["state"], r["reason"]) for r in rows} == {("rejected", "template IMG1 is an image template; the media is document")}


# -- outbox files ---------------------------------------------------------------------------------
def test_given_outbox_files_with_template_metadata_when_uploaded_then_they_are_sent_as_the_template(relay, sample):
    s3 = relay.client("s3")
    # Given two invoices whose metadata ask for the invoice template (per-recipient values and header)
    for number, name in (("447700900601", "Ana"), ("447700900602", "Bo")):
        s3.put_object(
            Bucket=relay.bucket,
            Key=f"outbox/{number}/invoice.pdf",
            Body=sample("invoice.pdf"),
            Metadata={
                "message": "Your invoice",
                "template": "INV1",
                "template-language": "en",
                "template-values": json.dumps([name, "9.50"]),
                "template-header": f"Invoice {name}.pdf",
                "session": "template",
            },
        )
    # When the relay runs
    assert relay.run_until_idle(timeout=60)
    # Then one template request with per-recipient values, header names and header media
    [body] = sent_bodies(relay)
    assert body["template_id"] == "INV1" and body["language"] == "en" and "globalmedia" not in body
    data = {d["number"]: d for d in body["data"]}
    assert data["447700900601"]["template_message"] == ["Ana", "9.50"] and data["447700900601"]["template_header"] == "Invoice Ana.pdf"
    assert data["447700900602"]["template_message"] == ["Bo", "9.50"] and "X-Amz-Signature=" in data["447700900602"]["media"]
    assert all("message" not in d for d in data.values())


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (
            {"template": "INV1", "template-language": "en", "template-values": "Ana"},
            "metadata template-values is not a JSON list of strings",
        ),
        (
            {"template": "INV1", "template-language": "en", "template-values": "[1]"},
            "metadata template-values is not a JSON list of strings",
        ),
        ({"template": "INV1"}, "metadata template needs metadata template-language"),
        ({"template-values": '["Ana"]'}, "metadata template-values needs metadata template (the template id)"),
        ({"template": "INV1", "template-language": "en", "session": "never"}, "metadata session:"),
        ({"template": "INV1", "template-language": "en", "template-values": '["a\\tb"]'}, "template value 1 ({{1}}) contains a tab"),
        ({"template": "INV1", "template-language": "en", "template-header": "x" * 70}, "template_header is 70 characters; the limit is 60"),
    ],
)
def test_given_malformed_template_metadata_when_an_outbox_file_is_uploaded_then_the_recipient_is_rejected_with_the_reason(
    relay, sample, metadata, reason
):
    relay.client("s3").put_object(Bucket=relay.bucket, Key="outbox/447700900611/invoice.pdf", Body=sample("invoice.pdf"), Metadata=metadata)
    assert relay.run_until_idle(timeout=60)
    assert relay.api.requests == []
    [row] = recipients(relay)
    assert row["state"] == "rejected" and row["reason"].startswith(reason), row["reason"]


def test_given_a_text_template_with_values_and_no_message_when_pushed_then_it_goes_as_the_template_without_media(api, relay):
    # Given a text template (no header media) with values and no message: nothing to send free-form
    resp = post_push(
        api,
        {"template": {"id": "TXT2", "language": "en", "values": ["Ana", "#1042"]}, "recipients": [{"number": "447700900461"}]},
    )
    assert resp.status_code == 202 and resp.json()["rejected"] == [], resp.text
    # When sent
    assert relay.run_until_idle(timeout=60)
    # Then the vendor got the template with its values and no media, and accepted it
    [body] = sent_bodies(relay)
    assert body["template_id"] == "TXT2" and body["template_globalmessage"] == ["Ana", "#1042"]
    assert "globalmedia" not in body and all("media" not in d for d in body["data"])
    [status] = get_status(api, resp.json()["id"]).json()["recipients"]
    assert status["state"] == "accepted" and status["form"] == "template" and status["template_id"] == "TXT2"

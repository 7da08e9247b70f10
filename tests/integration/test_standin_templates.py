"""The stand-in's template messages over real loopback HTTP: which template requests it refuses
(410 "Invalid request: …", our assumption of the vendor's answer), which it accepts like a media
push, its control endpoint for templates, and its template-status endpoint."""

from __future__ import annotations

import httpx
import pytest

from relay_local.dev.ports import free_port
from relay_local.dev.standin import PushApiStandIn
from relay_local.dev.standin_templates import StandInTemplate
from tests.integration.conftest import STANDIN_TOKEN as TOKEN

pytestmark = pytest.mark.integration

PDF = "https://media.example/inv.pdf"


def invoice(*entries: dict, **top: object) -> dict:
    """A push of the default `invoice_doc` template (document, 2 variables, en + pt_BR)."""
    body: dict = {
        "token": TOKEN,
        "application": "8",
        "template_id": "invoice_doc",
        "language": "en",
        "template_globalmessage": ["Ana", "INV-1042"],
        "globalmedia": PDF,
        "data": list(entries) or [{"number": "447700900123"}],
    }
    body.update(top)
    return body


def refused(response: httpx.Response, *words: str) -> str:
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == 410, answer
    assert answer["message"].startswith("Invalid request: ")
    for word in words:
        assert word in answer["message"], answer["message"]
    assert "push_id" not in answer
    return str(answer["message"])


# -- accepted ------------------------------------------------------------------------------------
def test_given_a_known_template_with_the_right_values_when_pushed_then_it_is_accepted_like_a_media_push(standin, client):
    # Given the default templates
    # When a document template goes to two numbers, one with its own values and header name
    body = invoice(
        {"number": "447700900123"},
        {"number": "447700900124", "template_message": ["Bruno", "INV-1043"], "template_header": "Invoice INV-1043.pdf"},
    )
    answer = client.post("/api/v2/push", json=body).json()

    # Then it is accepted with a push id and one msg id per number
    assert answer["status"] == 100 and answer["push_id"]
    assert [r["number"] for r in answer["data"]] == ["447700900123", "447700900124"]
    assert all(r["msg_id"] for r in answer["data"])
    assert standin.requests[-1].accepted


def test_given_a_text_template_when_pushed_without_media_or_message_then_it_is_accepted(client):
    # Given `order_text` (text, 2 variables): a template needs no message (the vendor builds it)
    body = {
        "token": TOKEN,
        "application": 8,
        "template_id": "order_text",
        "data": [{"number": "5511987654321", "language": "en", "template_message": ["A-1", "Friday"]}],
    }
    # When pushed, Then accepted
    assert client.post("/api/v2/push", json=body).json()["status"] == 100


def test_given_a_second_language_when_pushed_in_it_then_it_is_accepted(client):
    # Given invoice_doc has pt_BR too; When pushed in pt_BR; Then accepted
    assert client.post("/api/v2/push", json=invoice(language="pt_BR")).json()["status"] == 100


# -- refused: each rule ----------------------------------------------------------------------------
def test_given_an_unknown_template_id_when_pushed_then_it_is_refused_naming_it(standin, client):
    # When a template the stand-in does not know is pushed
    response = client.post("/api/v2/push", json=invoice(template_id="XY6479"))
    # Then 410 names the id, nothing is accepted
    refused(response, "unknown template_id", "XY6479")
    assert not standin.requests[-1].accepted


@pytest.mark.parametrize("language", ["es", "pt_PT"])
def test_given_a_language_the_template_does_not_have_when_pushed_then_it_is_refused(client, language):
    refused(client.post("/api/v2/push", json=invoice(language=language)), "no language", language)


def test_given_no_language_anywhere_when_pushed_then_it_is_refused(client):
    body = invoice()
    del body["language"]
    refused(client.post("/api/v2/push", json=body), "language is required")


@pytest.mark.parametrize("values", [["Ana"], ["Ana", "INV-1", "extra"], []])
def test_given_a_wrong_number_of_shared_values_when_pushed_then_it_is_refused(client, values):
    refused(client.post("/api/v2/push", json=invoice(template_globalmessage=values)), "takes 2 values", f"{len(values)} given")


def test_given_one_recipient_with_a_wrong_number_of_own_values_when_pushed_then_the_request_is_refused_naming_it(client):
    # Given the first recipient is right (shared values) and the second has one value of its own
    body = invoice({"number": "447700900123"}, {"number": "447700900124", "template_message": ["Bruno"]})
    # Then the request is refused, naming data[1]
    refused(client.post("/api/v2/push", json=body), "data[1]", "1 given")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("two\nlines", "newline or tab"),
        ("a\ttab", "newline or tab"),
        ("five     spaces", "more than four consecutive spaces"),
    ],
)
def test_given_a_value_whatsapp_refuses_when_pushed_then_it_is_refused_naming_its_position(client, value, says):
    refused(client.post("/api/v2/push", json=invoice(template_globalmessage=["Ana", value])), "template value 2", says)


def test_given_four_consecutive_spaces_when_pushed_then_it_is_still_accepted(client):
    # the limit is MORE than four
    assert client.post("/api/v2/push", json=invoice(template_globalmessage=["Ana", "a    b"])).json()["status"] == 100


def test_given_a_header_name_over_60_characters_when_pushed_then_it_is_refused(client):
    ok = client.post("/api/v2/push", json=invoice(template_header="x" * 56 + ".pdf"))
    assert ok.json()["status"] == 100  # exactly 60
    refused(client.post("/api/v2/push", json=invoice(template_header="x" * 57 + ".pdf")), "template_header", "60")


def test_given_a_header_name_on_an_image_template_when_pushed_then_it_is_refused(client):
    body = invoice(template_id="ticket_image", template_globalmessage=["A-7"], globalmedia="https://m.example/t.jpg")
    body["template_header"] = "ticket.jpg"
    refused(client.post("/api/v2/push", json=body), "only for document templates")


def test_given_a_media_template_without_media_when_pushed_then_it_is_refused(client):
    body = invoice()
    del body["globalmedia"]
    refused(client.post("/api/v2/push", json=body), "document template", "header media")


def test_given_a_template_on_another_channel_when_pushed_then_it_is_refused(client):
    refused(client.post("/api/v2/push", json=invoice(application="10")), "application 8")


def test_given_a_template_request_with_a_wrong_token_when_pushed_then_401_comes_first(client):
    answer = client.post("/api/v2/push", json=invoice(token="nope", template_id="XY6479")).json()
    assert answer == {"status": 401, "message": "Authentication failed"}


# -- configuring templates ---------------------------------------------------------------------------
def test_given_templates_from_the_constructor_when_pushed_then_only_those_are_known():
    # Given a stand-in that knows one template of its own
    mine = StandInTemplate("promo_video", kind="video", variables=0, languages=("es",))
    with PushApiStandIn(port=free_port(), token=TOKEN, templates=[mine]) as api, httpx.Client(base_url=api.base_url) as c:
        video = {"token": TOKEN, "application": 8, "template_id": "promo_video", "language": "es", "globalmedia": "https://m.example/v.mp4"}
        # When it and a default one are pushed
        ok = c.post("/api/v2/push", json={**video, "data": [{"number": "34612345678"}]})
        default = c.post("/api/v2/push", json=invoice())
    # Then its own is accepted, the default one is unknown
    assert ok.json()["status"] == 100
    refused(default, "unknown template_id", "invoice_doc")


def test_given_the_control_endpoint_when_templates_are_posted_then_they_are_added_replaced_and_removed(standin, client):
    # When one template is added, one changed and one removed
    answer = client.post(
        "/_templates",
        json={"welcome": {"languages": ["en", "fr"], "kind": "text", "variables": 1}, "order_text": {"variables": 3}, "ticket_image": None},
    )
    assert answer.status_code == 200
    # Then GET /_templates lists what it knows now
    known = client.get("/_templates").json()
    assert sorted(known) == ["invoice_doc", "order_text", "welcome"]
    assert known["welcome"]["languages"] == ["en", "fr"] and known["order_text"]["variables"] == 3
    # And pushes follow the new definitions
    body = {"token": TOKEN, "application": 8, "template_id": "welcome", "language": "fr", "template_globalmessage": ["Zoé"]}
    assert client.post("/api/v2/push", json={**body, "data": [{"number": "33612345678"}]}).json()["status"] == 100
    refused(client.post("/api/v2/push", json=invoice(template_id="ticket_image")), "unknown template_id")


@pytest.mark.parametrize(
    "bad",
    [["not", "an", "object"], {"x": {"kind": "audio"}}, {"x": {"variables": -1}}, {"x": {"languages": []}}, {"x": {"colour": "red"}}],
)
def test_given_a_bad_template_definition_when_posted_then_400_and_nothing_changes(client, bad):
    before = client.get("/_templates").json()
    answer = client.post("/_templates", json=bad)
    assert answer.status_code == 400 and "Bad templates" in answer.json()["message"]
    assert client.get("/_templates").json() == before


# -- template-status -----------------------------------------------------------------------------------
def test_given_the_default_templates_when_their_status_is_asked_then_one_row_per_template_and_language(client):
    # When the template-status endpoint is asked without a template id
    answer = client.post("/api/v2/template-status", json={"token": TOKEN}).json()
    # Then every template is listed, approved, with its kind as message_type and its variables
    assert answer["status"] == 100
    rows = {(r["template_id"], r["language"]): r for r in answer["data"]}
    assert sorted(rows) == [("invoice_doc", "en"), ("invoice_doc", "pt_BR"), ("order_text", "en"), ("ticket_image", "en")]
    assert rows[("invoice_doc", "en")]["message_type"] == 3 and rows[("invoice_doc", "en")]["variables"] == 2
    assert rows[("ticket_image", "en")]["message_type"] == 2 and rows[("order_text", "en")]["message_type"] == 1
    assert all(r["template_status"] == "approved" for r in rows.values())
    assert "{{1}}" in rows[("order_text", "en")]["body"] and "{{2}}" in rows[("order_text", "en")]["body"]


def test_given_one_template_id_when_its_status_is_asked_then_only_its_rows(client):
    answer = client.post("/app/api/v2/template-status", json={"token": TOKEN, "template_id": "ticket_image"}).json()
    assert answer["status"] == 100 and [r["template_id"] for r in answer["data"]] == ["ticket_image"]


def test_given_a_wrong_token_when_template_status_is_asked_then_401_like_the_push(client):
    answer = client.post("/api/v2/template-status", json={"token": "wrong"})
    assert answer.status_code == 200 and answer.json() == {"status": 401, "message": "Authentication failed"}
    assert TOKEN not in answer.text


def test_given_a_get_when_template_status_is_asked_then_405_naming_post(client):
    answer = client.get("/api/v2/template-status")
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"


# -- the relay's own template form (relay.pushapi.build_request) --------------------------------------
def test_given_the_relays_template_form_for_shared_and_own_values_when_pushed_then_the_standin_accepts_both(client):
    from relay.models import Entry, Job, MediaRef
    from relay.pushapi import build_request
    from relay.templates import TemplateRef

    pdf = MediaRef(bucket="b", key="outbox/x/inv.pdf", kind="document", content_type="application/pdf", size=10, filename="inv.pdf")

    def entry(n: int, values: list[str], header: str | None = None) -> Entry:
        number = f"44770090{n:04d}"
        return Entry(rid=f"r{n}", number=number, media=pdf, template_values=values, template_header=header, object_pk=f"OBJ#b/{n}")

    def presign(ref: object) -> str:
        return PDF

    # Given the relay's request bodies for a document template: shared values, and each recipient's own
    invoice_ref = TemplateRef(id="invoice_doc", language="pt_BR")
    shared = Job(
        job_id="j1", application=8, entries=[entry(1, ["Ana", "INV-1"]), entry(2, ["Ana", "INV-1"])], template=invoice_ref, form="template"
    )
    own = Job(
        job_id="j2",
        application=8,
        entries=[entry(3, ["Ana", "INV-3"], "INV-3.pdf"), entry(4, ["Bruno", "INV-4"], "INV-4.pdf")],
        template=invoice_ref,
        form="template",
    )
    for job in (shared, own):
        body = {"token": TOKEN, **build_request(job, presign)}
        # When pushed, Then the stand-in accepts it
        answer = client.post("/api/v2/push", json=body).json()
        assert answer["status"] == 100, (body, answer)
    # And a value the relay should have refused is refused by the stand-in too
    bad = Job(job_id="j3", application=8, entries=[entry(5, ["Ana", "two\nlines"])], template=invoice_ref, form="template")
    refused(client.post("/api/v2/push", json={"token": TOKEN, **build_request(bad, presign)}), "template value 2")

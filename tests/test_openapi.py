"""The committed OpenAPI document is the one the code generates (refresh: `relay openapi > docs/openapi.json`)."""

import json

from relay_local.ops.openapi import COMMITTED, document


def test_given_the_code_when_the_openapi_document_is_generated_then_it_matches_the_committed_one():
    generated = document()
    assert json.loads(generated) == json.loads(COMMITTED.read_text()), (
        "docs/openapi.json is out of date: run `.venv/bin/relay openapi > docs/openapi.json` and commit it"
    )


def test_given_the_document_then_every_route_of_the_template_is_in_it_with_its_answers():
    doc = json.loads(COMMITTED.read_text())
    assert set(doc["paths"]) == {"/pushes", "/pushes/{id}", "/events/{secret}", "/inbound/{secret}", "/hooks/{route}"}
    post = doc["paths"]["/pushes"]["post"]
    assert {"202", "401", "409", "413", "422"} <= set(post["responses"])
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PushRequest")
    request = doc["components"]["schemas"]["PushRequest"]
    assert request["properties"]["recipients"]["maxItems"] == 1000


def test_given_the_document_then_the_status_read_documents_its_401_and_the_vendor_error_fields():
    doc = json.loads(COMMITTED.read_text())
    assert {"200", "401", "404"} <= set(doc["paths"]["/pushes/{id}"]["get"]["responses"])
    assert {"error_code", "error_message"} <= set(doc["components"]["schemas"]["RecipientStatus"]["properties"])


def test_given_the_document_then_the_inbound_answer_has_no_instant_reply_field():
    doc = json.loads(COMMITTED.read_text())
    answer = doc["paths"]["/inbound/{secret}"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert answer.endswith("/InboundRecorded")
    assert set(doc["components"]["schemas"]["InboundRecorded"]["properties"]) == {"recorded", "reason"}


def test_given_the_document_then_the_hooks_route_documents_each_answer_and_the_queued_state():
    doc = json.loads(COMMITTED.read_text())
    answers = doc["paths"]["/hooks/{route}"]["post"]["responses"]
    assert {"200", "202", "400", "401", "404", "413"} <= set(answers)
    assert answers["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/HookAccepted")
    either = answers["200"]["content"]["application/json"]["schema"]["anyOf"]
    assert sorted(s["$ref"].rsplit("/", 1)[1] for s in either) == ["HookAccepted", "HookIgnored"]
    assert doc["components"]["schemas"]["PushStatus"]["properties"]["state"]["anyOf"][0]["const"] == "queued"

"""`relay templates pull` reads the vendor's (unofficial) template-status answer tolerantly: several
shapes give the same catalogue, and a row it cannot read is skipped with the reason, never a crash."""

from __future__ import annotations

import pytest

from relay.templates import CatalogueEntry
from relay_local.ops.templates_pull import PullError, parse_answer, status_url

INVOICE = CatalogueEntry(id="invoice_doc", languages=["en", "pt_BR"], kind="document", variables=2, name="invoice_doc", status="approved")

SHAPES = {
    "the stand-in's: data list, one row per language, message_type as int": {
        "status": 100,
        "data": [
            {
                "template_id": "invoice_doc",
                "template_name": "invoice_doc",
                "template_status": "approved",
                "language": "en",
                "message_type": 3,
                "variables": 2,
            },
            {
                "template_id": "invoice_doc",
                "template_name": "invoice_doc",
                "template_status": "approved",
                "language": "pt_BR",
                "message_type": 3,
                "variables": 2,
            },
        ],
    },
    "templates dict by id, kind by name, languages as a list, variables from the body": {
        "status": "100",
        "templates": {
            "invoice_doc": {
                "name": "invoice_doc",
                "status": "APPROVED",
                "type": "DOCUMENT",
                "languages": ["en", "pt_BR"],
                "body": "Hi {{1}}, invoice {{2}} (again {{1}})",
            }
        },
    },
    "a bare list, integer-like strings, comma-separated languages, a count as a string": [
        {
            "id": "invoice_doc",
            "template_name": "invoice_doc",
            "template_status": "Approved",
            "message_type": "3",
            "language": "en, pt_BR",
            "variable_count": "2",
        }
    ],
    "data.templates, messages[] with language and text": {
        "data": {
            "templates": [
                {
                    "templateId": "invoice_doc",
                    "name": "invoice_doc",
                    "template_status": "approved",
                    "kind": "pdf",
                    "messages": [{"language": "en", "message": "Dear {{1}}, {{2}}"}, {"language": "pt_BR", "message": "Caro {{1}}, {{2}}"}],
                }
            ]
        }
    },
    "one row, not in a list": {
        "status": 100,
        "data": {
            "template_id": "invoice_doc",
            "template_name": "invoice_doc",
            "template_status": "approved",
            "language": ["en", "pt_BR"],
            "message_type": 3,
            "variables": ["name", "number"],
        },
    },
}


@pytest.mark.parametrize("answer", SHAPES.values(), ids=SHAPES.keys())
def test_given_an_answer_shape_when_parsed_then_the_same_catalogue_entry(answer):
    # When a shape the vendor might answer is parsed
    parsed = parse_answer(answer)
    # Then it gives the one entry, nothing skipped
    assert parsed.skipped == []
    assert parsed.entries == {"invoice_doc": INVOICE}


def test_given_integer_ids_and_every_kind_when_parsed_then_ids_are_text_and_kinds_are_named():
    answer = {"data": [{"template_id": 1001 + n, "message_type": n, "language": "en", "variables": 0} for n in (1, 2, 3, 4)]}
    parsed = parse_answer(answer)
    assert {k: e.kind for k, e in parsed.entries.items()} == {"1002": "text", "1003": "image", "1004": "document", "1005": "video"}


def test_given_unreadable_rows_among_good_ones_when_parsed_then_each_is_skipped_with_why_and_the_good_ones_kept():
    # Given a good row and five it cannot read
    answer = {
        "status": 100,
        "data": [
            {"template_id": "order_text", "message_type": 1, "language": "en", "body": "Order {{1}} ships {{2}}"},
            "not an object",
            {"template_name": "no_id", "message_type": 1},
            {"template_id": "audio_tpl", "message_type": 7},
            {"template_id": "no_kind", "language": "en"},
            {"template_id": "../../etc/passwd", "message_type": 1},
        ],
    }
    # When parsed, Then nothing raises, the good row is kept
    parsed = parse_answer(answer)
    assert list(parsed.entries) == ["order_text"] and parsed.entries["order_text"].variables == 2
    # And each bad row is named with the reason
    reasons = dict(parsed.skipped)
    assert reasons["row 2"].startswith("not an object")
    assert reasons["row 3"] == "no template_id"
    assert "unknown template kind 7" in reasons["audio_tpl"]
    assert "unknown template kind None" in reasons["no_kind"]
    assert "bucket key" in reasons["../../etc/passwd"]


@pytest.mark.parametrize("answer", [None, "text", 42, [], {}, {"status": 100, "data": []}, {"data": None}])
def test_given_an_answer_with_no_rows_when_parsed_then_an_empty_catalogue(answer):
    parsed = parse_answer(answer)
    assert parsed.entries == {}


def test_given_no_count_and_no_body_when_parsed_then_variables_are_not_checked():
    parsed = parse_answer({"data": [{"template_id": "t1", "message_type": 2, "language": "en", "template_status": "pending"}]})
    assert parsed.entries["t1"].variables is None and parsed.entries["t1"].status == "pending"


def test_given_two_languages_that_disagree_on_the_count_when_merged_then_the_count_is_not_checked():
    rows = [{"template_id": "t1", "message_type": 1, "language": lang, "variables": n} for lang, n in (("en", 2), ("es", 3))]
    entry = parse_answer({"data": rows}).entries["t1"]
    assert entry.languages == ["en", "es"] and entry.variables is None


@pytest.mark.parametrize(
    ("push", "status"),
    [
        ("https://app.pickyassist.com/api/v2/push", "https://app.pickyassist.com/api/v2/template-status"),
        ("https://pickyassist.com/app/api/v2/push/", "https://pickyassist.com/app/api/v2/template-status"),
    ],
)
def test_given_a_push_url_then_the_template_status_url_is_beside_it(push, status):
    assert status_url(push) == status


def test_given_a_url_not_ending_in_push_then_a_clear_error():
    with pytest.raises(PullError, match="does not end in /push"):
        status_url("https://example.com/api/v2/send")

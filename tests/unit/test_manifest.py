"""Campaign manifests (JSON and CSV) and {column} placeholders."""

import json

import pytest

from relay.manifest import ManifestError, PlaceholderError, parse_manifest, render


def test_given_a_json_manifest_when_parsed_then_settings_and_rows_are_read():
    doc = {
        "application": 8,
        "priority": 1,
        "message": "Hi {name}",
        "media": "media/brochure.pdf",
        "media_name": "Brochure.pdf",
        "recipients": [
            {"number": "+44 7700 900201", "name": "Ana", "media": "media/a.png", "reference": "r1"},
            {"number": 447700900202, "name": "Bo", "message": "custom"},
        ],
    }
    m = parse_manifest("manifests/x.json", json.dumps(doc).encode())
    assert m.settings.application == 8 and m.settings.priority == "1"
    assert m.settings.media == "media/brochure.pdf" and m.settings.media_name == "Brochure.pdf"
    assert [r.index for r in m.rows] == [1, 2]
    assert m.rows[0].media == "media/a.png" and m.rows[0].reference == "r1" and m.rows[0].message is None
    assert m.rows[1].number == 447700900202 and m.rows[1].message == "custom"
    assert m.rows[0].fields["name"] == "Ana"


def test_given_a_csv_manifest_with_settings_lines_when_parsed_then_settings_come_from_the_comments():
    text = "\ufeff# application: 2\n# message: Hello {name}\n\nnumber,name,media\n447700900301,Eve,media/e.jpg\n,,\n447700900302,Finn,\n"
    m = parse_manifest("manifests/c.csv", text.encode())
    assert m.settings.application == 2 and m.settings.message == "Hello {name}"
    assert [r.number for r in m.rows] == ["447700900301", "447700900302"]  # the blank row is skipped
    assert m.rows[0].media == "media/e.jpg" and m.rows[1].media is None


@pytest.mark.parametrize(
    ("key", "body", "fragment"),
    [
        ("manifests/a.json", b"{not json", "not valid JSON"),
        ("manifests/a.json", b'{"recipients": []}', "no recipients"),
        ("manifests/a.json", b'{"rows": []}', "needs a `recipients` list"),
        ("manifests/a.json", b'{"aplication": 8, "recipients": [{"number": "1"}]}', "unknown setting `aplication`"),
        ("manifests/a.json", b'{"priority": "2", "recipients": [{"number": "1"}]}', "priority"),
        ("manifests/a.csv", b"name,message\nAna,hi\n", "needs a `number` column"),
        ("manifests/a.csv", b"# application 8\nnumber\n1\n", "# name: value"),
        ("manifests/a.csv", b"number\n1,2\n", "more values than header"),
        ("manifests/a.txt", b"number\n1\n", ".json or .csv"),
        ("manifests/a.json", b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_given_a_broken_manifest_when_parsed_then_a_specific_error_names_the_problem(key, body, fragment):
    with pytest.raises(ManifestError) as err:
        parse_manifest(key, body)
    assert fragment in err.value.reason


def test_given_placeholders_when_rendered_then_columns_fill_them_and_double_braces_stay_literal():
    assert render("Hi {name}, code {code} {{ok}}", {"name": "Ana", "code": "X1"}) == "Hi Ana, code X1 {ok}"


def test_given_a_placeholder_without_a_column_when_rendered_then_it_is_an_error_naming_it():
    with pytest.raises(PlaceholderError) as err:
        render("Hi {nme}", {"name": "Ana"})
    assert "{nme}" in err.value.reason


def test_given_a_wide_manifest_when_parsed_then_each_row_keeps_only_the_columns_its_message_uses():
    # Given 32 columns, a campaign message using two of them, and a row with its own message using another
    rows = [
        {"number": "447700900401", "name": "Ana", "code": "A1", **{f"c{j}": "x" * 50 for j in range(29)}},
        {"number": "447700900402", "name": "Bo", "message": "Only {c3}", **{f"c{j}": "y" for j in range(29)}},
        {"number": "447700900403", "message": "No {missing} column"},
    ]
    m = parse_manifest("manifests/w.json", json.dumps({"message": "Hi {name}, {code}", "recipients": rows}).encode())
    # Then the fields kept are the placeholders, and rendering still works (or still refuses what is missing)
    assert [r.fields for r in m.rows] == [{"name": "Ana", "code": "A1"}, {"c3": "y"}, {}]
    assert render(m.settings.message, m.rows[0].fields) == "Hi Ana, A1"
    with pytest.raises(PlaceholderError):
        render(m.rows[2].message, m.rows[2].fields)


# -- templates (issue 11) -------------------------------------------------------------------------
def test_given_template_settings_in_a_json_manifest_when_parsed_then_the_template_and_its_columns_are_kept():
    # Given a JSON manifest whose template values and header use columns the message does not
    doc = {
        "template_id": "INV1",
        "template_language": "pt_BR",
        "template_values": ["{name}", "{amount}"],
        "template_header": "Invoice {number_shown}.pdf",
        "session": "template",
        "recipients": [{"number": "447700900201", "name": "Ana", "amount": "9.50", "number_shown": "17", "other": "x"}],
    }
    # When parsed
    m = parse_manifest("manifests/x.json", json.dumps(doc).encode())
    # Then the template is read and the row keeps the columns its values and header use
    assert (m.settings.template.id, m.settings.template.language, m.settings.template.session) == ("INV1", "pt_BR", "template")
    assert m.rows[0].fields == {"name": "Ana", "amount": "9.50", "number_shown": "17"}


def test_given_template_values_in_a_csv_settings_line_when_parsed_then_they_are_a_json_list():
    csv = '# template_id: INV1\n# template_language: en\n# template_values: ["{name}", "fixed"]\nnumber,name\n447700900201,Ana\n'
    m = parse_manifest("manifests/x.csv", csv.encode())
    assert m.settings.template_values == ["{name}", "fixed"] and m.settings.template.session == "auto"
    assert m.rows[0].fields == {"name": "Ana"}


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"template_id": "INV1"}, "template_id needs template_language"),
        ({"template_language": "en"}, "template_language needs template_id"),
        ({"template_values": ["a"]}, "template_values needs template_id"),
        ({"session": "template"}, "session needs template_id"),
        ({"template_id": "INV1", "template_language": "en", "template_values": "[1, 2]"}, "must be a JSON list of strings"),
        (
            {"template_id": "INV1", "template_language": "en", "template_values": "not json"},
            "must be a JSON list of strings (Expecting value",
        ),
        ({"template_id": "INV 1", "template_language": "en"}, "setting `template_id`: String should match pattern"),
        ({"template_id": "INV1", "template_language": "english"}, "setting `template_language`"),
        ({"template_id": "INV1", "template_language": "en", "session": "sometimes"}, "setting `session`"),
    ],
)
def test_given_malformed_template_settings_when_parsed_then_the_manifest_is_refused_with_the_reason(settings, reason):
    # Given a manifest whose template settings are malformed
    doc = {**settings, "recipients": [{"number": "447700900201"}]}
    # When parsed, Then the whole manifest is refused, saying why
    with pytest.raises(ManifestError) as err:
        parse_manifest("manifests/x.json", json.dumps(doc).encode())
    assert reason in err.value.reason


def test_given_a_template_value_placeholder_without_its_column_when_rendered_then_the_error_names_the_value():
    with pytest.raises(PlaceholderError) as err:
        render("{amount}", {}, "template value 2")
    assert err.value.reason == "template value 2 uses {amount} but the row has no column 'amount'"

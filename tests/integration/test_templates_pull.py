"""`relay templates pull` against the Push API stand-in over real HTTP, writing the catalogue into
the embedded S3 bucket: one `templates/<id>.json` per template, a line each, a summary, the token
never printed."""

from __future__ import annotations

import json

import pytest

from relay.templates import CatalogueEntry
from relay_local.cli import main
from relay_local.dev.session import LOCAL_TOKEN
from relay_local.dev.standin_templates import StandInTemplate

pytestmark = pytest.mark.integration


def catalogue(relay) -> dict[str, CatalogueEntry]:
    s3 = relay.client("s3")
    listed = s3.list_objects_v2(Bucket=relay.bucket, Prefix="templates/").get("Contents", [])
    return {o["Key"]: CatalogueEntry.model_validate_json(s3.get_object(Bucket=relay.bucket, Key=o["Key"])["Body"].read()) for o in listed}


@pytest.fixture
def pull_env(relay, monkeypatch, tmp_path):
    """What a user sets for `relay templates pull` (AWS_ENDPOINT_URL is set by the embedded AWS)."""
    monkeypatch.chdir(tmp_path)  # no `relay local` state file here
    monkeypatch.setenv("PICKY_API_URL", relay.api.url)
    monkeypatch.setenv("PICKY_TOKEN", LOCAL_TOKEN)
    monkeypatch.setenv("MEDIA_BUCKET", relay.bucket)
    return relay


def test_given_the_standins_templates_when_pulled_then_each_is_in_the_bucket_as_a_catalogue_entry(pull_env, capsys):
    relay = pull_env
    # When `relay templates pull` runs
    status = main(["templates", "pull"])
    out = capsys.readouterr()

    # Then it succeeds and each template is a catalogue entry in the bucket
    assert status == 0, out.err
    entries = catalogue(relay)
    assert sorted(entries) == ["templates/invoice_doc.json", "templates/order_text.json", "templates/ticket_image.json"]
    invoice = entries["templates/invoice_doc.json"]
    assert (invoice.kind, invoice.variables, invoice.languages, invoice.status) == ("document", 2, ["en", "pt_BR"], "approved")
    assert entries["templates/ticket_image.json"].kind == "image" and entries["templates/ticket_image.json"].variables == 1
    assert entries["templates/order_text.json"].kind == "text" and entries["templates/order_text.json"].variables == 2
    # And it printed one line per template and a summary, never the token
    lines = out.out.strip().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("templates pull: 3 written")
    assert any(line.startswith("invoice_doc") and "document" in line and "en,pt_BR" in line for line in lines)
    assert LOCAL_TOKEN not in out.out + out.err
    # And the stand-in was asked at the template-status URL beside the push URL (not recorded as a push)
    assert relay.api.requests == []


def test_given_a_template_the_standin_learns_later_when_pulled_again_then_it_is_added_and_changes_overwrite(pull_env, capsys):
    relay = pull_env
    assert main(["templates", "pull"]) == 0
    # Given the vendor now has a new template and one changed
    relay.api.set_templates(
        [
            StandInTemplate("promo_video", kind="video", variables=0, languages=("es",)),
            StandInTemplate("order_text", kind="text", variables=3),
        ],
        replace=False,
    )
    # When pulled again
    assert main(["templates", "pull"]) == 0
    # Then the catalogue has both
    entries = catalogue(relay)
    assert entries["templates/promo_video.json"].kind == "video" and entries["templates/promo_video.json"].languages == ["es"]
    assert entries["templates/order_text.json"].variables == 3


def test_given_a_wrong_token_when_pulled_then_one_line_naming_the_vendors_status_and_nothing_written(pull_env, monkeypatch, capsys):
    relay = pull_env
    monkeypatch.setenv("PICKY_TOKEN", "a-wrong-token-value")
    status = main(["templates", "pull"])
    out = capsys.readouterr()
    assert status == 2
    assert out.err.strip().splitlines() == ["relay: the vendor answered status 401 Authentication failed"]
    assert "a-wrong-token-value" not in out.out + out.err
    assert catalogue(relay) == {}


def test_given_an_answer_with_an_unreadable_row_when_pulled_then_the_rest_is_written_the_row_reported_and_exit_1(pull_env, capsys):
    relay = pull_env
    # Given the vendor answers in another shape, with one row the relay cannot read (kind 9)
    relay.api.template_status_body = {
        "templates": {
            "invoice_doc": {"type": "document", "languages": "en,pt_BR", "body": "Hi {{1}}, {{2}}", "status": "approved"},
            "odd_one": {"message_type": 9, "language": "en"},
            "ticket_image": {"message_type": "2", "language": ["en"], "variables": "1"},
        }
    }
    # When pulled
    status = main(["templates", "pull"])
    out = capsys.readouterr()
    # Then the good ones are written, the odd one is reported, exit 1
    assert status == 1
    entries = catalogue(relay)
    assert sorted(entries) == ["templates/invoice_doc.json", "templates/ticket_image.json"]
    assert entries["templates/invoice_doc.json"].variables == 2 and entries["templates/invoice_doc.json"].languages == ["en", "pt_BR"]
    assert "skipped odd_one: unknown template kind 9" in out.out
    assert "2 written" in out.out and "1 skipped" in out.out


def test_given_no_bucket_anywhere_when_pulled_then_one_line_saying_where_to_give_it(pull_env, monkeypatch, capsys):
    monkeypatch.delenv("MEDIA_BUCKET")
    assert main(["templates", "pull"]) == 2
    assert "no bucket" in capsys.readouterr().err


def test_given_the_template_status_answer_then_it_is_json_the_parser_reads(relay):
    # the stand-in's own answer, over HTTP, parses with nothing skipped
    import httpx

    from relay_local.ops.templates_pull import fetch, parse_answer, status_url

    with httpx.Client() as client:
        answer = fetch(status_url(relay.api.url), LOCAL_TOKEN, client)
    assert json.loads(json.dumps(answer)) == answer
    assert parse_answer(answer).skipped == []


def test_given_a_running_relay_local_when_pulled_with_nothing_set_then_its_standin_token_and_bucket_are_used(
    relay, monkeypatch, tmp_path, capsys
):
    # Given the state file a `relay local` leaves in its directory, and nothing else set
    monkeypatch.chdir(tmp_path)
    for name in ("PICKY_API_URL", "PICKY_TOKEN", "MEDIA_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".relay-local.json").write_text(
        json.dumps({"endpoint": relay.aws.endpoint, "api_url": relay.api.url, "stack": relay.stack.name})
    )
    # When pulled
    status = main(["templates", "pull"])
    out = capsys.readouterr()
    # Then the running stand-in was asked with the local token and its stack's bucket holds the catalogue
    assert status == 0, out.err
    assert len(catalogue(relay)) == 3 and f"s3://{relay.bucket}/templates/" in out.out

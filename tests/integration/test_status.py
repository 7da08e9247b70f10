"""`relay status` against a stack on the embedded AWS (in-process through the CLI's main, reading the
table with --endpoint/--table/--bucket as it reads a running `relay local`'s): by S3 key, push id,
number and reference; --json; --watch until every recipient is final."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from relay_local.cli import main
from relay_local.ops.sign_event import resign

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
MANIFEST = {
    "message": "Hi {name}",
    "recipients": [
        {"number": "+44 7700 900101", "name": "Ana", "media": "media/a.png", "reference": "ref-ana"},
        {"number": "07700900103", "name": "Cy", "media": "media/a.png"},
        {"number": "447700900104", "name": "Di", "media": "media/nope.png"},
    ],
}


def status(relay, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # the handlers' log lines so far
    code = main(["status", *args, "--endpoint", relay.aws.endpoint, "--table", relay.table, "--bucket", relay.bucket])
    out, err = capsys.readouterr()
    return code, out, err


def upload_manifest(relay, sample) -> None:
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/a.png", Body=sample("chart.png"))
    s3.put_object(Bucket=relay.bucket, Key="manifests/promo.json", Body=json.dumps(MANIFEST).encode())


def post_push(relay, sample) -> str:
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/photo.jpg", Body=sample("photo.jpg"))
    s3.put_object(Bucket=relay.bucket, Key="media/brochure.pdf", Body=sample("invoice.pdf"))
    event = json.loads((EVENTS / "api-post-pushes.json").read_text().replace("relay-local-mediabucket", relay.bucket))
    created = relay.invoker.invoke("ApiFunction", resign(event))
    assert created["statusCode"] == 202, created
    return str(json.loads(created["body"])["id"])


def test_given_a_sent_manifest_when_status_asks_by_its_key_then_every_row_shows_with_whole_reasons_and_counts(relay, sample, capsys):
    # Given a manifest with one good row and two bad ones, planned and sent
    upload_manifest(relay, sample)
    assert relay.run_until_idle(timeout=60)
    # When relay status asks by its S3 key
    code, out, _ = status(relay, capsys, "manifests/promo.json")
    # Then the table lists all three with the rejections' whole reasons, and the counts
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["recipient", "media", "form", "state", "push_id", "msg_id", "note"]
    assert lines[-1] == "3 recipients (3 final): 1 accepted, 2 rejected"
    flat = " ".join(out.split())
    assert "number '07700900103' starts with 0: give the full international number with country code" in flat
    assert "media 'media/nope.png': no such object in the bucket" in flat
    assert "447700900101" in out and "07700900103" in out


def test_given_an_api_push_when_status_asks_by_id_number_and_reference_then_each_finds_its_recipients(relay, sample, capsys):
    # Given a push of two recipients (the second with a PDF whose caption goes as its own text), sent
    push_id = post_push(relay, sample)
    assert relay.run_until_idle(timeout=60)
    # When asked by push id, by number and by reference
    by_id = status(relay, capsys, push_id)
    by_number = status(relay, capsys, "--number", "+44 7700 900124")
    by_reference = status(relay, capsys, "--reference", "order-1001")
    # Then each answers what it names
    assert by_id[0] == 0 and by_id[1].splitlines()[-1] == "3 recipients (3 final): 3 accepted"
    assert by_number[0] == 0 and by_number[1].splitlines()[-1] == "2 recipients (2 final): 2 accepted"
    assert by_reference[0] == 0 and by_reference[1].splitlines()[-1] == "1 recipient (1 final): 1 accepted"
    assert "447700900123" in by_reference[1] and "media/photo.jpg" in by_reference[1]


def test_given_a_push_when_status_asks_for_json_then_it_parses_with_the_query_counts_and_vendor_ids(relay, sample, capsys):
    push_id = post_push(relay, sample)
    assert relay.run_until_idle(timeout=60)
    code, out, _ = status(relay, capsys, push_id, "--json")
    doc = json.loads(out)
    assert code == 0
    assert doc["query"] == {"push_id": push_id}
    assert (doc["total"], doc["final"], doc["done"], doc["counts"]) == (3, 3, True, {"accepted": 3})
    assert all(r["msg_id"] and r["push_id"] for r in doc["recipients"])
    assert not any("pk" in r or "object_pk" in r for r in doc["recipients"])


def test_given_a_planned_push_when_status_watches_then_it_ends_once_the_relay_made_every_recipient_final(relay, sample, capsys):
    # Given a push that is planned but not yet sent
    push_id = post_push(relay, sample)
    code, out, _ = status(relay, capsys, push_id, "--json")
    assert {r["state"] for r in json.loads(out)["recipients"]} == {"planned"}
    # When relay status --watch follows it while the relay drains its queues in another thread
    drained: list[bool] = []
    worker = threading.Thread(target=lambda: drained.append(relay.run_until_idle(timeout=60)))
    worker.start()
    try:
        code, out, err = status(relay, capsys, push_id, "--watch", "--interval", "0.2", "--timeout", "90")
    finally:
        worker.join()
    # Then it returns once every recipient is final, with the progress bar on stderr
    assert drained == [True]
    assert code == 0, err + out  # out: the table, whose non-final rows say what the watch waited for
    assert "3 recipients (3 final): 3 accepted" in out.splitlines()  # (the sender's log lines may come first)
    assert "3/3 final" in err


def test_given_nothing_matches_when_status_asks_then_it_says_so_in_one_line(relay, capsys):
    code, out, err = status(relay, capsys, "--number", "447700900999")
    assert code == 2 and out == ""
    assert err.startswith("relay: the ledger has no recipient for number 447700900999") and err.count("\n") == 1


def test_given_two_questions_at_once_when_status_runs_then_it_asks_for_one(relay, capsys):
    code, _, err = status(relay, capsys, "abc", "--number", "447700900101")
    assert code == 2 and err.startswith("relay: give one of: a push id")


def test_given_a_running_relay_local_when_status_names_only_a_key_then_it_reads_that_stack_and_bucket(
    relay, sample, capsys, tmp_path, monkeypatch
):
    # Given the state file a running `relay local` leaves in its directory, naming this stack
    upload_manifest(relay, sample)
    assert relay.run_until_idle(timeout=60)
    state = {"endpoint": relay.aws.endpoint, "api_url": relay.api.url, "stack": relay.stack_name}
    (tmp_path / ".relay-local.json").write_text(json.dumps(state))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    # When relay status names only the manifest's key (no endpoint, table or bucket)
    code = main(["status", "manifests/promo.json", "--json"])
    out, _ = capsys.readouterr()
    # Then it finds the stack's table and bucket by itself
    doc = json.loads(out)
    assert code == 0 and doc["query"] == {"bucket": relay.bucket, "key": "manifests/promo.json"}
    assert doc["counts"] == {"accepted": 1, "rejected": 2}

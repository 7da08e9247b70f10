"""Results beside each input (ResultsFunction, relay.results_stream): the ledger's change stream on
moto server drives the function through the local stream poller; the files are read back from S3."""

from __future__ import annotations

import csv
import io
import json

import pytest

from relay.delivery_reports import VendorEvent, apply_event
from relay.ledger import Ledger

pytestmark = pytest.mark.integration


def put(relay, key: str, body: bytes, **meta: str) -> None:
    relay.client("s3").put_object(Bucket=relay.bucket, Key=key, Body=body, Metadata=meta)


def get(relay, key: str) -> bytes:
    return relay.client("s3").get_object(Bucket=relay.bucket, Key=key)["Body"].read()


def exists(relay, key: str) -> bool:
    return relay.client("s3").list_objects_v2(Bucket=relay.bucket, Prefix=key).get("KeyCount", 0) > 0


def csv_rows(relay, key: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(get(relay, key).decode())))


def deliver(relay, row: dict[str, str], status: int = 1) -> None:
    body = {
        "project_id": "1",
        "event_id": 1,
        "data": [{"push_id": row["push_id"], "number": row["number"], "msg_id": row["msg_id"], "status": status}],
    }
    apply_event(Ledger(relay.client("dynamodb"), relay.table), VendorEvent.model_validate_json(json.dumps(body)))


MANIFEST = '# application: 8\nnumber,message,reference\n447700900301,Hello,=HYPERLINK("x")\n447700900302,Hi there,ref-2\n'


def test_given_a_csv_manifest_when_planned_and_sent_then_its_results_csv_has_every_row_and_state(relay):
    put(relay, "manifests/black-friday.csv", MANIFEST.encode())
    assert relay.run_until_idle(timeout=60)
    rows = csv_rows(relay, "results/manifests/black-friday.csv")
    assert sorted((r["number"], r["state"]) for r in rows) == [("447700900301", "accepted"), ("447700900302", "accepted")]
    assert all(r["push_id"] and r["msg_id"] and r["planned_at"] and r["form"] == "freeform" for r in rows)
    # and the results file itself was not ingested as a new input
    assert len(relay.api.requests) == 1


def test_given_a_reference_that_is_a_formula_when_written_then_the_cell_is_neutralised(relay):
    put(relay, "manifests/black-friday.csv", MANIFEST.encode())
    assert relay.run_until_idle(timeout=60)
    refs = {r["number"]: r["reference"] for r in csv_rows(relay, "results/manifests/black-friday.csv")}
    assert refs == {"447700900301": '\'=HYPERLINK("x")', "447700900302": "ref-2"}


def test_given_planned_rows_when_not_yet_sent_then_the_results_show_planned_and_no_done_marker(relay):
    put(relay, "manifests/black-friday.csv", MANIFEST.encode())
    # only the ingest function runs (the sender's queue is left alone), then the stream
    assert relay.pollers["IngestFunction"].poll_once() >= 1
    [stream] = relay.stream_pollers.values()
    assert stream.poll_once() > 0
    assert sorted(r["state"] for r in csv_rows(relay, "results/manifests/black-friday.csv")) == ["planned", "planned"]
    assert not exists(relay, "results/manifests/black-friday.csv.done")


def test_given_accepted_rows_when_delivery_reports_arrive_then_the_rows_and_the_done_marker_follow(relay):
    put(relay, "manifests/black-friday.csv", MANIFEST.encode())
    assert relay.run_until_idle(timeout=60)
    first, second = csv_rows(relay, "results/manifests/black-friday.csv")
    # the sender is done with both (accepted is final for it): the marker says so
    assert json.loads(get(relay, "results/manifests/black-friday.csv.done")) == {"recipients": 2, "states": {"accepted": 2}}

    deliver(relay, first)
    assert relay.run_until_idle(timeout=60)
    states = {r["number"]: r["state"] for r in csv_rows(relay, "results/manifests/black-friday.csv")}
    assert states == {first["number"]: "delivered", second["number"]: "accepted"}

    deliver(relay, second, status=3)
    assert relay.run_until_idle(timeout=60)
    rows = {r["number"]: r for r in csv_rows(relay, "results/manifests/black-friday.csv")}
    assert {n: r["state"] for n, r in rows.items()} == {first["number"]: "delivered", second["number"]: "read"}
    assert rows[second["number"]]["delivery_status"] == "3" and rows[second["number"]]["delivery_report_at"]
    done = json.loads(get(relay, "results/manifests/black-friday.csv.done"))
    assert done == {"recipients": 2, "states": {"delivered": 1, "read": 1}}


def test_given_an_outbox_file_when_sent_then_its_results_are_json_beside_it(relay, sample):
    put(relay, "outbox/447700900123/p.jpg", sample("photo.jpg"), reference="inv-1")
    assert relay.run_until_idle(timeout=60)
    [row] = json.loads(get(relay, "results/outbox/447700900123/p.jpg.json"))["recipients"]
    assert (row["number"], row["reference"], row["state"]) == ("447700900123", "inv-1", "accepted")
    assert row["msg_id"] and row["push_id"]


def test_given_a_json_manifest_with_a_bad_number_then_its_results_json_shows_the_rejection_and_reason(relay):
    manifest = {"application": 8, "recipients": [{"number": "447700900401", "message": "ok"}, {"number": "not-a-number", "message": "x"}]}
    put(relay, "manifests/mixed.json", json.dumps(manifest).encode())
    assert relay.run_until_idle(timeout=60)
    rows = {r["number"]: r for r in json.loads(get(relay, "results/manifests/mixed.json"))["recipients"]}
    assert rows["447700900401"]["state"] == "accepted"
    assert rows["not-a-number"]["state"] == "rejected" and rows["not-a-number"]["reason"]


def test_given_many_changes_of_one_campaign_in_one_batch_then_its_results_file_is_written_once(relay, monkeypatch):
    # Given a 40-recipient manifest planned and sent while the stream is not read
    body = "# application: 8\nnumber,message\n" + "".join(f"4477009005{i:02d},m{i}\n" for i in range(40))
    put(relay, "manifests/big.csv", body.encode())
    from relay_local.dev.poller import pump

    assert pump(list(relay.pollers.values()), timeout=60)
    # When the stream poller hands every change (plans, claims, acceptances) over in one batch
    writes: list[str] = []
    from relay import results_stream

    real = results_stream.ResultsWriter.write

    def counted(self, bucket: str, key: str, images=()) -> None:
        writes.append(key)
        real(self, bucket, key, images)

    monkeypatch.setattr(results_stream.ResultsWriter, "write", counted)
    [poller] = relay.stream_pollers.values()
    events = poller.poll_once()
    # Then the campaign's file was written once for all of them, with all 40 rows
    assert events >= 80 and writes == ["manifests/big.csv"]
    assert len(csv_rows(relay, "results/manifests/big.csv")) == 40


def test_given_the_bench_figure_then_a_campaigns_file_is_written_once_per_stream_batch(relay):
    from relay_local.bench.results import bench_results

    figure = bench_results(relay, 150)
    assert figure["events"] >= 300  # at least planned + accepted per recipient
    assert figure["writes"] == -(-figure["events"] // figure["batch_size"])


def ledger_states(relay, key: str) -> dict[str, str]:
    from relay_local.dev.ledger_reads import object_fate

    fate = object_fate(Ledger(relay.client("dynamodb"), relay.table), relay.bucket, key)
    return {i["rid"]: i["state"] for i in fate if i.get("kind") == "recipient"}


@pytest.mark.parametrize("standin_options", [{"session_window": True}])
def test_given_a_free_form_send_that_fails_for_the_window_when_its_template_fallback_goes_then_both_rows_match_the_ledger(relay, sample):
    from relay_local.dev.demo import INVOICE_TEMPLATE

    # Given a customer whose window closed (the vendor fails free-form with 131047)
    relay.serve_api()
    relay.api.customer_writes("447700900803", minutes_ago=24 * 60 + 5)
    key = "outbox/447700900803/INV-1042.pdf"
    put(relay, key, sample("invoice.pdf"), **INVOICE_TEMPLATE)
    assert relay.run_until_idle(timeout=60)
    # When the vendor reports the failure and the relay sends the template fallback
    relay.api.post_reports()
    assert relay.run_until_idle(timeout=60)
    # Then the results file has a row per ledger recipient (first attempt, its fallback, the caption) in its state
    table = json.loads(get(relay, f"results/{key}.json"))["recipients"]
    assert {r["rid"]: r["state"] for r in table} == ledger_states(relay, key)
    [fallback] = [r for r in table if r["fallback_for"]]
    [first] = [r for r in table if r["rid"] == fallback["fallback_for"]]
    assert (first["state"], first["error_code"], fallback["state"], fallback["form"]) == ("failed", "131047", "accepted", "template")


def test_given_a_results_write_that_fails_once_then_the_stream_resumes_and_the_file_ends_right(relay, monkeypatch):
    from relay import results_stream

    real = results_stream.ResultsWriter.write
    failed: list[str] = []

    def flaky(self, bucket: str, key: str, images=()) -> None:
        if not failed:
            failed.append(key)
            raise RuntimeError("S3 said no")
        real(self, bucket, key, images)

    monkeypatch.setattr(results_stream.ResultsWriter, "write", flaky)
    # Given a campaign planned and sent, all its changes waiting in the stream
    put(relay, "manifests/black-friday.csv", MANIFEST.encode())
    from relay_local.dev.poller import pump

    assert pump(list(relay.pollers.values()), timeout=60)
    # When the stream is read and the first write of its results fails (reported as batch item failures)
    assert relay.run_until_idle(timeout=60)
    # Then the mapping read the failed records again, and the file holds the ledger's states
    [poller] = relay.stream_pollers.values()
    assert failed == ["manifests/black-friday.csv"] and poller.invocations == 2 and poller.given_up == []
    rows = csv_rows(relay, "results/manifests/black-friday.csv")
    assert {r["rid"]: r["state"] for r in rows} == ledger_states(relay, "manifests/black-friday.csv")


def test_given_an_index_that_lags_the_stream_when_the_last_change_arrives_then_the_file_shows_it(relay):
    from relay import results_stream
    from relay.dynamodb import to_item

    # Given a sent campaign whose results are written, its ledger read through ByObject (eventually consistent on AWS)
    put(relay, "manifests/black-friday.csv", MANIFEST.encode())
    assert relay.run_until_idle(timeout=60)
    ledger = Ledger(relay.client("dynamodb"), relay.table)
    [item, *_] = [
        i for i in ledger.query_index("ByObject", "object_pk", f"OBJ#{relay.bucket}/manifests/black-friday.csv") if i.get("msg_id")
    ]
    # When a stream record brings a change the index does not show yet (the item itself is left as it was)
    newer = {**item, "state": "delivered", "delivery_status": 1, "at": "9999-01-01T00:00:00Z"}
    event = {"Records": [{"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "1", "NewImage": to_item(newer)}}]}
    answer = results_stream.run(event, results_stream.ResultsWriter(ledger, relay.client("s3")))
    # Then the file shows the stream's newer state for that recipient
    assert answer == {"batchItemFailures": []}
    rows = {r["rid"]: r["state"] for r in csv_rows(relay, "results/manifests/black-friday.csv")}
    assert rows[item["rid"]] == "delivered" and len(rows) == 2

"""IngestFunction under faults (issue 9 §2, the ingest side): a first read that fails, failures
logged, records of the wrong shape, one notification twice in one batch, byte-sized jobs, long
caller text, an outbox file overwritten before it is sent."""

from __future__ import annotations

import copy
import json
import logging
import sys
from collections.abc import Iterator

import httpx
import pytest
from botocore.exceptions import ClientError

from relay.ledger import Ledger
from relay.s3media import MediaStore
from relay_local.dev.ledger_reads import scan_all

pytestmark = pytest.mark.integration

#: an S3 event notification exactly as AWS sends it to an SQS queue (AWS docs' sample, event 2.1)
AWS_S3_NOTIFICATION = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2026-11-29T18:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "203.0.113.7"},
            "responseElements": {
                "x-amz-request-id": "C3D13FE58DE4C810",
                "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "NjBlZGE3ZTQtMjI3Ni00ZDdiLWI2ZjEtZTFhZmFjYjk2ZjQ5",
                "bucket": {"name": "BUCKET", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": "arn:aws:s3:::BUCKET"},
                "object": {"key": "KEY", "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"},
            },
        }
    ]
}


def ledger(relay) -> Ledger:
    return Ledger(relay.client("dynamodb"), relay.table)


def recipients(relay) -> list[dict]:
    return [i for i in scan_all(ledger(relay)) if i.get("kind") == "recipient"]


def put(relay, key: str, body: bytes, **meta: str) -> dict:
    return relay.client("s3").put_object(Bucket=relay.bucket, Key=key, Body=body, Metadata=meta)


def notifications(relay, number: str) -> list[dict]:
    """Receive the ingest queue's messages; keep the ones about `number` (S3's test event and others are deleted)."""
    poller = relay.pollers["IngestFunction"]
    mine = []
    for m in poller._receive():
        if number in m["Body"]:
            mine.append(m)
        else:
            poller.sqs.delete_message(QueueUrl=poller.queue_url, ReceiptHandle=m["ReceiptHandle"])
    return mine


def short_visibility(relay, seconds: int = 1) -> None:
    """A failed record comes back after its visibility timeout: make that quick for the test."""
    relay.client("sqs").set_queue_attributes(QueueUrl=relay.stack.ref("IngestQueue"), Attributes={"VisibilityTimeout": str(seconds)})


@pytest.fixture
def s3_down_once(monkeypatch) -> list[str]:
    """The first ranged GET of each key fails as S3 does when it is briefly unavailable."""
    real = MediaStore.inspect
    failed: list[str] = []

    def flaky(self, bucket, key, *args, **kwargs):
        if key not in failed:
            failed.append(key)
            raise ClientError(
                {
                    "Error": {"Code": "InternalError", "Message": "We encountered an internal error."},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "GetObject",
            )
        return real(self, bucket, key, *args, **kwargs)

    monkeypatch.setattr(MediaStore, "inspect", flaky)
    return failed


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def ingest_logs(relay) -> Iterator[list[logging.LogRecord]]:
    """Every record IngestFunction's logger writes during the test."""
    relay.invoker.invoke("IngestFunction", {"Records": []})  # imports the handler module
    logger = sys.modules["ingest.app"].logger
    handler = _Records()
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


# -- 1. an upload whose first read fails --------------------------------------------------------
def test_given_s3_failing_on_the_first_read_when_the_upload_is_redelivered_then_it_is_planned_and_sent(relay, sample, s3_down_once):
    # Given an outbox upload whose first ranged GET fails (a transient S3 error)
    short_visibility(relay)
    put(relay, "outbox/447700901001/p.jpg", sample("photo.jpg"), message="after a retry")
    # When IngestFunction runs, fails the record, and SQS redelivers it
    assert relay.run_until_idle(timeout=60)
    # Then the first read did fail, and the redelivery planned and sent it
    assert s3_down_once == ["outbox/447700901001/p.jpg"]
    [row] = recipients(relay)
    assert row["state"] == "accepted" and row["number"] == "447700901001"
    [req] = relay.api.requests
    assert "after a retry" in (req.body.get("globalmessage"), req.body["data"][0]["message"])
    # and the source item counts its recipient
    [source] = [i for i in scan_all(ledger(relay)) if i.get("kind") == "source"]
    assert source["state"] == "planned" and source["recipients"] == 1


def test_given_an_aws_shaped_notification_and_s3_failing_once_when_redelivered_then_the_recipient_is_accepted(relay, sample, s3_down_once):
    # Given an object in the bucket and its S3 notification as AWS sends it to SQS (not moto's)
    short_visibility(relay)
    relay.client("s3").put_object(Bucket=relay.bucket, Key="media/x.jpg", Body=b"unrelated")  # not an outbox key
    key = "outbox/+44 7700 901002/façade.jpg"
    put(relay, key, sample("photo.jpg"), message="aws sample")
    poller = relay.pollers["IngestFunction"]
    sqs = relay.client("sqs")
    for m in poller._receive():  # drop moto's own notification: only AWS's shape is delivered
        sqs.delete_message(QueueUrl=poller.queue_url, ReceiptHandle=m["ReceiptHandle"])
    note = copy.deepcopy(AWS_S3_NOTIFICATION)
    note["Records"][0]["s3"]["bucket"]["name"] = relay.bucket
    note["Records"][0]["s3"]["object"]["key"] = "outbox/%2B44+7700+901002/fa%C3%A7ade.jpg"  # as S3 encodes it
    sqs.send_message(QueueUrl=poller.queue_url, MessageBody=json.dumps(note))
    # When it is ingested with S3 down for the first read, then redelivered
    assert relay.run_until_idle(timeout=60)
    # Then the recipient is accepted
    assert s3_down_once == [key]
    [row] = recipients(relay)
    assert row["state"] == "accepted" and row["media_key"] == key


# -- 2. ingest failures are logged ---------------------------------------------------------------
def test_given_a_record_that_fails_when_ingested_then_its_reason_is_logged_at_error_level(relay, sample, s3_down_once, ingest_logs):
    # Given an upload whose first read fails
    put(relay, "outbox/447700901003/p.jpg", sample("photo.jpg"))
    poller = relay.pollers["IngestFunction"]
    messages = notifications(relay, "447700901003")
    # When IngestFunction runs it
    result = relay.invoker.invoke("IngestFunction", poller.event_for(messages))
    # Then the record is reported failed, and one error line names it, its key and the cause
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [messages[0]["MessageId"]]
    errors = [r for r in ingest_logs if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    line = errors[0]
    assert line.getMessage() == "ingest record failed"
    assert line.message_id == messages[0]["MessageId"]
    assert line.s3_keys == ["outbox/447700901003/p.jpg"]
    assert line.error_type == "ClientError" and "InternalError" in line.error


# -- 3. records of the wrong shape ---------------------------------------------------------------
def test_given_records_of_the_wrong_shape_when_ingested_then_the_good_ones_are_planned_and_the_bad_ones_logged(relay, sample, ingest_logs):
    # Given a batch with a good record, one without messageId, one that is not an object, one without a body
    put(relay, "outbox/447700901004/p.jpg", sample("photo.jpg"))
    poller = relay.pollers["IngestFunction"]
    event = poller.event_for(notifications(relay, "447700901004"))
    [good] = event["Records"]
    no_id = {k: v for k, v in good.items() if k != "messageId"}
    no_body = {**{k: v for k, v in good.items() if k != "body"}, "messageId": "no-body-1"}
    event["Records"] = [no_id, "not a record", good, no_body]
    # When IngestFunction runs it
    result = relay.invoker.invoke("IngestFunction", event)
    # Then the good record is planned, the bodiless one is reported failed (it keeps its place in SQS)
    assert result == {"batchItemFailures": [{"itemIdentifier": "no-body-1"}]}
    assert [r["number"] for r in recipients(relay)] == ["447700901004"]
    # and each malformed record is logged with its reason
    reasons = sorted(r.reason for r in ingest_logs if r.levelno >= logging.ERROR)
    assert reasons == ["record has no messageId", "record has no string body", "record is str, not an object"]


# -- 4. the same notification twice in one batch ---------------------------------------------------
def test_given_the_same_notification_twice_in_one_batch_when_ingested_then_it_is_planned_and_sent_once(relay, sample):
    # Given one upload whose notification S3 delivered twice, both in one SQS batch
    put(relay, "outbox/447700901005/p.jpg", sample("photo.jpg"), message="twice")
    poller = relay.pollers["IngestFunction"]
    messages = notifications(relay, "447700901005")
    assert len(messages) == 1
    twin = {**messages[0], "MessageId": messages[0]["MessageId"] + "-twin"}
    # When IngestFunction takes the batch
    result = relay.invoker.invoke("IngestFunction", poller.event_for([messages[0], twin]))
    # Then no record fails, and the upload is planned once and sent once
    assert result == {"batchItemFailures": []}
    poller.sqs.delete_message(QueueUrl=poller.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    assert relay.run_until_idle(timeout=60)
    assert len(relay.api.requests) == 1
    [row] = recipients(relay)
    assert row["state"] == "accepted"
    [source] = [i for i in scan_all(ledger(relay)) if i.get("kind") == "source"]
    assert source["state"] == "planned" and source["recipients"] == 1


def fetch(url: str) -> bytes:
    resp = httpx.get(url, timeout=10)
    assert resp.status_code == 200, url
    return resp.content


# -- 5. jobs sized in bytes ---------------------------------------------------------------------------
HINDI = ("नमस्ते दोस्त " * 100)[:1190]


def test_given_a_manifest_of_100_recipients_with_a_long_hindi_message_when_ingested_then_every_recipient_is_sent(relay):
    # Given a manifest of 100 rows, each with a 1,190-character Hindi message (3,570 UTF-8 bytes)
    short_visibility(relay)
    rows = "\n".join(f'4477009{i:05d},"{HINDI}"' for i in range(100))
    relay.client("s3").put_object(Bucket=relay.bucket, Key="manifests/hindi.csv", Body=f"number,message\n{rows}\n".encode())
    # When it is ingested and sent
    assert relay.run_until_idle(timeout=120)
    # Then every recipient was queued and accepted, each with the whole message
    rows = recipients(relay)
    assert len(rows) == 100 and {r["state"] for r in rows} == {"accepted"}
    sent = [d for req in relay.api.requests for d in req.body["data"]]
    assert len(sent) == 100
    assert all(HINDI.strip() in (d["message"], req.body.get("globalmessage")) for req in relay.api.requests for d in req.body["data"])


# -- 6. long caller text in a rejection ---------------------------------------------------------------
def test_given_a_manifest_row_with_a_450_kb_message_when_ingested_then_that_row_is_rejected_and_the_others_sent(relay):
    # Given a manifest whose second row has a 450 KB message (the manifest is within its 20 MB)
    short_visibility(relay)
    manifest = {
        "recipients": [
            {"number": "447700901101", "message": "fine"},
            {"number": "447700901102", "message": "x" * 450_000},
            {"number": "447700901103", "message": "fine too"},
        ]
    }
    relay.client("s3").put_object(Bucket=relay.bucket, Key="manifests/long.json", Body=json.dumps(manifest).encode())
    # When it is ingested and sent
    assert relay.run_until_idle(timeout=60)
    # Then the long row is rejected with its reason, keeping an excerpt and the length, and the others are accepted
    rows = {r["number"]: r for r in recipients(relay)}
    assert {n: r["state"] for n, r in rows.items()} == {"447700901101": "accepted", "447700901102": "rejected", "447700901103": "accepted"}
    bad = rows["447700901102"]
    assert bad["reason"] == "message is 450000 characters; the limit is 4096"
    assert bad["message_length"] == 450_000 and len(bad["message"]) < 5000


# -- 7. an outbox file overwritten before it is sent ----------------------------------------------------
def test_given_an_outbox_file_overwritten_after_planning_when_sent_then_each_upload_sends_its_own_bytes(relay, sample):
    # Given the bucket as the template makes it: versioned
    s3 = relay.client("s3")
    assert s3.get_bucket_versioning(Bucket=relay.bucket)["Status"] == "Enabled"
    key = "outbox/447700901201/statement.jpg"
    first, second = sample("photo.jpg"), sample("photo.jpg") + b"-second version"
    # and a file planned by IngestFunction but not sent yet
    put(relay, key, first, message="first")
    from relay_local.dev.poller import pump

    assert pump([relay.pollers["IngestFunction"]], timeout=60)
    assert relay.api.requests == []
    # When the file is overwritten with other bytes, and everything runs
    put(relay, key, second, message="second")
    assert relay.run_until_idle(timeout=60)
    # Then two requests went out: the first upload's URL downloads the FIRST bytes, the overwrite's the second
    got = {}
    for req in relay.api.requests:
        caption = req.body.get("globalmessage") or req.body["data"][0]["message"]
        url = req.body.get("globalmedia") or req.body["data"][0]["media"]
        got[caption] = fetch(url)
    assert got == {"first": first, "second": second}
    assert {r["state"] for r in recipients(relay)} == {"accepted"} and len(recipients(relay)) == 2


def test_given_two_versions_notified_in_one_batch_as_aws_sends_them_then_each_is_checked_and_sent_as_its_own_version(relay, sample):
    # Given a file uploaded and overwritten before IngestFunction ran, and S3's two notifications as
    # AWS sends them for a versioned bucket (each naming its versionId), in one batch
    key = "outbox/447700901301/twice.jpg"
    first, second = sample("photo.jpg"), sample("photo.jpg") + b"-second version"
    v1 = put(relay, key, first, message="v1")["VersionId"]
    v2 = put(relay, key, second, message="v2")["VersionId"]
    assert v1 != v2
    poller = relay.pollers["IngestFunction"]
    sqs = relay.client("sqs")
    for m in poller._receive():  # moto's notifications carry no versionId: deliver AWS's instead
        sqs.delete_message(QueueUrl=poller.queue_url, ReceiptHandle=m["ReceiptHandle"])
    for version in (v1, v2):
        note = copy.deepcopy(AWS_S3_NOTIFICATION)
        note["Records"][0]["s3"]["bucket"]["name"] = relay.bucket
        note["Records"][0]["s3"]["object"].update(key=key, versionId=version)
        sqs.send_message(QueueUrl=poller.queue_url, MessageBody=json.dumps(note))
    # When they are ingested together and sent
    assert relay.run_until_idle(timeout=60)
    # Then each upload's caption went with its own bytes
    sent = {}
    for req in relay.api.requests:
        for d in req.body["data"]:
            sent[d["message"] or req.body.get("globalmessage")] = fetch(d.get("media") or req.body["globalmedia"])
    assert sent == {"v1": first, "v2": second}

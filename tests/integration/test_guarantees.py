"""Never lose, never duplicate, never exceed: claims, the shared rate limiter, bounded retries,
the dead-letter queue, 406 splits and ambiguous outcomes, on moto server + the stand-in."""

from __future__ import annotations

import json
import threading
import time

import pytest

from relay.ledger import Ledger
from relay.ratelimit import RateLimiter
from relay_local.dev.ledger_reads import scan_all
from relay_local.dev.standin import Answer

pytestmark = pytest.mark.integration


def put(relay, key: str, body: bytes, message: str = "hi") -> None:
    relay.client("s3").put_object(Bucket=relay.bucket, Key=key, Body=body, Metadata={"message": message})


def recipients(relay) -> dict[str, dict]:
    items = scan_all(Ledger(relay.client("dynamodb"), relay.table))
    return {i["number"]: i for i in items if i.get("kind") == "recipient"}


def dlq_bodies(relay) -> list[dict]:
    sqs = relay.client("sqs")
    url = relay.stack.ref("SendDeadLetterQueue")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def test_given_a_job_delivered_twice_when_both_copies_are_processed_then_it_is_sent_once(relay, sample):
    put(relay, "outbox/447700901001/p.jpg", sample("photo.jpg"))
    ingest = relay.pollers["IngestFunction"]
    while ingest.poll_once():
        pass
    # Given the send queue holds the job twice (SQS delivers at least once)
    sqs = relay.client("sqs")
    sender = relay.pollers["SenderFunction"]
    [message] = sender._receive()
    sqs.send_message(QueueUrl=sender.queue_url, MessageBody=message["Body"])
    sqs.change_message_visibility(QueueUrl=sender.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    # When both copies are processed, even in one batch
    assert relay.run_until_idle(timeout=30)
    # Then the vendor got one request and the ledger one accepted recipient
    assert len(relay.api.requests) == 1
    assert recipients(relay)["447700901001"]["state"] == "accepted"


def test_given_concurrent_senders_when_they_share_the_limiter_then_no_window_holds_more_than_the_limit(relay):
    ddb = relay.client("dynamodb")
    limit, window = 5, 1.5
    grants: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + 4.0

    def sender() -> None:
        limiter = RateLimiter(relay.client("dynamodb"), relay.stack.ref("RateLimitTable"), limit, window)
        while time.monotonic() < stop:
            wait = limiter.acquire()
            if wait == 0:
                with lock:
                    grants.append(limiter.last_grant)  # the time the slot was taken at
            else:
                time.sleep(min(wait, 0.05))

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grants.sort()
    # every rolling window holds at most `limit` grants, and the limiter did let requests through
    assert max(sum(1 for g in grants if start <= g < start + window) for start in grants) <= limit
    assert len(grants) >= 2 * limit
    assert (
        ddb.query(
            TableName=relay.stack.ref("RateLimitTable"),
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "RATE#picky-push"}},
        )["Count"]
        == limit
    )


def test_given_one_sender_alone_when_it_takes_slots_then_it_reads_them_once_and_writes_one_per_grant(relay):
    # Given a limiter of 5 slots per minute, used by one sender
    limiter = RateLimiter(relay.client("dynamodb"), relay.stack.ref("RateLimitTable"), 5, 60.0)
    # When it takes every slot, then asks for one more
    waits = [limiter.acquire() for _ in range(6)]
    # Then five are granted, the sixth waits about a window, and the slots were read once
    assert waits[:5] == [0.0] * 5 and 55 < waits[5] <= 60
    assert limiter.requests == 1 + 5


def test_given_another_sender_took_the_slot_its_view_shows_free_when_acquiring_then_it_reads_again(relay):
    table = relay.stack.ref("RateLimitTable")
    mine = RateLimiter(relay.client("dynamodb"), table, 2, 60.0)
    other = RateLimiter(relay.client("dynamodb"), table, 2, 60.0)
    # Given my view shows both slots free, and I take one
    assert mine.acquire() == 0.0
    # When another sender takes the other slot behind my back
    assert other.acquire() == 0.0
    # Then my next request is refused a slot (after reading the slots again), not granted on a stale view
    before = mine.requests
    assert mine.acquire() > 50
    assert mine.requests - before == 2  # the refused write, then the read
    assert (
        relay.client("dynamodb").query(
            TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "RATE#picky-push"}}
        )["Count"]
        == 2
    )


def test_given_a_granted_slot_when_its_request_has_gone_out_then_the_window_counts_from_then_but_never_over_another_grant(relay):
    table = relay.stack.ref("RateLimitTable")
    now = [1000.0]
    mine = RateLimiter(relay.client("dynamodb"), table, 1, 5.0, clock=lambda: now[0], scope="channel-10")
    other = RateLimiter(relay.client("dynamodb"), table, 1, 5.0, clock=lambda: now[0], scope="channel-10")
    # Given my request took its slot at 1000 and went out 2 s later
    assert mine.acquire() == 0.0
    now[0] = 1002.0
    mine.restart_from_now()
    # Then the next one waits the spacing from 1002, not from 1000
    now[0] = 1005.5
    assert other.acquire() == pytest.approx(1.5)
    now[0] = 1007.0
    assert other.acquire() == 0.0
    # And a request so slow that another sender took the slot meanwhile does not move that sender's time
    now[0] = 1020.0
    assert mine.acquire() == 0.0
    now[0] = 1026.0
    assert other.acquire() == 0.0
    now[0] = 1027.0
    mine.restart_from_now()
    stamp = relay.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "RATE#channel-10"}, "sk": {"S": "SLOT#0000"}})
    assert float(stamp["Item"]["last"]["N"]) == 1026.0


@pytest.mark.parametrize("relay_env", [{"RETRY_BASE_SECONDS": "0", "MAX_SEND_ATTEMPTS": "3"}])
def test_given_a_vendor_that_keeps_failing_when_attempts_run_out_then_recipients_fail_and_the_job_is_dead_lettered(relay, sample):
    relay.api.script(Answer(http_status=500), Answer(http_status=503), Answer(vendor_status=101))
    put(relay, "outbox/447700901101/p.jpg", sample("photo.jpg"))
    assert relay.run_until_idle(timeout=30)
    assert len(relay.api.requests) == 3  # bounded
    row = recipients(relay)["447700901101"]
    assert row["state"] == "failed" and "gave up after 3 attempts" in row["reason"] and "101" in row["reason"]
    [job] = dlq_bodies(relay)
    assert job["entries"][0]["number"] == "447700901101"


@pytest.mark.parametrize("status", [401, 403])
def test_given_an_account_failure_when_sent_then_it_is_not_retried_and_kept_for_a_redrive(relay, sample, status):
    relay.api.script(Answer(vendor_status=status))
    put(relay, "outbox/447700901201/p.jpg", sample("photo.jpg"))
    assert relay.run_until_idle(timeout=30)
    assert len(relay.api.requests) == 1
    assert recipients(relay)["447700901201"]["state"] == "failed"
    assert [j["entries"][0]["number"] for j in dlq_bodies(relay)] == ["447700901201"]


def test_given_an_invalid_number_answer_for_several_recipients_then_only_the_bad_one_is_rejected(relay, sample):
    # the first request (3 recipients) is refused with 406; its recipients are then sent one by one,
    # and the vendor refuses one of those again
    relay.api.script(Answer(vendor_status=406), Answer(), Answer(vendor_status=406), Answer())
    for i in range(3):
        put(relay, f"outbox/44770090130{i}/p.jpg", sample("photo.jpg"))
    assert relay.run_until_idle(timeout=30)
    sizes = [len(r.body["data"]) for r in relay.api.requests]
    assert sizes == [3, 1, 1, 1]
    states = sorted(r["state"] for r in recipients(relay).values())
    assert states == ["accepted", "accepted", "rejected"]
    # one ledger entry per recipient: the split removed the first request's
    items = scan_all(Ledger(relay.client("dynamodb"), relay.table))
    assert len([i for i in items if i.get("kind") == "recipient"]) == 3


def test_given_an_attempt_that_died_after_claiming_when_redelivered_then_it_is_ambiguous_not_resent(relay, sample):
    put(relay, "outbox/447700901401/p.jpg", sample("photo.jpg"))
    ingest = relay.pollers["IngestFunction"]
    while ingest.poll_once():
        pass
    sender = relay.pollers["SenderFunction"]
    [message] = sender._receive()
    job = json.loads(message["Body"])
    # Given an invocation took the claim long ago and never finished (killed mid-flight)
    book = Ledger(relay.client("dynamodb"), relay.table)
    assert book.claim_job(job["job_id"], "dead-invocation", "2026-01-01T00:00:00.000Z", ("planned",)) == 1
    relay.client("sqs").change_message_visibility(QueueUrl=sender.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    # When the queue delivers the job again
    assert relay.run_until_idle(timeout=30)
    # Then it is not sent again: the recipient is ambiguous, for the delivery report to settle
    assert relay.api.requests == []
    row = recipients(relay)["447700901401"]
    assert row["state"] == "ambiguous" and "may have been sent" in row["reason"]


def test_given_a_timeout_after_the_vendor_accepted_then_a_delivery_report_settles_the_ambiguous_recipient(relay, sample):
    relay.api.script(Answer(delay=1.5))
    relay.invoker.extra_env["PUSH_TIMEOUT_SECONDS"] = "0.5"
    put(relay, "outbox/447700901501/p.jpg", sample("photo.jpg"))
    assert relay.run_until_idle(timeout=30)
    [req] = relay.api.requests
    row = recipients(relay)["447700901501"]
    assert row["state"] == "ambiguous"
    # the vendor did take it: its report names our reference (the relay's recipient id)
    from relay.delivery_reports import VendorEvent, apply_event

    entry = req.body["data"][0]
    assert entry["reference_number"] == row["rid"]
    event = VendorEvent.model_validate(
        {"event_id": 1, "data": [{"number": entry["number"], "msg_id": "m-77", "status": 1, "reference_number": entry["reference_number"]}]}
    )
    report = apply_event(Ledger(relay.client("dynamodb"), relay.table), event)
    assert report.updated == 1
    assert recipients(relay)["447700901501"]["state"] == "delivered"


def test_given_dead_lettered_jobs_when_the_cause_is_fixed_and_they_are_redriven_then_they_are_sent(relay, sample):
    from relay_local.ops.redrive import redrive

    # Given the vendor refused the account (no balance): the job is failed and dead-lettered
    relay.api.script(Answer(vendor_status=403))
    put(relay, "outbox/447700901601/p.jpg", sample("photo.jpg"))
    assert relay.run_until_idle(timeout=30)
    assert recipients(relay)["447700901601"]["state"] == "failed"
    # When the balance is topped up (the stand-in answers normally again) and the job is redriven
    sqs = relay.client("sqs")
    report = redrive(
        sqs, relay.stack.ref("SendDeadLetterQueue"), relay.stack.ref("SendQueue"), Ledger(relay.client("dynamodb"), relay.table)
    )
    assert (report.moved, report.jobs_reset) == (1, 1)
    assert relay.run_until_idle(timeout=30)
    # Then it is sent and the recipient's one ledger entry says accepted
    assert [r.response_body["status"] for r in relay.api.requests] == [403, 100]
    assert recipients(relay)["447700901601"]["state"] == "accepted"
    assert dlq_bodies(relay) == []


@pytest.mark.parametrize("relay_env", [{"RETRY_BASE_SECONDS": "0", "PER_RECIPIENT_SPACING_SECONDS": "1"}])
def test_given_two_plans_for_a_channel_without_dynamic_media_then_their_requests_are_spaced_across_plans(relay, sample):
    import json as _json

    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/a.png", Body=sample("chart.png"))
    ingest = relay.pollers["IngestFunction"]
    # two manifests planned by two ingest invocations: each plans its first request for "now"
    for m in range(2):
        rows = [{"number": f"4477009017{m}{i}", "media": "media/a.png"} for i in range(2)]
        s3.put_object(
            Bucket=relay.bucket,
            Key=f"manifests/web{m}.json",
            Body=_json.dumps({"application": 10, "message": "hi", "recipients": rows}).encode(),
        )
        while ingest.poll_once():
            pass
    assert relay.run_until_idle(timeout=60)
    times = sorted(r.at for r in relay.api.requests)
    assert len(times) == 4 and all(r.response_body["status"] == 100 for r in relay.api.requests)
    # the vendor's rule holds across plans and senders: one request per recipient, >= 1 s apart
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.9

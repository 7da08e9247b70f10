"""Sender faults from issue 9, on moto server + the Push API stand-in over real HTTP: waits past
SQS's 12 hours, answers that are not the vendor's, the vendor's transient 404, trickled and huge
answers, too little function time, log keys, malformed SQS records."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import boto3
import pytest

from relay.ledger import Ledger, push_pk
from relay_local.dev.invoker import LocalContext
from relay_local.dev.ledger_reads import scan_all
from relay_local.dev.standin import Answer

pytestmark = pytest.mark.integration

HOUR = 3600


def put(relay, key: str, body: bytes) -> None:
    relay.client("s3").put_object(Bucket=relay.bucket, Key=key, Body=body, Metadata={"message": "hi"})


def recipients(relay) -> dict[str, dict]:
    items = scan_all(Ledger(relay.client("dynamodb"), relay.table))
    return {i["number"]: i for i in items if i.get("kind") == "recipient"}


def dlq_bodies(relay) -> list[dict]:
    got = (
        relay.client("sqs")
        .receive_message(QueueUrl=relay.stack.ref("SendDeadLetterQueue"), MaxNumberOfMessages=10, WaitTimeSeconds=0)
        .get("Messages", [])
    )
    return [json.loads(m["Body"]) for m in got]


def plan_one(relay, sample, number: str) -> None:
    """An upload planned by IngestFunction: its job waits on the send queue."""
    put(relay, f"outbox/{number}/p.jpg", sample("photo.jpg"))
    ingest = relay.pollers["IngestFunction"]
    while ingest.poll_once():
        pass


def sender_module(relay):
    """sender.app with the stack's environment applied (an empty batch, as a warm-up invocation)."""
    import sender.app

    relay.invoker.invoke("SenderFunction", {"Records": []})
    return sender.app


def context(seconds: int) -> LocalContext:
    return LocalContext(
        function_name="t-SenderFunction",
        memory_limit_in_mb=256,
        timeout_seconds=seconds,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:t-SenderFunction",
    )


# -- send_at beyond SQS's 12 hours ------------------------------------------------------------------
@pytest.fixture
def strict_visibility(relay) -> Iterator[dict]:
    """Records the sender's ChangeMessageVisibility calls and whether SQS's rule refuses each (a
    message invisible beyond 12 hours from its first receive); the embedded SQS refuses them for real
    (relay_local/dev/strict_sqs.py), from the first receive the test sets with `backdate`."""
    from relay import wiring

    first_receive: dict[str, float] = {}  # receipt handle -> first receive (unix seconds)
    calls: list[tuple[int, bool]] = []

    def check(params, **_):
        first = first_receive.get(params["ReceiptHandle"])
        refused = first is not None and time.time() + params["VisibilityTimeout"] > first + 43_200
        calls.append((params["VisibilityTimeout"], refused))

    # on the default session, so that every client the handler creates later has it
    events = boto3._get_default_session().events
    events.register("provide-client-params.sqs.ChangeMessageVisibility", check)
    wiring.reset()
    try:
        yield {"first_receive": first_receive, "calls": calls}
    finally:
        events.unregister("provide-client-params.sqs.ChangeMessageVisibility", check)
        wiring.reset()


def _backdate_first_receive(receipt_handle: str, first: float) -> None:
    """Make the embedded SQS believe the message was first received at `first` (unix seconds)."""
    from moto.sqs.models import sqs_backends

    for queue in sqs_backends["123456789012"]["us-east-1"].queues.values():
        for message in queue._messages:
            if message.had_receipt_handle(receipt_handle):
                message._relay_received_at[receipt_handle] = int(first * 1000)
                return
    raise AssertionError("no message with that receipt handle")


def _received_job_due_in(relay, sample, number: str, seconds: float) -> dict:
    """The planned job, its not_before moved `seconds` ahead, received from the send queue as Lambda would."""
    plan_one(relay, sample, number)
    poller = relay.pollers["SenderFunction"]
    [message] = poller._receive()
    sqs = relay.client("sqs")
    sqs.delete_message(QueueUrl=poller.queue_url, ReceiptHandle=message["ReceiptHandle"])
    job = json.loads(message["Body"])
    job["not_before"] = time.time() + seconds
    sqs.send_message(QueueUrl=poller.queue_url, MessageBody=json.dumps(job))
    [message] = poller._receive()
    return poller.event_for([message])


def test_given_send_at_days_ahead_on_a_message_first_received_12_hours_ago_then_it_goes_back_as_a_fresh_copy(
    relay, sample, strict_visibility
):
    # Given a job due in 3 days whose message was first received 11h58m ago (its 12-hour budget spent)
    event = _received_job_due_in(relay, sample, "447700902001", 3 * 24 * HOUR)
    record = event["Records"][0]
    first = time.time() - 12 * HOUR + 120
    record["attributes"]["ApproximateFirstReceiveTimestamp"] = str(int(first * 1000))
    strict_visibility["first_receive"][record["receiptHandle"]] = first
    _backdate_first_receive(record["receiptHandle"], first)
    # When the sender sees it is not due yet
    result = sender_module(relay).lambda_handler(event, context(120))
    # Then it is acknowledged (not left to fail on SQS's refusal) and a fresh delayed copy is queued
    assert result == {"batchItemFailures": []}
    assert not any(refused for _, refused in strict_visibility["calls"])
    attrs = relay.client("sqs").get_queue_attributes(
        QueueUrl=relay.pollers["SenderFunction"].queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1"
    assert relay.api.requests == []
    assert recipients(relay)["447700902001"]["state"] == "planned"


def test_given_send_at_days_ahead_on_a_fresh_message_then_it_waits_only_what_sqs_allows(relay, sample, strict_visibility):
    # Given a job due in 3 days, just received for the first time
    event = _received_job_due_in(relay, sample, "447700902002", 3 * 24 * HOUR)
    record = event["Records"][0]
    strict_visibility["first_receive"][record["receiptHandle"]] = time.time()
    # When the sender puts it back
    result = sender_module(relay).lambda_handler(event, context(120))
    # Then it waits by visibility, within the 12 hours SQS allows, and comes back later (a batch item failure)
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [record["messageId"]]
    [(seconds, refused)] = strict_visibility["calls"]
    assert not refused and 11 * HOUR < seconds < 12 * HOUR


# -- answers that are not the vendor's ----------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    [
        Answer(http_status=403, body="<html><h1>403 Forbidden</h1>Request blocked by WAF</html>"),
        Answer(http_status=404),  # a wrong path: the server's own JSON 404
        Answer(http_status=301, body="Moved Permanently"),
    ],
    ids=["waf-403-html", "wrong-url-404", "redirect-301"],
)
def test_given_an_http_error_that_is_not_a_push_result_then_recipients_fail_and_the_job_is_kept_for_a_redrive(relay, sample, answer):
    relay.api.script(answer)
    # Given the vendor's URL answers with something that is not a push result
    put(relay, "outbox/447700902101/p.jpg", sample("photo.jpg"))
    # When the job is sent
    assert relay.run_until_idle(timeout=30)
    # Then it is answered, so not ambiguous: failed with a reason naming the status and the likely cause,
    # not retried, and kept on the dead-letter queue for `relay redrive`
    assert len(relay.api.requests) == 1
    row = recipients(relay)["447700902101"]
    assert row["state"] == "failed"
    assert f"HTTP {answer.http_status}" in row["reason"] and "PickyApiUrl" in row["reason"]
    assert [j["entries"][0]["number"] for j in dlq_bodies(relay)] == ["447700902101"]


def test_given_an_http_error_that_is_not_a_push_result_then_the_outcome_counts_a_vendor_http_error(relay, sample):
    from relay.models import Job
    from relay.pushapi import PushApiClient
    from relay.sending import Sender
    from relay_local.dev.session import LOCAL_TOKEN

    relay.api.script(Answer(http_status=403, body="<html>blocked</html>"))
    plan_one(relay, sample, "447700902102")
    [message] = relay.pollers["SenderFunction"]._receive()
    sender = Sender(
        api=PushApiClient(relay.api.url, lambda: LOCAL_TOKEN),
        ledger=Ledger(relay.client("dynamodb"), relay.table),
        presign=lambda media: f"https://example.invalid/{media.key}",
    )
    outcome = sender.send(Job.model_validate_json(message["Body"]))
    assert outcome.state == "failed" and outcome.dead_letter
    assert outcome.metrics == {"RecipientsFailed": 1, "VendorHttpErrors": 1}


def test_given_the_vendor_cannot_reach_the_phone_when_sent_then_it_is_retried_and_sent(relay, sample):
    # Given the vendor answers status 404 "unable to communicate with your phone" once
    relay.api.script(Answer(vendor_status=404))
    put(relay, "outbox/447700902201/p.jpg", sample("photo.jpg"))
    # When the job is sent
    assert relay.run_until_idle(timeout=30)
    # Then it is tried again (the phone comes back) and accepted
    assert [r.response_body["status"] for r in relay.api.requests] == [404, 100]
    assert recipients(relay)["447700902201"]["state"] == "accepted"


# -- a total deadline and a size cap on the vendor's answer ---------------------------------------
@pytest.mark.parametrize("relay_env", [{"RETRY_BASE_SECONDS": "0", "PUSH_TIMEOUT_SECONDS": "2"}])
def test_given_an_answer_trickled_a_byte_a_second_when_sent_then_the_send_ends_at_its_deadline_ambiguous(relay, sample):
    # Given the vendor takes the push but trickles its answer (about 150 bytes, a byte a second)
    relay.api.script(Answer(trickle=1.0))
    plan_one(relay, sample, "447700902301")
    # When the job is sent with a 2-second total deadline
    started = time.monotonic()
    assert relay.pollers["SenderFunction"].poll_once() == 1
    took = time.monotonic() - started
    # Then the send ends near its deadline, not after the whole answer (minutes), and the recipient is
    # ambiguous (the vendor may have queued it), not re-sent
    assert took < 2 + 5
    row = recipients(relay)["447700902301"]
    assert row["state"] == "ambiguous" and "within 2s" in row["reason"]
    assert len(relay.api.requests) == 1


def test_given_a_5_mb_answer_when_sent_then_it_is_not_read_and_the_recipient_is_ambiguous(relay, sample):
    # Given an answer of 5 MB (a valid push result, padded)
    relay.api.script(Answer(body='{"status": 100, "push_id": "1", "pad": "' + "x" * 5_000_000 + '"}'))
    put(relay, "outbox/447700902401/p.jpg", sample("photo.jpg"))
    # When the job is sent
    assert relay.run_until_idle(timeout=30)
    # Then the answer is capped at 1 MiB: not a result, an ambiguous outcome naming the cap
    row = recipients(relay)["447700902401"]
    assert row["state"] == "ambiguous" and "1,048,576 bytes" in row["reason"]


def test_given_an_invocation_with_little_time_left_when_a_job_arrives_then_it_is_put_back_unclaimed_and_sent_next(relay, sample):
    plan_one(relay, sample, "447700902501")
    module = sender_module(relay)
    poller = relay.pollers["SenderFunction"]
    [message] = poller._receive()
    job_id = json.loads(message["Body"])["job_id"]
    # Given an invocation with 20 s left, less than a send may need (25 s deadline + 10 s)
    result = module.lambda_handler(poller.event_for([message]), context(20))
    # Then the job is not claimed nor sent, but returned to the queue
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [message["MessageId"]]
    assert relay.api.requests == []
    push = Ledger(relay.client("dynamodb"), relay.table).get(push_pk(job_id), "PUSH")
    assert push["state"] == "planned" and "claim" not in push
    # When the next invocation (with its full time) takes it, it is sent
    assert relay.run_until_idle(timeout=30)
    assert recipients(relay)["447700902501"]["state"] == "accepted"


# -- log keys ------------------------------------------------------------------------------------
def test_given_a_batch_of_two_jobs_and_a_malformed_one_then_each_line_carries_only_its_own_job_id(relay, sample):
    for n in ("447700902601", "447700902602"):  # planned apart: two jobs
        plan_one(relay, sample, n)
    module = sender_module(relay)
    poller = relay.pollers["SenderFunction"]
    messages = poller._receive()
    assert len(messages) == 2
    event = poller.event_for(messages)
    bad = dict(event["Records"][0], messageId="bad-1", body='{"not": "a job"}')
    event["Records"].append(bad)
    jobs = {json.loads(m["Body"])["job_id"] for m in messages}
    buffer = io.StringIO()
    handler = module.logger.registered_handler
    stream = handler.setStream(buffer)
    level = module.logger.log_level
    module.logger.setLevel("INFO")
    try:
        # When one invocation sends the batch
        module.lambda_handler(event, context(120))
    finally:
        handler.setStream(stream)
        module.logger.setLevel(level)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    sent = [line for line in lines if line["message"] == "sent"]
    # Then each "sent" line names its own job, and the lines after them (the malformed job's, the
    # handler's end line) name none
    assert sorted(line["job_id"] for line in sent) == sorted(jobs)
    later = [line for line in lines if line["message"] in ("not a push job: dead-lettered", "batch done")]
    assert [line["message"] for line in later] == ["not a push job: dead-lettered", "batch done"]
    assert all("job_id" not in line for line in later)


# -- malformed SQS records -------------------------------------------------------------------------
def test_given_records_of_the_wrong_shape_in_a_batch_then_the_well_formed_ones_are_sent(relay, sample):
    for n in ("447700902701", "447700902702"):
        put(relay, f"outbox/{n}/p.jpg", sample("photo.jpg"))
    ingest = relay.pollers["IngestFunction"]
    while ingest.poll_once():
        pass
    poller = relay.pollers["SenderFunction"]
    messages = poller._receive()
    event = poller.event_for(messages)
    # Given a record without a messageId and one that is not an object at all, between good ones
    no_id = {k: v for k, v in event["Records"][0].items() if k != "messageId"}
    event["Records"][1:1] = [no_id, "not a record"]
    # When the batch is processed
    result = relay.invoker.invoke("SenderFunction", event)
    # Then nothing crashes, the good jobs are sent, the malformed ones are not reported (they have no id)
    assert result == {"batchItemFailures": []}
    assert sorted(recipients(relay)[n]["state"] for n in ("447700902701", "447700902702")) == ["accepted", "accepted"]
    # the record with a body is kept on the dead-letter queue, so nothing is lost
    assert len(dlq_bodies(relay)) == 1

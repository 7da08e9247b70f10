"""IAM as deployed: every function's calls (and its event source mapping's) are checked against the
role `sam deploy` gives it (relay_local.dev.iam). Removing one permission from a function's transformed
policy makes a real scenario fail with AccessDenied; S3 answers 403 for a missing key to a role
without s3:ListBucket, and the relay reads that as one rejected recipient, not a failed batch."""

from __future__ import annotations

import json
from collections import Counter

import httpx
import pytest
from botocore.exceptions import ClientError

from relay.ledger import Ledger
from relay.signing import sign
from relay_local.dev.iam import Enforcer
from relay_local.dev.iam_roles import revoke, transformed
from relay_local.dev.invoker import Invoker
from relay_local.dev.ledger_reads import scan_all
from relay_local.dev.poller import SqsPoller, pump
from relay_local.dev.serve import ApiServer
from relay_local.dev.session import LOCAL_SIGNING_SECRET

pytestmark = pytest.mark.integration


def recipients(relay) -> list[dict]:
    return [i for i in scan_all(Ledger(relay.client("dynamodb"), relay.table)) if i.get("kind") == "recipient"]


def with_role_without(relay, function: str, action: str) -> Enforcer:
    """From now on the functions run with template.yaml's roles minus `action` for `function`."""
    enforcer = Enforcer(relay.stack, doc=revoke(transformed(), function, action))
    relay.invoker.iam = enforcer
    return enforcer


def test_given_the_relay_when_files_a_manifest_and_a_signed_push_go_through_then_every_call_each_role_made_was_allowed(relay, sample):
    # Given media, a per-recipient file and a manifest in the bucket, and a signed push over HTTP
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/photo.jpg", Body=sample("photo.jpg"))
    s3.put_object(Bucket=relay.bucket, Key="outbox/447700900123/p.jpg", Body=sample("photo.jpg"), Metadata={"message": "Your photo"})
    manifest = {"message": "Hi {name}", "recipients": [{"number": "447700900201", "name": "Ana", "media": "media/photo.jpg"}]}
    s3.put_object(Bucket=relay.bucket, Key="manifests/m.json", Body=json.dumps(manifest).encode())
    body = json.dumps({"message": "Shipped", "media": {"key": "media/photo.jpg"}, "recipients": [{"number": "447700900301"}]}).encode()
    # When everything runs through the invoker with enforcement on (the default)
    with ApiServer(relay) as server:
        resp = httpx.post(
            f"{server.url}/pushes",
            content=body,
            timeout=20,
            headers={"Content-Type": "application/json", **sign(LOCAL_SIGNING_SECRET, body)},
        )
        assert resp.status_code == 202, resp.text
        assert relay.run_until_idle(timeout=60)
    # Then every recipient was sent, and each function (and its queue poller) made calls, all allowed
    assert sorted(r["state"] for r in recipients(relay)) == ["accepted"] * 3
    calls = relay.invoker.iam.calls
    assert {c.function for c in calls} == {"ApiFunction", "IngestFunction", "SenderFunction", "ResultsFunction"}
    assert [c for c in calls if c.decision != "allow"] == []
    made = Counter((c.function, c.action) for c in calls)
    for expected in [
        ("IngestFunction", "sqs:ReceiveMessage"),
        ("IngestFunction", "sqs:DeleteMessage"),
        ("IngestFunction", "s3:GetObject"),
        ("IngestFunction", "dynamodb:BatchWriteItem"),
        ("SenderFunction", "s3:GetObjectVersion"),
        ("SenderFunction", "dynamodb:UpdateItem"),
        ("ApiFunction", "sqs:SendMessage"),
        ("ApiFunction", "s3:GetObject"),
        ("ResultsFunction", "dynamodb:GetRecords"),
        ("ResultsFunction", "dynamodb:Query"),
        ("ResultsFunction", "s3:PutObject"),
    ]:
        assert made[expected], expected


def test_given_ingest_without_batch_write_when_a_file_is_uploaded_then_access_denied_stops_it_and_with_it_the_file_is_sent(relay, sample):
    # Given IngestFunction's deployed role minus dynamodb:BatchWriteItem
    enforcer = with_role_without(relay, "IngestFunction", "dynamodb:BatchWriteItem")
    relay.client("s3").put_object(Bucket=relay.bucket, Key="outbox/447700900123/a.jpg", Body=sample("photo.jpg"))
    # When the ingest queue is polled
    assert relay.pollers["IngestFunction"].poll_once() >= 1  # (and S3's test event)
    # Then the ledger write was refused as on AWS, and no recipient was recorded or queued
    [denied] = enforcer.denied("IngestFunction", "BatchWriteItem")
    assert denied.action == "dynamodb:BatchWriteItem" and denied.resource.endswith(f":table/{relay.table}")
    assert recipients(relay) == [] and relay.pollers["SenderFunction"].pending() == 0
    # And given the role as template.yaml declares it, the next file goes all the way
    relay.invoker.iam = Enforcer(relay.stack)
    relay.client("s3").put_object(Bucket=relay.bucket, Key="outbox/447700900124/b.jpg", Body=sample("photo.jpg"))
    assert relay.pollers["IngestFunction"].poll_once() >= 1  # (and S3's test event)
    assert pump([relay.pollers["SenderFunction"]], timeout=60)
    assert [(r["number"], r["state"]) for r in recipients(relay)] == [("447700900124", "accepted")]


def test_given_sender_without_change_message_visibility_when_the_vendor_fails_then_the_retry_is_refused(relay, sample):
    from relay_local.dev.standin import Answer

    # Given the sender's role without sqs:ChangeMessageVisibility (as template.yaml had it) and a vendor 500
    enforcer = with_role_without(relay, "SenderFunction", "sqs:ChangeMessageVisibility")
    relay.api.script(Answer(http_status=500))
    relay.client("s3").put_object(Bucket=relay.bucket, Key="outbox/447700900123/a.jpg", Body=sample("photo.jpg"))
    assert relay.pollers["IngestFunction"].poll_once() >= 1  # (and S3's test event)
    # When the job is sent and must go back on its queue for a retry
    relay.pollers["SenderFunction"].poll_once()
    # Then putting it back is refused, as it would be on AWS
    [denied] = enforcer.denied("SenderFunction", "ChangeMessageVisibility")
    assert denied.resource == relay.stack.resolver.attrs[("SendQueue", "Arn")]


def test_given_a_function_without_the_managed_sqs_policy_then_its_event_source_cannot_receive(relay):
    # Given IngestFunction's role without AWSLambdaSQSQueueExecutionRole (which SAM attaches for an SQS event)
    doc = revoke(transformed(), "IngestFunction", "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole")
    invoker = Invoker(relay.stack, relay.invoker.extra_env)
    invoker.iam = Enforcer(relay.stack, doc=doc)
    # When its event source mapping polls the queue, Then the receive is refused
    with pytest.raises(ClientError) as denied:
        SqsPoller(invoker, "IngestFunction").poll_once()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert "sqs:ReceiveMessage" in denied.value.response["Error"]["Message"]


def test_given_sender_without_s3_read_when_it_presigns_then_the_url_is_refused_and_nothing_is_sent(relay, sample):
    # Given the sender may not read object versions (the bucket is versioned and a URL names the version
    # that was checked): a URL it signs could not be fetched
    enforcer = with_role_without(relay, "SenderFunction", "s3:GetObjectVersion")
    relay.client("s3").put_object(Bucket=relay.bucket, Key="outbox/447700900123/a.jpg", Body=sample("photo.jpg"))
    assert relay.pollers["IngestFunction"].poll_once() >= 1  # (and S3's test event)
    # When the sender takes the job
    relay.pollers["SenderFunction"].poll_once()
    # Then presigning was refused and the vendor got no request with a dead URL
    [denied] = enforcer.denied("SenderFunction", "GetObject (presigned URL)")
    assert denied.action == "s3:GetObjectVersion"
    assert denied.resource == f"arn:aws:s3:::{relay.bucket}/outbox/447700900123/a.jpg"
    assert relay.api.requests == []


def test_given_a_manifest_naming_a_missing_media_key_then_s3_answers_403_and_only_that_row_is_rejected(relay, sample):
    # Given a manifest whose second row names a key that is not in the bucket (no s3:ListBucket: S3 answers 403)
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/photo.jpg", Body=sample("photo.jpg"))
    manifest = {
        "message": "Hi",
        "recipients": [
            {"number": "447700900201", "media": "media/photo.jpg"},
            {"number": "447700900202", "media": "media/gone.jpg"},
            {"number": "447700900203"},
        ],
    }
    s3.put_object(Bucket=relay.bucket, Key="manifests/m.json", Body=json.dumps(manifest).encode())
    # When it goes through IngestFunction and the sender
    assert relay.run_until_idle(timeout=60)
    # Then the missing key was answered 403, that row alone is rejected, and the others were sent
    assert any(c.decision == "missing key: 403" and c.operation == "s3.GetObject" for c in relay.invoker.iam.calls)
    states = {r["number"]: r for r in recipients(relay)}
    assert {n: r["state"] for n, r in states.items()} == {
        "447700900201": "accepted",
        "447700900202": "rejected",
        "447700900203": "accepted",
    }
    assert "media/gone.jpg" in states["447700900202"]["reason"]


def test_given_an_outbox_file_deleted_before_ingest_then_its_recipient_is_rejected_as_absent_or_unreadable(relay, sample):
    # Given an upload notification for a file that is gone by the time IngestFunction reads it
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="outbox/447700900123/a.jpg", Body=sample("photo.jpg"))
    s3.delete_object(Bucket=relay.bucket, Key="outbox/447700900123/a.jpg")
    s3.put_object(Bucket=relay.bucket, Key="outbox/447700900124/b.jpg", Body=sample("photo.jpg"))
    # When both notifications are processed
    assert relay.run_until_idle(timeout=60)
    # Then S3's 403 is a per-recipient rejection naming both readings, and the other file was sent
    states = {r["number"]: r for r in recipients(relay)}
    assert states["447700900124"]["state"] == "accepted"
    assert states["447700900123"]["state"] == "rejected"
    assert "does not exist or may not be read" in states["447700900123"]["reason"]


def test_given_relay_iam_off_then_the_invoker_checks_nothing(relay, monkeypatch):
    monkeypatch.setenv("RELAY_IAM", "off")
    assert Invoker(relay.stack).iam is None
    monkeypatch.setenv("RELAY_IAM", "on")
    assert Invoker(relay.stack).iam is not None


@pytest.mark.parametrize("relay_env", [{"PICKY_TOKEN": "", "RETRY_BASE_SECONDS": "0"}])
def test_given_the_token_in_ssm_then_powertools_reads_it_with_the_senders_role_and_without_get_parameter_cannot(relay, sample):
    # Given the token only in SSM, as on AWS, and a job to send
    name = relay.invoker.environment("SenderFunction")["PICKY_TOKEN_PARAMETER"]
    relay.client("ssm").put_parameter(Name=name, Value="local-demo-token", Type="SecureString", Overwrite=True)
    relay.client("s3").put_object(Bucket=relay.bucket, Key="outbox/447700900123/a.jpg", Body=sample("photo.jpg"))
    assert relay.pollers["IngestFunction"].poll_once() >= 1
    # When the sender's role lacks ssm:GetParameter, Then Powertools' SSM provider is refused, nothing is sent
    enforcer = with_role_without(relay, "SenderFunction", "ssm:GetParameter")
    relay.pollers["SenderFunction"].poll_once()
    [denied] = enforcer.denied("SenderFunction", "ssm.GetParameter")
    assert denied.resource == f"arn:aws:ssm:{relay.stack.region}:123456789012:parameter{name}"
    assert relay.api.requests == []


def test_given_a_function_ran_with_an_extra_variable_when_another_invoker_runs_without_it_then_the_variable_is_gone(relay):
    # Given: one invocation with a variable template.yaml does not set (as a test's relay_env would)
    from relay import wiring

    assert "SEND_LEASE_SECONDS" not in relay.invoker.environment("IngestFunction")
    with_extra = Invoker(relay.stack, {**relay.invoker.extra_env, "SEND_LEASE_SECONDS": "7"})
    with_extra.invoke("IngestFunction", {"Records": []})
    assert wiring.container().settings.send_lease_seconds == 7
    # When: the next invoker (the next test's stack) runs without it
    Invoker(relay.stack, relay.invoker.extra_env).invoke("IngestFunction", {"Records": []})
    # Then: its functions see the environment it was given, not the previous one's leftovers
    assert wiring.container().settings.send_lease_seconds == 120


def test_given_a_local_relay_whose_functions_ran_when_it_stops_then_the_process_environment_is_as_before(embedded_aws):
    # Given a local relay whose function ran with a variable the process did not have
    import os
    import uuid

    from relay_local.dev.session import LocalRelay

    assert "SEND_LEASE_SECONDS" not in os.environ
    local = LocalRelay(stack_name=f"t{uuid.uuid4().hex[:10]}", env={"SEND_LEASE_SECONDS": "7"}).start(aws=embedded_aws)
    local.invoker.invoke("IngestFunction", {"Records": []})
    assert os.environ["SEND_LEASE_SECONDS"] == "7"  # a function's environment is the process's while it runs
    # When it stops
    local.stop()
    # Then nothing of its functions' environment is left for the next test or a subprocess
    assert "SEND_LEASE_SECONDS" not in os.environ and "PUSH_LOG_TABLE" not in os.environ


def test_given_an_invocation_still_running_when_another_invoker_invokes_then_it_waits_and_the_first_keeps_its_environment(
    relay, monkeypatch
):
    # Given: an invocation still running in another thread (as a function API Gateway gave up on after
    # 29 s carries on), under an invoker whose environment has a variable the next one's lacks
    import os
    import threading
    import time

    import ingest.app

    seen: list[str | None] = []
    running = threading.Event()
    handler = ingest.app.lambda_handler

    def slow(event, context):
        seen.append(os.environ.get("SEND_LEASE_SECONDS"))
        running.set()
        time.sleep(0.5)
        seen.append(os.environ.get("SEND_LEASE_SECONDS"))
        return handler(event, context)

    monkeypatch.setattr(ingest.app, "lambda_handler", slow)
    first = Invoker(relay.stack, {**relay.invoker.extra_env, "SEND_LEASE_SECONDS": "7"})
    background = threading.Thread(target=first.invoke, args=("IngestFunction", {"Records": []}))
    background.start()
    assert running.wait(10)
    # When: another invoker (the next test's relay) invokes a function meanwhile
    Invoker(relay.stack, relay.invoker.extra_env).invoke("ResultsFunction", {"Records": []})
    background.join()
    # Then: the running invocation kept its environment to the end (one invocation at a time in this
    # process, as the environment and the IAM slot are the process's), and the second ran after it
    assert seen == ["7", "7"]
    assert "SEND_LEASE_SECONDS" not in os.environ or os.environ["SEND_LEASE_SECONDS"] != "7"

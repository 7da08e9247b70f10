"""Sender configuration on the embedded stack: token from SSM, partial batch failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay_local.dev.demo import upload_samples
from relay_local.dev.session import LOCAL_TOKEN

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"


def _send_jobs_event(relay) -> dict:
    return json.loads((EVENTS / "sqs-send-jobs.json").read_text().replace("relay-local-mediabucket", relay.bucket))


@pytest.mark.parametrize("relay_env", [{"PICKY_TOKEN": "", "RETRY_BASE_SECONDS": "0"}])
def test_given_no_local_token_when_sending_then_the_token_comes_from_the_ssm_parameter(relay):
    # Given the token only in SSM, as on AWS (PICKY_TOKEN_PARAMETER from template.yaml)
    name = relay.invoker.environment("SenderFunction")["PICKY_TOKEN_PARAMETER"]
    relay.client("ssm").put_parameter(Name=name, Value=LOCAL_TOKEN, Type="SecureString", Overwrite=True)
    upload_samples(relay)
    # When a job is sent
    result = relay.invoker.invoke("SenderFunction", _send_jobs_event(relay))
    # Then the vendor saw the right token and accepted
    assert result == {"batchItemFailures": []}
    assert [r.response_body["status"] for r in relay.api.requests] == [100, 100]
    assert all(r.body["token"] == LOCAL_TOKEN for r in relay.api.requests)


@pytest.mark.parametrize("relay_env", [{"PICKY_TOKEN": "", "RETRY_BASE_SECONDS": "0"}])
def test_given_a_wrong_token_in_ssm_when_sending_then_recipients_fail_with_the_vendors_401(relay):
    name = relay.invoker.environment("SenderFunction")["PICKY_TOKEN_PARAMETER"]
    relay.client("ssm").put_parameter(Name=name, Value="not-the-token", Type="SecureString", Overwrite=True)
    upload_samples(relay)
    relay.invoker.invoke("SenderFunction", _send_jobs_event(relay))
    items = relay.client("dynamodb").scan(TableName=relay.table)["Items"]
    states = {i["number"]["S"]: (i["state"]["S"], i["vendor_status"]["N"]) for i in items if i.get("kind", {}).get("S") == "recipient"}
    assert set(states.values()) == {("failed", "401")} and len(states) == 4
    assert "not-the-token" not in json.dumps(items)


def test_given_one_malformed_job_in_a_batch_when_sent_then_it_is_dead_lettered_and_its_neighbours_are_sent(relay):
    upload_samples(relay)
    event = _send_jobs_event(relay)
    bad = json.loads(json.dumps(event["Records"][0]))
    bad["messageId"] = "bad-0000"
    bad["body"] = json.dumps({"job_id": "x", "application": 8, "entries": []})  # a job with no recipient
    event["Records"].insert(1, bad)
    result = relay.invoker.invoke("SenderFunction", event)
    # the bad one is dead-lettered at once (no retry can fix it), its neighbours are sent
    assert result == {"batchItemFailures": []}
    assert len(relay.api.requests) == 2 and all(r.response_body["status"] == 100 for r in relay.api.requests)
    dlq = relay.client("sqs").receive_message(QueueUrl=relay.stack.ref("SendDeadLetterQueue"), MaxNumberOfMessages=10)
    assert [m["Body"] for m in dlq["Messages"]] == [bad["body"]]


def test_given_the_template_then_the_sender_has_time_for_a_send_and_the_queue_outlasts_an_invocation():
    from relay.putback import RECEIVES_BEFORE_COPY
    from relay.wiring import SEND_OVERHEAD_SECONDS
    from relay_local.template import functions, template

    spec = functions()["SenderFunction"]
    needed = float(spec.environment["PUSH_TIMEOUT_SECONDS"]) + SEND_OVERHEAD_SECONDS
    # a fresh invocation can always claim and finish at least one send at its deadline (else no job is ever sent)
    assert spec.timeout >= 3 * needed
    queue = template()["Resources"]["SendQueue"]["Properties"]
    # Lambda's SQS source: the queue's visibility covers the function's timeout (6x recommended)
    assert int(queue["VisibilityTimeout"]) >= 6 * spec.timeout
    # deferrals move to fresh copies well before SQS dead-letters a message
    assert int(queue["RedrivePolicy"]["maxReceiveCount"]) >= RECEIVES_BEFORE_COPY + 8

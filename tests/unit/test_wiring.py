"""relay.wiring: one container per Lambda container, built lazily, forgotten in one call."""

from __future__ import annotations

import pytest

from relay import wiring
from relay.settings import load_settings
from relay.sqs_records import sort_records

ENV = {
    "MEDIA_BUCKET": "bucket",
    "PUSH_LOG_TABLE": "push-log",
    "SEND_QUEUE_URL": "https://sqs.local/q",
    "SEND_DLQ_URL": "https://sqs.local/dlq",
    "PICKY_TOKEN": "t",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def env(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    yield
    wiring.reset()


def test_given_a_container_then_each_collaborator_is_built_once_and_only_when_asked_for(env):
    c = wiring.container()
    assert c is wiring.container()
    assert "sender" not in vars(c) and "ledger" not in vars(c)
    intake = c.intake()
    # the ingest function's collaborators only: no Push API client, no secrets
    assert "sender" not in vars(c) and "picky_token" not in vars(c)
    assert intake.ledger is c.ledger and c.intake() is not intake
    assert c.send_queue.dead_letter_url == ENV["SEND_DLQ_URL"]
    assert c.sender.ledger is c.ledger and c.sender.queue is c.send_queue
    assert c.picky_token() == "t"


def test_given_reset_then_the_next_container_reads_the_environment_again(env, monkeypatch):
    before = wiring.container()
    assert before.settings.push_log_table == "push-log"
    monkeypatch.setenv("PUSH_LOG_TABLE", "other-table")
    assert wiring.container().settings.push_log_table == "push-log"
    wiring.reset()
    assert wiring.container() is not before
    assert wiring.container().ledger.table == "other-table"


def test_given_settings_then_a_container_can_be_made_for_them():
    c = wiring.Container(load_settings(ENV))
    assert c.settings.media_bucket == "bucket"


def test_given_the_sender_rule_then_a_record_without_receipt_handle_is_malformed_and_keeps_its_body():
    good = {"messageId": "m1", "receiptHandle": "r1", "body": "{}"}
    no_handle = {"messageId": "m2", "body": "job"}
    no_id = {"receiptHandle": "r3", "body": "job3"}
    checked = sort_records([good, no_handle, no_id], need_receipt_handle=True)
    assert checked.good == [{**good, "attributes": {}}]
    assert [(m.message_id, m.body) for m in checked.failed] == [("m2", "job")]
    assert [m.body for m in checked.dropped] == ["job3"]
    # the ingest rule needs no receipt handle and leaves records as they are
    assert sort_records([no_handle]).good == [no_handle]

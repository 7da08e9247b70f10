"""Drain an SQS queue into a function the way Lambda's event source mapping does: receive a batch,
invoke with an SQS event, delete what succeeded, leave batch item failures to come back after their
visibility timeout (and to the dead-letter queue after maxReceiveCount)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import boto3

from relay_local.dev import lambda_limits
from relay_local.dev.invoker import Invoker
from relay_local.template import functions

log = logging.getLogger("relay.poller")
_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")


class SqsPoller:
    def __init__(self, invoker: Invoker, logical_id: str) -> None:
        spec = functions()[logical_id]
        if not spec.sqs_sources:
            raise ValueError(f"{logical_id} has no SQS event source in template.yaml")
        source = spec.sqs_sources[0]
        stack = invoker.stack
        self.invoker = invoker
        self.logical_id = logical_id
        self.batch_size = source.batch_size
        self.partial_failures = source.partial_failures
        self.queue_url = stack.ref(source.queue)
        self.queue_arn = stack.resolver.attrs[(source.queue, "Arn")]
        self.region = stack.region
        self.sqs = boto3.client("sqs", endpoint_url=stack.endpoint, region_name=stack.region)
        self.invocations = 0
        self.errors: list[BaseException] = []

    def _as_mapping(self, operation: str, **params: Any) -> None:
        """Lambda's event source mapping receives and deletes with the FUNCTION's role: check it
        (relay_local.dev.iam; the invoker's current enforcer, if any). The harness's own uses of
        `self.sqs` (pending counts, a soak's injected duplicates) are not the mapping's."""
        if self.invoker.iam is not None:
            self.invoker.iam.check(self.logical_id, "sqs", operation, params)

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.batch_size:
            self._as_mapping("ReceiveMessage", QueueUrl=self.queue_url)
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not got:
                break
            messages += got
        return messages

    def event_for(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Records": [self._record(m) for m in messages]}

    def _record(self, m: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {
                k: {
                    "stringValue": v.get("StringValue"),
                    "binaryValue": v.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": v["DataType"],
                }
                for k, v in (m.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }

    def batches(self, messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Received messages as the event source mapping invokes with them: within Lambda's 6 MB."""
        return lambda_limits.within_request(messages, self._record)

    def poll_once(self) -> int:
        """One receive + invoke + delete. Returns how many messages were handed to the function."""
        messages = self._receive()
        if not messages:
            return 0
        for batch in self.batches(messages):
            self._invoke(batch)
        return len(messages)

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        self.invocations += 1
        try:
            result = self.invoker.invoke(self.logical_id, self.event_for(messages))
        except Exception as exc:  # noqa: BLE001 - a failed invocation: Lambda retries the whole batch
            log.warning("%s failed: %s", self.logical_id, exc)
            self.errors.append(exc)
            return
        failed = set()
        if self.partial_failures and isinstance(result, dict):
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            chunk = done[i : i + 10]
            self._as_mapping("DeleteMessageBatch", QueueUrl=self.queue_url)
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)]
            )

    def pending(self) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=list(_COUNTS))["Attributes"]
        return sum(int(attrs.get(name, 0)) for name in _COUNTS)


class Poller(Protocol):
    def poll_once(self) -> int: ...
    def pending(self) -> int: ...


def pump(pollers: Sequence[Poller], timeout: float = 120.0, idle_sleep: float = 0.1, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Run the pollers until every queue is empty (nothing visible, in flight or delayed).
    Returns False if `timeout` passed first. `sleep` waits between rounds (the delivery bench times it).

    Empty is decided in this order: a round receives nothing, the counts say zero, and then one more
    round receives nothing. The counts alone can miss a message: moto reads each of
    ApproximateNumberOfMessages, ...NotVisible and ...Delayed at its own moment (AWS calls them
    approximate), so a message whose delay or visibility timeout ends between those moments is in
    none of them. It is receivable from that moment on, so the round after the counts finds it.
    (Without that round a drain ended with a caption's text job, queued 2 s after its media, still
    in the queue: its recipient stayed `planned`, and `relay status --watch` waited for it in vain.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(p.poll_once() for p in pollers):
            continue
        if any(p.pending() for p in pollers):
            sleep(idle_sleep)
        elif not sum(p.poll_once() for p in pollers):  # the round after the counts
            return True
    return False

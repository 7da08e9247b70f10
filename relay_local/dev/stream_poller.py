"""Drain a DynamoDB stream into a function the way Lambda's event source mapping does: read up to
BatchSize records per shard, invoke with a DynamoDB stream event (the shape of
`sam local generate-event dynamodb update`), and on batch item failures resume from the lowest
failed sequence number (up to MaximumRetryAttempts; then the records are given up, as Lambda does
without an on-failure destination). Cheap when idle: one GetRecords per shard per poll."""

from __future__ import annotations

import logging
from typing import Any

import boto3

from relay_local.dev import lambda_limits
from relay_local.dev.invoker import Invoker
from relay_local.template import functions

log = logging.getLogger("relay.stream_poller")


class StreamPoller:
    def __init__(self, invoker: Invoker, logical_id: str) -> None:
        spec = functions()[logical_id]
        if not spec.stream_sources:
            raise ValueError(f"{logical_id} has no DynamoDB event source in template.yaml")
        source = spec.stream_sources[0]
        stack = invoker.stack
        self.invoker = invoker
        self.logical_id = logical_id
        self.batch_size = min(source.batch_size, 1000)  # GetRecords' own limit
        self.partial_failures = source.partial_failures
        self.max_retries = source.max_retries
        self.stream_arn = stack.resolver.attrs[(source.table, "StreamArn")]
        self.region = stack.region
        self.streams = boto3.client("dynamodbstreams", endpoint_url=stack.endpoint, region_name=stack.region)
        self.iterators: dict[str, str] = {}
        self.retries = 0
        self.invocations = 0
        self.errors: list[BaseException] = []
        self.given_up: list[dict[str, Any]] = []

    def _as_mapping(self, operation: str) -> None:
        """Lambda's event source mapping reads the stream with the FUNCTION's role."""
        if self.invoker.iam is not None:
            self.invoker.iam.check(self.logical_id, "dynamodbstreams", operation, {"StreamArn": self.stream_arn})

    def _shards(self) -> None:
        self._as_mapping("DescribeStream")
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            if shard["ShardId"] not in self.iterators:
                self._as_mapping("GetShardIterator")
                self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def poll_once(self) -> int:
        if not self.iterators:
            self._shards()
        handled = 0
        for shard_id, iterator in list(self.iterators.items()):
            self._as_mapping("GetRecords")
            resp = self.streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
            records = resp.get("Records", [])
            self.iterators[shard_id] = resp["NextShardIterator"]
            if records:
                handled += len(records)
                self._deliver(shard_id, records)
        return handled

    def event_for(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Records": [self._record(r) for r in records]}

    def _record(self, r: dict[str, Any]) -> dict[str, Any]:
        ddb = dict(r["dynamodb"])
        if "ApproximateCreationDateTime" in ddb and not isinstance(ddb["ApproximateCreationDateTime"], (int, float)):
            ddb["ApproximateCreationDateTime"] = int(ddb["ApproximateCreationDateTime"].timestamp())
        return {
            "eventID": r["eventID"],
            "eventName": r["eventName"],
            "eventVersion": r.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": ddb,
            "eventSourceARN": self.stream_arn,
        }

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        for batch in lambda_limits.within_request(records, self._record):
            failed_from = self._invoke(batch)
            if failed_from is None:
                self.retries = 0
                continue
            if self.max_retries >= 0 and self.retries >= self.max_retries:
                log.warning("%s: giving up on %d stream records after %d retries", self.logical_id, len(batch), self.retries)
                self.given_up += batch
                self.retries = 0
                continue
            # resume the shard at the first failed record (what follows is read again, as on AWS)
            self.retries += 1
            self._as_mapping("GetShardIterator")
            self.iterators[shard_id] = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=failed_from
            )["ShardIterator"]
            return

    def _invoke(self, batch: list[dict[str, Any]]) -> str | None:
        """The sequence number to resume from, or None when the whole batch succeeded."""
        self.invocations += 1
        try:
            result = self.invoker.invoke(self.logical_id, self.event_for(batch))
        except Exception as exc:  # noqa: BLE001 - a failed invocation: the whole batch again
            log.warning("%s failed: %s", self.logical_id, exc)
            self.errors.append(exc)
            return str(batch[0]["dynamodb"]["SequenceNumber"])
        if not (self.partial_failures and isinstance(result, dict)):
            return None
        failed = [str(f["itemIdentifier"]) for f in result.get("batchItemFailures") or []]
        return min(failed, key=int) if failed else None

    def pending(self) -> int:
        """Records left are found by poll_once itself (nothing is in flight between polls)."""
        return 0

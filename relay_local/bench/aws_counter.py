"""Requests, operations and billable units of boto3 clients, counted with botocore event hooks
(the plan, delivery and memory figures, and the cost)."""

from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Any

from relay.ledger_keys import recipient_sk


class AwsCounter:
    """Counts the requests (HTTP attempts, retries included), operations and billable units of the
    clients it is attached to. Thread-safe (the media checks run on 16 threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.http: Counter[str] = Counter()  # service → HTTP requests sent
        self.ops: Counter[str] = Counter()  # "service.Operation" → API calls
        self.wru = 0
        self.rru = 0
        self.sqs_chunks = 0
        self.batch_items = 0  # items written with BatchWriteItem
        self.sample_item: dict[str, Any] | None = None
        self.sqs_bodies: list[int] = []
        self.visibility: list[int] = []  # VisibilityTimeout of each ChangeMessageVisibility

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register("before-parameter-build", self._params)
        client.meta.events.register("before-send", lambda **kw: self._sent(service))

    def _sent(self, service: str) -> None:
        with self.lock:
            self.http[service] += 1

    def _params(self, params: dict[str, Any], model: Any, event_name: str = "", **_: Any) -> None:
        service = event_name.split(".")[1] if event_name.count(".") >= 2 else "?"
        op = model.name
        with self.lock:
            self.ops[f"{service}.{op}"] += 1
            if op == "BatchWriteItem":
                for reqs in params.get("RequestItems", {}).values():
                    self.wru += len(reqs)
                    self.batch_items += len(reqs)
                    for r in reqs:
                        item = (r.get("PutRequest") or {}).get("Item")
                        if item and self.sample_item is None and str(item.get("sk", {}).get("S", "")).startswith(recipient_sk("")):
                            self.sample_item = item
            elif op in ("PutItem", "UpdateItem", "DeleteItem"):
                self.wru += 1
            elif op in ("GetItem", "Query", "Scan"):
                self.rru += 1
            elif op == "BatchGetItem":
                self.rru += sum(len(v.get("Keys", [])) for v in params.get("RequestItems", {}).values())
            if op == "SendMessageBatch":
                size = sum(len(e.get("MessageBody", "").encode()) for e in params.get("Entries", []))
                self.sqs_bodies += [len(e.get("MessageBody", "").encode()) for e in params.get("Entries", [])]
                self.sqs_chunks += max(1, math.ceil(size / 65536))
            if op == "ChangeMessageVisibility":
                self.visibility.append(int(params.get("VisibilityTimeout", 0)))
            if op == "SendMessage":
                self.sqs_chunks += max(1, math.ceil(len(params.get("MessageBody", "").encode()) / 65536))
            elif service == "sqs":
                self.sqs_chunks += 1

    def summary(self) -> dict[str, Any]:
        return {
            "http": dict(self.http),
            "ops": dict(self.ops),
            "wru": self.wru,
            "rru": self.rru,
            "sqs_chunks": self.sqs_chunks,
            "batch_items": self.batch_items,
        }

"""The PushLog table (DynamoDB): one item per push request, one per recipient message, one per source.

Item shapes (README, "The ledger"):
  push       pk=PUSH#<job_id>      sk=PUSH          state, push_id, vendor_status, recipients …
  recipient  pk=PUSH#<job_id>      sk=RCP#<rid>     number, state, media_key, msg_id, credit, reason …
  rejected   pk=REJ#<source_id>    sk=RCP#<rid>     number, state=rejected, reason …
  source     pk=SRC#<source_id>    sk=SRC           state=planning|planned, counts
Indexes: ByNumber (number_pk=NUM#<number>, at), ByObject (object_pk=OBJ#<bucket>/<key>, at),
ByVendorId (vendor_pk=MSG#<msg_id> on recipients, PID#<push_id> on pushes; keys only),
ByReference (reference_pk=REF#<caller's reference>, at; keys only).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from relay.models import Entry, PushJob, Rejection, Source, State, utc_now

_BATCH = 25
#: longest caller text used inside an index key (DynamoDB keys stop at 2,048 bytes)
MAX_KEY_TEXT = 200


#: Caller text a ledger item keeps: whole up to these lengths (characters); longer text is kept as
#: an excerpt of that length plus `<field>_length` (the original length), never whole. An item may
#: hold at most 400 KB (DynamoDB), and a rejected 450 KB message must still get its `rejected` entry.
#: Messages the planner accepts (at most 4,096 characters) are always kept whole.
MAX_STORED = {"message": 4096, "number": MAX_KEY_TEXT, "reference": MAX_KEY_TEXT, "media_key": 1024, "reason": 1024}


def bounded(**fields: str | None) -> dict[str, Any]:
    """Caller text for an item: each field whole, or an excerpt ending in `…` plus `<field>_length`."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        limit = MAX_STORED[name]
        if value is not None and len(value) > limit:
            out[name] = value[: limit - 1] + "…"
            out[f"{name}_length"] = len(value)
        else:
            out[name] = value
    return out


def _key(prefix: str, value: str | None) -> str | None:
    """An index key, or none for a value too long to be one (it stays on the item, unindexed)."""
    return f"{prefix}{value}" if value and len(value) <= MAX_KEY_TEXT else None


def _attr(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value) if isinstance(value, float) else str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [_attr(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: _attr(v) for k, v in value.items() if v is not None}}
    raise TypeError(f"cannot store {type(value).__name__}")


def to_item(plain: dict[str, Any]) -> dict[str, Any]:
    return {k: _attr(v) for k, v in plain.items() if v is not None and v != ""}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    def value(attr: dict[str, Any]) -> Any:
        (kind, raw), = attr.items()
        if kind == "S":
            return raw
        if kind == "N":
            return int(raw) if raw.lstrip("-").isdigit() else float(raw)
        if kind == "BOOL":
            return raw
        if kind == "L":
            return [value(v) for v in raw]
        if kind == "M":
            return {k: value(v) for k, v in raw.items()}
        if kind == "NULL":
            return None
        return raw

    return {k: value(v) for k, v in item.items()}


def push_pk(job_id: str) -> str:
    return f"PUSH#{job_id}"


def recipient_item(job: PushJob, entry: Entry, state: State, at: str | None = None, **outcome: Any) -> dict[str, Any]:
    media = entry.media or job.global_media
    return {
        "pk": push_pk(job.job_id),
        "sk": f"RCP#{entry.rid}",
        "kind": "recipient",
        "rid": entry.rid,
        "job_id": job.job_id,
        "number": entry.number,
        "number_pk": _key("NUM#", entry.number),
        "object_pk": entry.object_pk,
        "state": str(state),
        "at": at or utc_now(),
        "planned_at": job.planned_at,
        "application": job.application,
        **bounded(message=entry.message, media_key=media.key if media else None, reference=entry.reference),
        "media_kind": str(media.kind) if media else None,
        "reference_pk": _key("REF#", entry.reference or entry.rid),  # what reference_number carries
        "caption_for": entry.caption_for,
        **outcome,
    }


def push_item(job: PushJob, state: State, at: str | None = None, **outcome: Any) -> dict[str, Any]:
    return {
        "pk": push_pk(job.job_id),
        "sk": "PUSH",
        "kind": "push",
        "job_id": job.job_id,
        "state": str(state),
        "at": at or utc_now(),
        "planned_at": job.planned_at,
        "application": job.application,
        "priority": job.priority,
        "recipients": len(job.entries),
        "dynamic": job.dynamic,
        "global_media_key": job.global_media.key if job.global_media else None,
        "media_name": job.media_name,
        "sources": list(job.sources),
        **outcome,
    }


def rejection_item(rej: Rejection, at: str | None = None) -> dict[str, Any]:
    return {
        "pk": f"REJ#{rej.source_id}",
        "sk": f"RCP#{rej.rid}",
        "kind": "recipient",
        "rid": rej.rid,
        "number_pk": _key("NUM#", rej.number),
        "object_pk": rej.object_pk,
        "state": str(State.REJECTED),
        "at": at or utc_now(),
        **bounded(number=rej.number, reason=rej.reason, message=rej.message, media_key=rej.media_key,
                  reference=rej.reference),
    }


def source_item(source: Source, state: str, **counts: Any) -> dict[str, Any]:
    return {
        "pk": f"SRC#{source.source_id}",
        "sk": "SRC",
        "kind": "source",
        "source_kind": source.kind,
        "object_pk": source.object_pk,
        "state": state,
        "at": utc_now(),
        **counts,
    }


class Ledger:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._ddb = dynamodb
        self.table = table
        #: DynamoDB requests made by this object (benchmarks read it).
        self.requests = 0

    # -- writes -------------------------------------------------------------------------------
    def begin_source(self, source: Source) -> bool:
        """Claim a source for planning. False when an earlier delivery already planned it."""
        self.requests += 1
        try:
            self._ddb.put_item(
                TableName=self.table,
                Item=to_item(source_item(source, "planning")),
                ConditionExpression="attribute_not_exists(pk) OR #s = :planning",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":planning": {"S": "planning"}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_many(self, items: Iterable[dict[str, Any]]) -> int:
        """BatchWriteItem in 25s, retrying unprocessed items with backoff. Returns items written.

        DynamoDB refuses a BatchWriteItem that names one key twice ("Provided list of item keys
        contains duplicates"), so within a request the last item for a (pk, sk) wins, as two
        PutItems in a row would."""
        written = 0
        batch: dict[tuple[str, str], dict[str, Any]] = {}
        for plain in items:
            key = (plain["pk"], plain["sk"])
            batch.pop(key, None)  # last wins, in the position of the last
            batch[key] = {"PutRequest": {"Item": to_item(plain)}}
            if len(batch) == _BATCH:
                written += self._write(list(batch.values()))
                batch = {}
        if batch:
            written += self._write(list(batch.values()))
        return written

    def _write(self, requests: list[dict[str, Any]]) -> int:
        count = len(requests)
        pending = {self.table: requests}
        for attempt in range(8):
            self.requests += 1
            resp = self._ddb.batch_write_item(RequestItems=pending)
            pending = resp.get("UnprocessedItems") or {}
            if not pending:
                return count
            time.sleep(min(2.0, 0.05 * 2**attempt) * random.random())
        raise RuntimeError(f"DynamoDB left {len(pending.get(self.table, []))} items unwritten after retries")

    def _update_if(self, pk: str, sk: str, **kwargs: Any) -> dict[str, Any] | None:
        """UpdateItem; None when its ConditionExpression does not hold."""
        self.requests += 1
        try:
            return self._ddb.update_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise

    def put(self, plain: dict[str, Any]) -> None:
        self.requests += 1
        self._ddb.put_item(TableName=self.table, Item=to_item(plain))

    # -- reads ----------------------------------------------------------------------------------
    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs.setdefault("TableName", self.table)
        while True:
            self.requests += 1
            resp = self._ddb.query(**kwargs)
            for item in resp.get("Items", []):
                yield from_item(item)
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def push(self, job_id: str) -> list[dict[str, Any]]:
        """The push item and all its recipients."""
        return list(
            self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": push_pk(job_id)}},
            )
        )

    def number_history(self, number: str) -> list[dict[str, Any]]:
        return list(
            self._query(
                IndexName="ByNumber",
                KeyConditionExpression="number_pk = :n",
                ExpressionAttributeValues={":n": {"S": f"NUM#{number}"}},
            )
        )

    def object_fate(self, bucket: str, key: str) -> list[dict[str, Any]]:
        return self.by_object_pk(f"OBJ#{bucket}/{key}")

    def by_object_pk(self, object_pk: str) -> list[dict[str, Any]]:
        """Everything from one S3 object (OBJ#bucket/key) or one API push request (REQ#id)."""
        return list(
            self._query(
                IndexName="ByObject",
                KeyConditionExpression="object_pk = :o",
                ExpressionAttributeValues={":o": {"S": object_pk}},
            )
        )

    def by_vendor_id(self, msg_id: str | None = None, push_id: str | None = None) -> list[dict[str, Any]]:
        value = f"MSG#{msg_id}" if msg_id is not None else f"PID#{push_id}"
        return list(
            self._query(
                IndexName="ByVendorId",
                KeyConditionExpression="vendor_pk = :v",
                ExpressionAttributeValues={":v": {"S": value}},
            )
        )

    def scan_all(self) -> list[dict[str, Any]]:
        """Every item (local tools and tests only; never on a request path)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table}
        while True:
            resp = self._ddb.scan(**kwargs)
            items += [from_item(i) for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # -- delivery reports (relay.status) ----------------------------------------------------------
    def _keys(self, index: str, key: str, value: str) -> list[tuple[str, str]]:
        return [
            (k["pk"], k["sk"])
            for k in self._query(
                IndexName=index,
                KeyConditionExpression="#k = :v",
                ExpressionAttributeNames={"#k": key},
                ExpressionAttributeValues={":v": {"S": value}},
            )
        ]

    def keys_by_vendor_id(self, msg_id: str) -> list[tuple[str, str]]:
        """(pk, sk) of every item with vendor_pk = MSG#<msg_id> (index ByVendorId, keys only)."""
        return self._keys("ByVendorId", "vendor_pk", f"MSG#{msg_id}")

    def keys_by_reference(self, reference: str) -> list[tuple[str, str]]:
        """(pk, sk) of every item with reference_pk = REF#<reference> (index ByReference, keys only)."""
        return self._keys("ByReference", "reference_pk", f"REF#{reference}")

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        self.requests += 1
        resp = self._ddb.get_item(
            TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        return from_item(resp["Item"]) if "Item" in resp else None

    def apply_delivery(
        self,
        pk: str,
        sk: str,
        state: str | None,
        allowed_from: Iterable[str],
        fields: dict[str, Any],
        delivery_status_from: Iterable[int] | None = None,
    ) -> bool:
        """SET `fields` (None/"" skipped) and, when given, `state`, on an existing item whose state is
        one of `allowed_from`; with `delivery_status_from`, its `delivery_status` must also be absent
        or one of those. False when the condition does not hold (or the item does not exist)."""
        allowed = list(allowed_from)
        if not allowed:
            raise ValueError("allowed_from must name at least one state")
        values = {k: v for k, v in fields.items() if v is not None and v != "" and k not in ("pk", "sk", "state")}
        names = {"#state": "state"}
        attrs: dict[str, Any] = {}
        sets = []
        for i, (name, value) in enumerate(values.items()):
            names[f"#f{i}"] = name
            attrs[f":f{i}"] = _attr(value)
            sets.append(f"#f{i} = :f{i}")
        if state is not None:
            attrs[":state"] = {"S": str(state)}
            sets.append("#state = :state")
        if not sets:
            raise ValueError("nothing to set")
        for i, s in enumerate(allowed):
            attrs[f":a{i}"] = {"S": str(s)}
        condition = f"#state IN ({', '.join(f':a{i}' for i in range(len(allowed)))})"
        if delivery_status_from is not None:
            names["#ds"] = "delivery_status"
            previous = list(delivery_status_from)
            for i, s in enumerate(previous):
                attrs[f":d{i}"] = _attr(s)
            listed = f" OR #ds IN ({', '.join(f':d{i}' for i in range(len(previous)))})" if previous else ""
            condition += f" AND (attribute_not_exists(#ds){listed})"
        return self._update_if(
            pk, sk,
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attrs,
        ) is not None

    # -- send claims ----------------------------------------------------------------------------
    def claim_job(self, job_id: str, token: str, now_iso: str, claimable: tuple[str, ...]) -> int | None:
        """Take the job for one send attempt: push item state → `sending` with our token, only
        from a claimable state. Returns the attempt number, or None when someone has it already."""
        names = {"#s": "state"}
        values: dict[str, Any] = {
            ":sending": {"S": "sending"}, ":token": {"S": token}, ":at": {"S": now_iso},
            ":zero": {"N": "0"}, ":one": {"N": "1"}, ":push": {"S": "push"}, ":jid": {"S": job_id},
            **{f":c{i}": {"S": state} for i, state in enumerate(claimable)},
        }
        allowed = ", ".join(f":c{i}" for i in range(len(claimable)))
        resp = self._update_if(
            push_pk(job_id), "PUSH",
            UpdateExpression="SET #s = :sending, claim = :token, claimed_at = :at, #a = :at, kind = :push,"
            " job_id = :jid, attempts = if_not_exists(attempts, :zero) + :one",
            ConditionExpression=f"attribute_not_exists(pk) OR #s IN ({allowed})",
            ExpressionAttributeNames={**names, "#a": "at"},
            ExpressionAttributeValues=values,
            ReturnValues="UPDATED_NEW",
        )
        return None if resp is None else int(resp["Attributes"]["attempts"]["N"])

    def set_job_state(self, job_id: str, state: str, token: str | None = None, **fields: Any) -> bool:
        """Move the push item to `state` (only while we hold the claim, when `token` is given)."""
        sets = {"state": state, "at": utc_now(), **{k: v for k, v in fields.items() if v is not None}}
        names = {f"#f{i}": k for i, k in enumerate(sets)}
        values = {f":v{i}": _attr(v) for i, v in enumerate(sets.values())}
        kwargs: dict[str, Any] = {}
        if token is not None:
            kwargs["ConditionExpression"] = "claim = :token"
            values[":token"] = {"S": token}
        return self._update_if(
            push_pk(job_id), "PUSH",
            UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sets))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            **kwargs,
        ) is not None

    def delete_many(self, keys: Iterable[tuple[str, str]]) -> None:
        requests = [{"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for pk, sk in keys]
        for i in range(0, len(requests), _BATCH):
            self._write(requests[i:i + _BATCH])

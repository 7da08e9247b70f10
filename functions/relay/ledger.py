"""The PushLog table (DynamoDB): one method per thing the relay records or looks up.

Item shapes and keys: relay.ledger_keys (the only module that writes a key prefix); the items
themselves: relay.ledger_items; the states and their moves: relay.lifecycle; DynamoDB's wire
format: relay.dynamodb.

Design: callers say what happened (a plan, a claim, an outcome, a split, a delivery report, an
event that matched nothing) and the ledger decides which items that writes, in which order, under
which condition. An outcome writes the recipients first, then the push item's state, under the
claim's token when one is given (only the attempt holding the claim writes an outcome). Reads that
only tests and local tools need live in relay_local/dev/ledger_reads.py.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from relay import ledger_keys as keys
from relay.dynamodb import assignments, attr, conditional, from_item, key, one_of, to_item
from relay.ledger_items import form_fields, push_item, recipient_item, rejection_item, source_item
from relay.ledger_keys import push_pk
from relay.lifecycle import (
    CLAIMABLE_JOB_STATES,
    CLAIMABLE_SOURCE_STATES,
    JobState,
    RecipientState,
    SourceState,
)
from relay.models import Entry, Job, Rejection, Source, iso_at, short_hash, utc_now

__all__ = ["JobRecord", "Ledger", "push_pk"]

_BATCH = 25
#: the PushLog table's TTL attribute (template.yaml): items that expire by themselves carry it
TTL_ATTRIBUTE = "expires"
#: how long an incoming message's unique-id, and a customer's window after their last message, are
#: kept (TTL): the vendor re-posts for up to 6 hours; a window is only ever open for 24 hours
INBOUND_KEEP_SECONDS = 7 * 24 * 3600
#: a transaction DynamoDB cancels for these reasons may succeed when tried again: "TransactionConflict"
#: (another request was writing one of its items: a customer's messages arriving together),
#: "ThrottlingError" (TransactWriteItems API reference, CancellationReasons)
#: how long a webhook delivery id is remembered (TTL): Stripe retries for up to 3 days. A delivery
#: arriving later still plans nothing twice: its push id (and so its source item) is the same
HOOK_KEEP_SECONDS = 7 * 24 * 3600
HOOK_RECEIVING, HOOK_QUEUED, HOOK_REJECTED = "receiving", "queued", "rejected"
_RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
_TRANSACT_ATTEMPTS = 6


def _backoff(attempt: int, cap: float = 2.0) -> None:
    """Wait before DynamoDB is asked again (unprocessed items or keys, a transaction conflict):
    exponential from 50 ms, at most `cap` seconds, full jitter."""
    time.sleep(min(cap, 0.05 * 2**attempt) * random.random())


@dataclass(frozen=True)
class JobRecord:
    """A push item as the sender reads it when it could not claim the job."""

    state: str
    push_id: str | None = None
    claim: str | None = None
    claimed_at: str | None = None


@dataclass(frozen=True)
class RecipientRecord:
    """A recipient item as a delivery report matches it."""

    pk: str
    sk: str
    number: str | None
    msg_id: str | None


class Ledger:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    # -- sources and plans ----------------------------------------------------------------------
    def begin_source(self, source: Source) -> bool:
        """Claim a source for planning. False when an earlier delivery already planned it."""
        condition, values = one_of("#s", list(CLAIMABLE_SOURCE_STATES), "c")
        return (
            conditional(
                self.dynamodb.put_item,
                TableName=self.table,
                Item=to_item(source_item(source, SourceState.PLANNING)),
                ConditionExpression=f"attribute_not_exists(pk) OR {condition}",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=values,
            )
            is not None
        )

    def write_plan(self, rejections: Iterable[Rejection], jobs: Iterable[Job]) -> None:
        """Every rejected and every planned recipient, and each job's push item, streamed into
        batches of 25 (a 10,000-row plan is not held twice)."""

        def items() -> Iterator[dict[str, Any]]:
            yield from (rejection_item(r) for r in rejections)
            for job in jobs:
                yield push_item(job, JobState.PLANNED)
                yield from (recipient_item(job, e, RecipientState.PLANNED) for e in job.entries)

        self.put_many(items())

    def mark_planned(self, sources: Iterable[Source], counts: Mapping[str, Mapping[str, int]]) -> None:
        """The sources are planned (`counts` by object_pk: recipients, rejected)."""
        self.put_many(source_item(s, SourceState.PLANNED, **counts.get(s.object_pk, {})) for s in sources)

    # -- sending: claims and outcomes -------------------------------------------------------------
    def claim_job(self, job_id: str, token: str, now_iso: str, claimable: Iterable[str] = CLAIMABLE_JOB_STATES) -> int | None:
        """Take the job for one send attempt: push item state → `sending` with our token, only
        from a claimable state. Returns the attempt number, or None when someone has it already."""
        allowed, states = one_of("#s", [str(s) for s in claimable], "c")
        resp = conditional(
            self.dynamodb.update_item,
            TableName=self.table,
            Key=key(push_pk(job_id), keys.PUSH_SK),
            UpdateExpression="SET #s = :sending, claim = :token, claimed_at = :at, #a = :at, kind = :push,"
            " job_id = :jid, attempts = if_not_exists(attempts, :zero) + :one",
            ConditionExpression=f"attribute_not_exists(pk) OR {allowed}",
            ExpressionAttributeNames={"#s": "state", "#a": "at"},
            ExpressionAttributeValues={
                ":sending": attr(str(JobState.SENDING)),
                ":token": attr(token),
                ":at": attr(now_iso),
                ":zero": attr(0),
                ":one": attr(1),
                ":push": attr("push"),
                ":jid": attr(job_id),
                **states,
            },
            ReturnValues="UPDATED_NEW",
        )
        return None if resp is None else int(resp["Attributes"]["attempts"]["N"])

    def job(self, job_id: str) -> JobRecord | None:
        """The push item (consistent read), or None when there is none."""
        item = self.get(push_pk(job_id), keys.PUSH_SK)
        if item is None:
            return None
        return JobRecord(
            state=str(item.get("state", "")), push_id=item.get("push_id"), claim=item.get("claim"), claimed_at=item.get("claimed_at")
        )

    def put_back(self, job_id: str, token: str, **fields: Any) -> bool:
        """The claimed job goes back on the queue (`retry`): a deferral after the claim, or a
        failure a later try can fix (`last_error`, `vendor_status`)."""
        return self.set_job_state(job_id, JobState.RETRY, token, **fields)

    def record_accepted(
        self, job: Job, token: str, push_id: str | None, ids: Mapping[str, tuple[str | None, str | None]], **vendor: Any
    ) -> None:
        """The vendor took the request: every recipient `accepted` with its own msg_id/credit (`ids`
        by rid), found again by msg_id (ByVendorId) and the push by push_id."""
        items = []
        for entry in job.entries:
            msg_id, credit = ids.get(entry.rid, (None, None))
            items.append(
                recipient_item(
                    job,
                    entry,
                    RecipientState.ACCEPTED,
                    push_id=push_id,
                    msg_id=msg_id,
                    credit=credit,
                    vendor_pk=keys.msg_pk(msg_id),
                    **vendor,
                )
            )
        self.put_many(items)
        self.set_job_state(
            job.job_id, JobState.ACCEPTED, token, push_id=push_id, vendor_pk=keys.push_id_pk(push_id), **form_fields(job), **vendor
        )

    def record_outcome(
        self,
        job: Job,
        token: str | None,
        state: RecipientState,
        reason: str,
        job_fields: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Every recipient of the job ends in `state` (failed, rejected, expired, ambiguous) with the
        reason and `fields`; the push item too (plus `job_fields`). Without `token` the push item is
        written whoever holds the claim (an attempt that died holding it)."""
        self.put_many(recipient_item(job, e, state, reason=reason, **fields) for e in job.entries)
        self.set_job_state(job.job_id, JobState(str(state)), token, reason=reason, **fields, **form_fields(job), **(job_fields or {}))

    def record_skipped(self, job: Job, skipped: Iterable[tuple[Entry, str]]) -> None:
        """Recipients of the job not sent because they were not needed (relay.form_choice), each
        `skipped` with its reason; the push item is the caller's to finish."""
        self.put_many(recipient_item(job, entry, RecipientState.SKIPPED, reason=why) for entry, why in skipped)

    def split_job(self, job: Job, parts: list[Job]) -> None:
        """Plan each part (one recipient each after a 406, one form each at send time) before it
        goes on the queue; `finish_split` then removes the original's recipients that went into
        parts, so that each recipient keeps one entry."""
        items: list[dict[str, Any]] = []
        for part in parts:
            items.append(push_item(part, JobState.PLANNED, split_from=job.job_id))
            items += [recipient_item(part, e, RecipientState.PLANNED) for e in part.entries]
        self.put_many(items)

    def finish_split(self, job: Job, token: str, **vendor: Any) -> None:
        self.delete_many((push_pk(job.job_id), keys.recipient_sk(e.rid)) for e in job.entries)
        self.set_job_state(job.job_id, JobState.SPLIT, token, **vendor)

    def set_job_state(self, job_id: str, state: JobState | str, token: str | None = None, **fields: Any) -> bool:
        """Move the push item to `state` (only while we hold the claim, when `token` is given)."""
        sets, names, values = assignments({"state": str(state), "at": utc_now(), **{k: v for k, v in fields.items() if v is not None}})
        request: dict[str, Any] = {}
        if token is not None:
            request["ConditionExpression"] = "claim = :token"
            values[":token"] = attr(token)
        return (
            conditional(
                self.dynamodb.update_item,
                TableName=self.table,
                Key=key(push_pk(job_id), keys.PUSH_SK),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **request,
            )
            is not None
        )

    # -- template fallbacks (relay.fallback) --------------------------------------------------------
    def plan_fallback(self, job: Job) -> None:
        """A fallback job's recipient item, then its push item, each written only if absent: planning
        the same fallback again (a replayed report after a crash) never resets one already sent."""
        for item in [*(recipient_item(job, e, RecipientState.PLANNED) for e in job.entries), push_item(job, JobState.PLANNED)]:
            conditional(self.dynamodb.put_item, TableName=self.table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)")

    def mark_fallback(self, pk: str, sk: str, fallback_rid: str, fallback_job_id: str) -> bool:
        """The first attempt names its fallback, only once and only while `failed`. False: it has one."""
        return (
            conditional(
                self.dynamodb.update_item,
                TableName=self.table,
                Key=key(pk, sk),
                UpdateExpression="SET fallback_rid = :rid, fallback_job_id = :jid",
                ConditionExpression="attribute_not_exists(fallback_rid) AND #s = :failed",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":rid": attr(fallback_rid),
                    ":jid": attr(fallback_job_id),
                    ":failed": attr(str(RecipientState.FAILED)),
                },
            )
            is not None
        )

    # -- delivery reports (relay.delivery_reports) ----------------------------------------------------------
    def recipients_by_msg_id(self, msg_id: str) -> list[tuple[str, str]]:
        """(pk, sk) of every recipient the vendor gave this msg_id (index ByVendorId, keys only)."""
        value = keys.msg_pk(msg_id)
        return self._recipient_keys("ByVendorId", "vendor_pk", value) if value else []

    def recipients_by_reference(self, reference: str) -> list[tuple[str, str]]:
        """(pk, sk) of every recipient sent with this reference_number (index ByReference, keys only)."""
        value = keys.reference_pk(reference)
        return self._recipient_keys("ByReference", "reference_pk", value) if value else []

    def recipient(self, pk: str, sk: str) -> RecipientRecord | None:
        item = self.get(pk, sk)
        if item is None or item.get("kind") != "recipient":
            return None
        return RecipientRecord(pk=pk, sk=sk, number=item.get("number"), msg_id=item.get("msg_id"))

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
        allowed = [str(s) for s in allowed_from]
        if not allowed:
            raise ValueError("allowed_from must name at least one state")
        values = {k: v for k, v in fields.items() if v is not None and v != "" and k not in ("pk", "sk", "state")}
        sets, names, attrs = assignments(values)
        names["#state"] = "state"
        if state is not None:
            attrs[":state"] = attr(str(state))
            sets.append("#state = :state")
        if not sets:
            raise ValueError("nothing to set")
        condition, states = one_of("#state", allowed, "a")
        attrs |= states
        if delivery_status_from is not None:
            names["#ds"] = "delivery_status"
            previous, statuses = one_of("#ds", list(delivery_status_from), "d")
            attrs |= statuses
            condition += f" AND (attribute_not_exists(#ds){' OR ' + previous if statuses else ''})"
        return (
            conditional(
                self.dynamodb.update_item,
                TableName=self.table,
                Key=key(pk, sk),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attrs,
            )
            is not None
        )

    def keep_unmatched_event(self, handle: str, n: int, msg_id: str | None, fields: Mapping[str, Any]) -> None:
        """A delivery report entry that matched no recipient, kept as it came (found again by its
        msg_id). `handle`: what names it (msg_id, else reference, else number); a long one is hashed."""
        if len(handle) > keys.MAX_KEY_TEXT:  # DynamoDB keys stop at 2 KB
            handle = "sha256:" + short_hash(handle, size=32)
        now = utc_now()
        pk, sk = keys.unmatched_event_key(handle, now, n)
        self.put({**fields, "pk": pk, "sk": sk, "kind": "unmatched_event", "vendor_pk": keys.msg_pk(msg_id), "at": now})

    def keep_other_event(self, fields: Mapping[str, Any]) -> None:
        """An event that is not a delivery report, kept as it came."""
        now = utc_now()
        pk, sk = keys.other_event_key(now, str(uuid.uuid4()))
        self.put({"pk": pk, "sk": sk, "kind": "other_event", **fields, "at": now})

    # -- WhatsApp's 24-hour window (relay.templates, relay.inbound) ------------------------------------
    def record_inbound(self, channel: int, number: str, at: float, project: str, unique_id: str, fields: Mapping[str, Any]) -> bool:
        """One incoming message: the customer's window item moves to `at` (never back), and the
        message is remembered by its `unique-id` (the vendor re-posts on retry) until INBOUND_KEEP_SECONDS.
        One transaction, so a re-post is recognised even when it comes after a crash; tried again when
        DynamoDB cancels it for a conflict (the same customer's messages at once). True: a new message
        (the window moved, unless a later one is on record); False: seen before."""
        now = utc_now()
        seen = {
            **{k: v for k, v in fields.items() if v is not None and v != ""},
            "pk": keys.inbound_pk(project, unique_id),
            "sk": keys.INBOUND_SK,
            "kind": "inbound",
            "channel": channel,
            "number": number,
            "received": at,
            "at": now,
            TTL_ATTRIBUTE: int(at) + INBOUND_KEEP_SECONDS,
        }
        put = {
            "Put": {
                "TableName": self.table,
                "Item": to_item(seen),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        window = {
            "Update": {
                "TableName": self.table,
                "Key": key(keys.window_pk(channel, number), keys.WINDOW_SK),
                "UpdateExpression": (
                    "SET kind = :kind, last_inbound = :t, last_inbound_at = :iso, #a = :iso, channel = :ch, #n = :num, #e = :exp"
                ),
                "ConditionExpression": "attribute_not_exists(last_inbound) OR last_inbound < :t",
                "ExpressionAttributeNames": {"#a": "at", "#n": "number", "#e": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {
                    ":kind": attr("window"),
                    # a window a week old means what no window means (the template): not kept for ever
                    ":exp": attr(int(at) + INBOUND_KEEP_SECONDS),
                    ":t": attr(at),
                    ":iso": attr(iso_at(at)),
                    ":ch": attr(channel),
                    ":num": attr(number),
                },
            }
        }
        for attempt in range(_TRANSACT_ATTEMPTS):
            try:
                self.dynamodb.transact_write_items(TransactItems=[put, window])
                return True
            except self.dynamodb.exceptions.TransactionCanceledException as exc:
                # one reason per item, in order; "None" for an item that was not the cause
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False  # this unique-id was recorded before
                if _RETRYABLE.intersection(reasons) and attempt + 1 < _TRANSACT_ATTEMPTS:
                    # another write on one of the items (the same customer's messages at once): again
                    _backoff(attempt, cap=1.0)
                    continue
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed" and not _RETRYABLE.intersection(reasons):
                    # a later message is on record already: only remember this one
                    return conditional(self.dynamodb.put_item, **put["Put"]) is not None
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def last_inbound(self, channel: int, numbers: Iterable[str]) -> dict[str, float]:
        """Unix seconds of each customer's last message on `channel` (numbers with none on record
        are absent). BatchGetItem, 100 keys a call, consistent reads."""
        wanted = sorted(set(numbers))
        found: dict[str, float] = {}
        for i in range(0, len(wanted), 100):
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": [key(keys.window_pk(channel, n), keys.WINDOW_SK) for n in wanted[i : i + 100]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "#n, last_inbound",
                    "ExpressionAttributeNames": {"#n": "number"},
                }
            }
            for attempt in range(8):
                resp = self.dynamodb.batch_get_item(RequestItems=pending)
                for item in resp.get("Responses", {}).get(self.table, []):
                    plain = from_item(item)
                    if "last_inbound" in plain:
                        found[str(plain["number"])] = float(plain["last_inbound"])
                pending = resp.get("UnprocessedKeys") or {}
                if not pending:
                    break
                _backoff(attempt)
            else:
                raise RuntimeError("DynamoDB left keys unread after retries")
        return found

    # -- third-party webhooks (relay.hook_intake) -------------------------------------------------
    def claim_hook_delivery(self, route: str, delivery_id: str, push_id: str, at: float) -> dict[str, Any] | None:
        """Take one delivery of a webhook route: a conditional put of its hook item (`receiving`).
        None: ours to answer (a first arrival, or one whose earlier arrival never finished: it is
        queued again, at least once; the worker's deterministic ids absorb a second copy). Else the
        item of the arrival that answered first (`queued` or `rejected`, with `rejected`)."""
        pk = keys.hook_pk(route, delivery_id)
        item = {
            "pk": pk,
            "sk": keys.HOOK_SK,
            "kind": "hook",
            "route": route,
            "delivery_id": delivery_id[: keys.MAX_KEY_TEXT],
            "push_id": push_id,
            "object_pk": keys.request_pk(push_id),
            "state": HOOK_RECEIVING,
            "at": iso_at(at),
            TTL_ATTRIBUTE: int(at) + HOOK_KEEP_SECONDS,
        }
        taken = conditional(
            self.dynamodb.put_item,
            TableName=self.table,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(pk) OR #s = :receiving",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":receiving": attr(HOOK_RECEIVING)},
        )
        return None if taken is not None else self.get(pk, keys.HOOK_SK)

    def finish_hook_delivery(self, route: str, delivery_id: str, state: str, rejected: list[dict[str, str]] | None = None) -> None:
        """The delivery's answer is settled: `queued` (on the IngestQueue) or `rejected` (`rejected`:
        [{number, reason}], as answered)."""
        sets, names, values = assignments({"state": state, **({"rejected": rejected} if rejected else {})})
        self.dynamodb.update_item(
            TableName=self.table,
            Key=key(keys.hook_pk(route, delivery_id), keys.HOOK_SK),
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    # -- the API's reads (relay.pushes) -----------------------------------------------------------
    def request_recipients(self, request_id: str) -> tuple[list[dict[str, Any]], bool] | None:
        """The recipient items one API push request wrote (index ByObject), planned or rejected, and
        whether it is still queued (a webhook delivery the worker has yet to plan: its hook item and no
        source item); None when the ledger has no such request."""
        items = list(self.query_index("ByObject", "object_pk", keys.request_pk(request_id)))
        if any(i.get("kind") == "source" for i in items):
            return [i for i in items if i.get("kind") == "recipient"], False
        if any(i.get("kind") == "hook" and i.get("state") == HOOK_QUEUED for i in items):
            return [], True
        return None

    # -- reads --------------------------------------------------------------------------------------
    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        resp = self.dynamodb.get_item(TableName=self.table, Key=key(pk, sk), ConsistentRead=True)
        return from_item(resp["Item"]) if "Item" in resp else None

    def query_index(self, index: str, attribute: str, value: str) -> Iterator[dict[str, Any]]:
        """Every item of `index` whose `attribute` is `value` (a key from relay.ledger_keys)."""
        return self._query(
            IndexName=index,
            KeyConditionExpression="#k = :v",
            ExpressionAttributeNames={"#k": attribute},
            ExpressionAttributeValues={":v": attr(value)},
        )

    def _recipient_keys(self, index: str, attribute: str, value: str) -> list[tuple[str, str]]:
        found = ((k["pk"], k["sk"]) for k in self.query_index(index, attribute, value))
        return [(pk, sk) for pk, sk in found if keys.is_recipient(pk, sk)]

    def _query(self, **request: Any) -> Iterator[dict[str, Any]]:
        request.setdefault("TableName", self.table)
        while True:
            resp = self.dynamodb.query(**request)
            for item in resp.get("Items", []):
                yield from_item(item)
            if "LastEvaluatedKey" not in resp:
                return
            request["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # -- batches ------------------------------------------------------------------------------------
    def put(self, plain: Mapping[str, Any]) -> None:
        self.dynamodb.put_item(TableName=self.table, Item=to_item(dict(plain)))

    def put_many(self, items: Iterable[dict[str, Any]]) -> int:
        """BatchWriteItem in 25s, retrying unprocessed items with backoff. Returns items written.

        DynamoDB refuses a BatchWriteItem that names one key twice ("Provided list of item keys
        contains duplicates"), so within a request the last item for a (pk, sk) wins, as two
        PutItems in a row would."""
        written = 0
        batch: dict[tuple[str, str], dict[str, Any]] = {}
        for plain in items:
            pair = (plain["pk"], plain["sk"])
            batch.pop(pair, None)  # last wins, in the position of the last
            batch[pair] = {"PutRequest": {"Item": to_item(plain)}}
            if len(batch) == _BATCH:
                written += self._write(list(batch.values()))
                batch = {}
        if batch:
            written += self._write(list(batch.values()))
        return written

    def delete_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        requests = [{"DeleteRequest": {"Key": key(pk, sk)}} for pk, sk in pairs]
        for i in range(0, len(requests), _BATCH):
            self._write(requests[i : i + _BATCH])

    def _write(self, requests: list[dict[str, Any]]) -> int:
        count = len(requests)
        pending = {self.table: requests}
        for attempt in range(8):
            resp = self.dynamodb.batch_write_item(RequestItems=pending)
            pending = resp.get("UnprocessedItems") or {}
            if not pending:
                return count
            _backoff(attempt)
        raise RuntimeError(f"DynamoDB left {len(pending.get(self.table, []))} items unwritten after retries")

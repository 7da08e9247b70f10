"""The vendor's rate limit, held across every concurrent sender: a sliding-window limiter in DynamoDB.

`limit` slot items (pk RATE#<scope>, sk SLOT#nnnn) each remember when they were last used. A
request may go out only after taking a slot that was last used at least `window` seconds ago, with
a conditional write, so two senders can never take the same slot: at most `limit` requests start
in any rolling `window`. The window is a little longer than the vendor's minute (RATE_WINDOW_SECONDS,
default 61) because a request reaches the vendor a little after its slot was taken.

Each limiter keeps the slot times it last read. Slots only ever get newer, so a slot that view shows
busy is busy, and a slot it shows free is tried with the conditional write straight away; the slots
are read again only when that write finds a slot taken by another sender. A sender working alone
then spends one DynamoDB request per grant, not two (a Query of every slot and a write).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from relay.dynamodb import conditional


class RateLimiter:
    def __init__(
        self, dynamodb: Any, table: str, limit: int, window: float, clock: Callable[[], float] = time.time, scope: str = "picky-push"
    ) -> None:
        self._ddb = dynamodb
        self.table = table
        self.limit = limit
        self.window = window
        self.clock = clock
        self.pk = f"RATE#{scope}"
        self.requests = 0
        #: when the last granted slot was taken (the time the window counts from)
        self.last_grant = 0.0
        #: the slot of that grant, until `restart_from_now` moves its time on
        self._granted: int | None = None
        #: slot -> when it was last used, as last read (and as this limiter has used them since)
        self._view: dict[int, float] | None = None

    def _slots(self) -> dict[int, float]:
        used: dict[int, float] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": self.pk}},
            "ConsistentRead": True,
        }
        while True:
            self.requests += 1
            resp = self._ddb.query(**kwargs)
            for item in resp.get("Items", []):
                slot = int(item["sk"]["S"].split("#", 1)[1])
                if slot < self.limit:
                    used[slot] = float(item["last"]["N"])
            if "LastEvaluatedKey" not in resp:
                return used
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def acquire(self) -> float:
        """Take a slot: 0.0 when granted, else how many seconds until one frees up."""
        for _attempt in range(3):
            now = self.clock()
            fresh = self._view is None
            used = self._slots() if self._view is None else self._view
            self._view = used
            cutoff = now - self.window
            free = sorted((used.get(slot, 0.0), slot) for slot in range(self.limit) if used.get(slot, 0.0) <= cutoff)
            if not free:  # the view can only be older than the table: no slot is free there either
                return max(0.05, min(used.values()) + self.window - now)
            for _last, slot in free[:5] if fresh else free[:1]:
                if self._take(slot, cutoff):
                    used[slot] = self.last_grant
                    self._granted = slot
                    return 0.0
            self._view = None  # another sender took what the view showed free: read the slots again
        return 1.0  # heavy contention: come back in a second

    def _take(self, slot: int, cutoff: float) -> bool:
        """The slot, stamped with the time it is really taken (later than the look that found it
        free: the window then counts from as late as possible)."""
        now = self.clock()
        if not self._stamp(slot, now, "attribute_not_exists(#last) OR #last <= :cutoff", cutoff=cutoff):
            return False
        self.last_grant = now
        return True

    def restart_from_now(self) -> None:
        """Count the last grant's window from now (call it when the request has gone out): the next
        request through this limiter then starts `window` after this one finished, so the vendor
        receives them at least `window` apart, however long this one took between its slot and the
        vendor (a cold container's token, TLS connection and presigning can take most of a second).
        One conditional write: only while the slot still holds this grant's time."""
        if self._granted is None:
            return
        slot, granted, now = self._granted, self.last_grant, self.clock()
        self._granted = None
        if self._stamp(slot, now, "#last = :granted", granted=granted):
            self.last_grant = now
            if self._view is not None:
                self._view[slot] = now

    def _stamp(self, slot: int, now: float, condition: str, **values: float) -> bool:
        """Set the slot's time to `now` if `condition` holds (its `:name`s from `values`)."""
        self.requests += 1
        written = conditional(
            self._ddb.update_item,
            TableName=self.table,
            Key={"pk": {"S": self.pk}, "sk": {"S": f"SLOT#{slot:04d}"}},
            UpdateExpression="SET #last = :now, kind = :kind",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#last": "last"},
            ExpressionAttributeValues={
                ":now": {"N": repr(now)},
                ":kind": {"S": "rate_slot"},
                **{f":{name}": {"N": repr(value)} for name, value in values.items()},
            },
        )
        return written is not None

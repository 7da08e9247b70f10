"""Record a plan: ledger items for every planned and rejected recipient, then the send queue."""

from __future__ import annotations

from collections.abc import Iterable

from relay.ledger import Ledger
from relay.models import Rejection, Source
from relay.planner import Plan
from relay.sendqueue import SendQueue


def record_plan(
    result: Plan,
    rejections: list[Rejection],
    sources: Iterable[Source],
    ledger: Ledger,
    queue: SendQueue,
    now: float,
) -> dict[str, dict[str, int]]:
    """Ledger first (so that nothing is on the queue that the ledger does not know), then the
    queue, then the sources marked `planned` (a crash before that lets a redelivery plan again,
    with the same deterministic ids). Returns per-source counts."""
    sources = list(sources)
    ledger.write_plan(rejections, result.jobs)
    queue.enqueue(result.jobs, now=now)
    counts: dict[str, dict[str, int]] = {s.object_pk: {"recipients": 0, "rejected": 0} for s in sources}
    for job in result.jobs:
        for entry in job.entries:
            counts.setdefault(entry.object_pk, {"recipients": 0, "rejected": 0})["recipients"] += 1
    for rej in rejections:
        counts.setdefault(rej.object_pk, {"recipients": 0, "rejected": 0})["rejected"] += 1
    ledger.mark_planned(sources, counts)
    return counts

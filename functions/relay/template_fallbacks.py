"""Plans the template fallbacks that delivery reports earn (the rule, and why never more than one:
relay.fallback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay.fallback import eligible
from relay.models import Job, utc_now
from relay.observability import count, logger

if TYPE_CHECKING:
    from relay.ledger import Ledger
    from relay.sendqueue import SendQueue


class TemplateFallbacks:
    """Plans the fallbacks that delivery reports earn (ApiFunction: POST /events/{secret})."""

    def __init__(self, ledger: Ledger, queue: SendQueue) -> None:
        self.ledger = ledger
        self.queue = queue

    def consider(self, pk: str, sk: str) -> bool:
        """Plan the fallback of this recipient if it earns one and has none. True: planned now."""
        item = self.ledger.get(pk, sk)
        if item is None or not eligible(item):
            return False
        job = Job.model_validate_json(item["fallback_job"]).model_copy(update={"planned_at": utc_now()})
        self.ledger.plan_fallback(job)
        self.queue.enqueue([job])
        [entry] = job.entries
        if not self.ledger.mark_fallback(pk, sk, entry.rid, job.job_id):
            return False  # another call planned it (the same job: its claim sends it once)
        count("TemplateFallbacks")
        logger.info("template fallback planned", extra={"first_rid": entry.fallback_for, "fallback_job_id": job.job_id})
        return True

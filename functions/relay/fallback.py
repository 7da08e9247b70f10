"""The template fallback's rule: a free-form message WhatsApp failed because the 24-hour window was
closed is sent once more, as the template (README, "WhatsApp's 24-hour window"). Pure, with no
logger: relay.ledger_items imports it; the planning is relay.template_fallbacks.

The rule (who gets one):
- a recipient sent **free-form under session `auto`** from a job that has a template: the sender
  writes on its ledger entry `fallback_job`, the one-recipient template job that would replace it
  (`fallback_job_for`; no message text, no URL, no token: the queue's job shape, at most one entry);
- whose delivery report moves it to `failed` with WhatsApp's closed-window error (131047,
  "Re-engagement message": relay.templates.closed_window_failure) as its recorded error;
- and that has no fallback yet (`fallback_rid` absent).
Never: a fallback itself (its entry has `fallback_for` and no `fallback_job`: a template that
fails is not sent again), a caption sent as its own text (the template replaces its media's
message, not the caption), session `freeform` (the caller asked for free-form only), session
`template` (already the template). So never more than one fallback per recipient.

How (relay.template_fallbacks.TemplateFallbacks.consider, called by relay.delivery_reports for
such a report), in an
order a crash or a replayed report cannot turn into two sends:
1. the fallback's recipient item, then its push item, each written only if absent (a replay never
   resets a fallback that is already sent back to `planned`);
2. the job goes on the send queue (a second copy, after a crash, is absorbed by the sender's claim:
   its deterministic job id is claimed once);
3. the first attempt gets `fallback_rid` and `fallback_job_id`, only if it has none: once that is
   written, a replayed report does nothing at all.
The first attempt stays `failed` with its reason; both entries share its source, so GET /pushes/{id}
lists both.
"""

from __future__ import annotations

from typing import Any

from relay.lifecycle import RecipientState
from relay.models import Entry, Job, short_hash
from relay.templates import closed_window_failure

#: suffix of a fallback's recipient id (its first attempt's rid + this)
FALLBACK_RID_SUFFIX = "-t"


def fallback_job_id(rid: str) -> str:
    """Deterministic: one fallback job per first attempt, whoever plans it and how often."""
    return short_hash(rid, "fallback", size=32)


def fallback_job_for(job: Job, entry: Entry) -> Job | None:
    """The one-recipient template job that replaces `entry` if its free-form message fails because
    the window was closed; None when the entry earns no fallback (see the module's rule)."""
    template = job.template
    if template is None or template.session != "auto" or job.form != "freeform":
        return None
    if entry.caption_for is not None or entry.fallback_for is not None:
        return None
    rid = entry.rid + FALLBACK_RID_SUFFIX
    fallback = entry.model_copy(
        update={
            "rid": rid,
            "message": "",  # the template's body replaces it; not kept twice
            "fallback_for": entry.rid,
            "form_reason": f"fallback: the free-form message {entry.rid} failed because the 24-hour window was closed",
        }
    )
    return Job(
        job_id=fallback_job_id(entry.rid),
        application=job.application,
        priority=job.priority,
        global_media=job.global_media,
        entries=[fallback],
        sources=job.sources,
        expires_at=job.expires_at,
        template=template,
        form="template",
    )


def fallback_job_json(job: Job, entry: Entry) -> str | None:
    """`fallback_job_for` as the compact JSON a ledger entry keeps."""
    fallback = fallback_job_for(job, entry)
    return None if fallback is None else fallback.model_dump_json(exclude_defaults=True, exclude={"planned_at"})


def eligible(item: dict[str, Any]) -> bool:
    """A recipient item that earns its fallback now (see the module's rule)."""
    return (
        item.get("kind") == "recipient"
        and item.get("state") == str(RecipientState.FAILED)
        and bool(item.get("fallback_job"))
        and not item.get("fallback_rid")
        and not item.get("fallback_for")
        and not item.get("caption_for")
        and closed_window_failure(item.get("error_code"), item.get("error_message"))
    )

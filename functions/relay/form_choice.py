"""The form each recipient of a job gets, decided at send time (pure; relay.sending does the I/O).

A job planned with a template and no fixed form (`Job.form is None`: session `auto`, or a
session the planner left to the sender) is decided here, recipient by recipient, with
relay.templates.decide_form and the customers' last messages (relay.ledger.Ledger.last_inbound,
read once per job just before sending: a customer may write between planning and sending).

Product decisions:
- **One form per request.** The Push API takes one form per request (a template request has no
  free-form message), so a job whose recipients get different forms is split into one job per
  form (`split`), each with its form fixed: a child is never decided again, whatever happens to
  the customer's window before it is sent (the decision is minutes old at most).
- **Captions.** A caption that follows its document/audio/sticker as its own text message
  (`Entry.caption_for`) is free-form text: when its decision is the template it is not sent, but
  recorded `skipped` with the reason (outside the window the customer gets the template with the
  media as its header; a text message would fail there and the template does not carry the caption).
  When a job is split by form, its skipped captions stay on the split job's ledger entry; when every
  recipient of a job is skipped, the job ends `skipped` and nothing is sent. A caption is decided
  on its own, by the same rule, at its own send time (its media's job goes 2 s earlier): the safety
  margin makes a different decision within those 2 s practically impossible unless the customer
  writes in between, and then the caption goes free-form, which the open window allows.
- **Why** each recipient got its form is kept on its ledger entry (`form_reason`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from relay.models import Entry, Job, short_hash
from relay.templates import Form, decide_form

#: the order of the children of a split job (deterministic: their ids and queue order)
FORMS: tuple[Form, ...] = ("freeform", "template")


@dataclass(frozen=True)
class FormPlan:
    """What a job becomes: entries to send by form (each with its `form_reason`), and captions not sent."""

    by_form: dict[Form, list[Entry]] = field(default_factory=dict)
    #: (entry, reason) of caption entries not sent
    skipped: list[tuple[Entry, str]] = field(default_factory=list)


def needs_decision(job: Job) -> bool:
    """A job with a template whose form was left to the send time."""
    return job.template is not None and job.form is None


def needs_windows(job: Job, session_channels: frozenset[int]) -> bool:
    """Whether the decision depends on the customers' windows (only then they are read)."""
    return needs_decision(job) and job.template is not None and job.template.session == "auto" and job.application in session_channels


def plan_forms(
    job: Job, last_inbound: Mapping[str, float], now: float, margin_seconds: float, session_channels: frozenset[int]
) -> FormPlan:
    """Each recipient's form now (`last_inbound`: unix seconds by number, absent: none on record)."""
    assert job.template is not None, "only a job with a template is decided"
    plan = FormPlan()
    applies = job.application in session_channels
    for entry in job.entries:
        decision = decide_form(job.template.session, last_inbound.get(entry.number), now, margin_seconds, window_applies=applies)
        decided = entry.model_copy(update={"form_reason": decision.why})
        if decision.form == "template" and entry.caption_for is not None:
            plan.skipped.append((decided, f"caption not sent: {decision.why}; the media goes as the template, which cannot carry it"))
        else:
            plan.by_form.setdefault(decision.form, []).append(decided)
    return plan


def child_job_id(job_id: str, form: Form) -> str:
    """The deterministic id of the part of a split job that is sent in `form`."""
    return short_hash(job_id, "form", form, size=32)


def with_form(job: Job, form: Form, entries: list[Entry], job_id: str | None = None) -> Job:
    """The job (or a part of it) sent in `form`, its form fixed."""
    return job.model_copy(update={"job_id": job_id or job.job_id, "form": form, "entries": entries})


def split_by_form(job: Job, plan: FormPlan) -> list[Job]:
    """One job per form, in FORMS order, each with its form fixed and a deterministic id."""
    return [with_form(job, form, plan.by_form[form], child_job_id(job.job_id, form)) for form in FORMS if plan.by_form.get(form)]

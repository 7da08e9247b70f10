"""The send-time form rules (relay.form_choice) and the template fallback's rule (relay.fallback),
pure: which recipients are decided, read windows for, split, skipped, and which earn a fallback."""

from __future__ import annotations

import json

import pytest

from relay.dynamodb import to_item
from relay.fallback import eligible, fallback_job_for, fallback_job_id
from relay.form_choice import child_job_id, needs_decision, needs_windows, plan_forms, split_by_form
from relay.ledger_items import push_item, recipient_item
from relay.media import MediaKind
from relay.models import Entry, Job, MediaRef
from relay.templates import TemplateRef
from relay_local.dev.strict_dynamodb import item_size

NOW = 2_000_000_000.0
CHANNELS = frozenset({8})
PDF = MediaRef(bucket="b", key="media/i.pdf", kind=MediaKind.DOCUMENT, content_type="application/pdf", size=10, filename="i.pdf")


def entry(number: str, caption_for: str | None = None, **fields) -> Entry:
    return Entry(rid=f"r{number}", number=number, message="Invoice attached", object_pk="OBJ#b/k", caption_for=caption_for, **fields)


def job(*entries: Entry, session: str = "auto", application: int = 8, **fields) -> Job:
    return Job(
        job_id="j1",
        application=application,
        entries=list(entries),
        template=TemplateRef(id="inv", language="en", session=session),
        **fields,
    )


def test_given_jobs_of_each_kind_then_only_a_template_job_without_a_form_is_decided_and_only_auto_reads_windows():
    plain = Job(job_id="j", application=8, entries=[entry("447700900001")])
    assert not needs_decision(plain) and not needs_windows(plain, CHANNELS)
    assert not needs_decision(job(entry("447700900001"), form="template"))
    assert needs_decision(job(entry("447700900001"))) and needs_windows(job(entry("447700900001")), CHANNELS)
    # session template/freeform and a channel without the window need no read
    assert not needs_windows(job(entry("447700900001"), session="template"), CHANNELS)
    assert not needs_windows(job(entry("447700900001"), session="freeform"), CHANNELS)
    assert not needs_windows(job(entry("447700900001"), application=101), CHANNELS)


def test_given_mixed_windows_then_the_job_splits_into_one_job_per_form_each_fixed_and_deterministic():
    # Given one customer inside the window, one without any message, one outside it
    j = job(entry("447700900001"), entry("447700900002"), entry("447700900003"))
    windows = {"447700900001": NOW - 3600, "447700900003": NOW - 30 * 3600}
    # When decided
    plan = plan_forms(j, windows, NOW, 600, CHANNELS)
    # Then one free-form, two template, each with its reason
    assert [e.number for e in plan.by_form["freeform"]] == ["447700900001"]
    assert [e.number for e in plan.by_form["template"]] == ["447700900002", "447700900003"]
    assert plan.by_form["template"][1].form_reason == "customer last wrote 30h00m ago: outside the 24-hour window (margin 600s)"
    parts = split_by_form(j, plan)
    assert [(p.form, p.job_id) for p in parts] == [
        ("freeform", child_job_id("j1", "freeform")),
        ("template", child_job_id("j1", "template")),
    ]
    assert split_by_form(j, plan_forms(j, windows, NOW, 600, CHANNELS)) == parts  # the same ids every time
    assert not needs_decision(parts[0]) and not needs_decision(parts[1])


def test_given_captions_then_only_those_outside_the_window_are_skipped():
    j = job(entry("447700900001", caption_for="m1"), entry("447700900002", caption_for="m2"), entry("447700900003"))
    plan = plan_forms(j, {"447700900001": NOW - 60}, NOW, 600, CHANNELS)
    assert [e.number for e in plan.by_form["freeform"]] == ["447700900001"]
    assert [e.number for e in plan.by_form["template"]] == ["447700900003"]  # a text message that is not a caption
    [(skipped, why)] = plan.skipped
    assert skipped.number == "447700900002" and why.startswith("caption not sent: no message from the customer on record")


def test_given_a_free_form_send_under_session_auto_then_its_fallback_is_one_template_entry_without_text_or_urls():
    first = entry("447700900001", media=PDF, reference="inv-1", template_values=("Ana",), template_header="i.pdf")
    sent = job(first, expires_at=NOW + 60).model_copy(update={"form": "freeform"})
    fallback = fallback_job_for(sent, first)
    assert fallback is not None
    assert fallback.job_id == fallback_job_id("r447700900001") and fallback.form == "template" and fallback.expires_at == NOW + 60
    [e] = fallback.entries
    assert (e.rid, e.fallback_for, e.message, e.reference) == ("r447700900001-t", "r447700900001", "", "inv-1")
    assert (e.media, e.template_values, e.template_header) == (PDF, ("Ana",), "i.pdf")
    # on the ledger: the first attempt carries it, small; its own item carries none
    item = recipient_item(sent, first, "accepted")
    assert json.loads(item["fallback_job"])["entries"][0]["rid"] == "r447700900001-t"
    assert item_size(to_item(item)) < 3000
    again = recipient_item(fallback, e, "planned")
    assert again["fallback_job"] is None and again["fallback_for"] == "r447700900001" and again["form"] == "template"
    assert push_item(fallback, "planned")["form"] == "template" and push_item(fallback, "planned")["template_id"] == "inv"


@pytest.mark.parametrize(
    "case",
    ["caption", "a fallback itself", "session freeform", "session template", "sent as the template", "no template"],
)
def test_given_a_send_that_earns_no_fallback_then_none_is_kept(case):
    e = entry("447700900001", caption_for="m" if case == "caption" else None, fallback_for="r0" if case == "a fallback itself" else None)
    session = {"session freeform": "freeform", "session template": "template"}.get(case, "auto")
    sent = job(e, session=session).model_copy(update={"form": "template" if case == "sent as the template" else "freeform"})
    if case == "no template":
        sent = sent.model_copy(update={"template": None})
    assert fallback_job_for(sent, e) is None
    assert recipient_item(sent, e, "accepted")["fallback_job"] is None


def test_given_recipient_items_then_only_a_closed_window_failure_without_a_fallback_is_eligible():
    base = {"kind": "recipient", "state": "failed", "fallback_job": "{}", "error_code": "131047", "error_message": "Re-engagement message"}
    assert eligible(base)
    assert eligible({**base, "error_code": None})  # the text alone says it
    assert not eligible({**base, "state": "accepted"})
    assert not eligible({**base, "fallback_rid": "r-t"})
    assert not eligible({**base, "fallback_job": None})
    assert not eligible({**base, "error_code": "131026", "error_message": "Message undeliverable"})
    assert not eligible({**base, "caption_for": "m"})
    assert not eligible({**base, "fallback_for": "r0"})

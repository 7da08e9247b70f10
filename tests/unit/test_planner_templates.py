"""The planner's template rules (issue 11): every rule a rejection naming the value or field; one
template per request; the form each job is planned in; template values counted in a job's bytes."""

import pytest

from relay.media import MediaKind
from relay.models import MediaRef, Source
from relay.planner import MAX_JOB_BYTES, MAX_TEMPLATE_TEXT, Candidate, PlanRules, job_bytes, plan
from relay.templates import CatalogueEntry, TemplateRef

NOW = 1_800_000_000.0
SRC = Source(kind="manifest", bucket="b", key="manifests/m.json", revision="r1")
RULES = PlanRules(cap=100, dynamic_channels=frozenset({8}), spacing_seconds=5, session_channels=frozenset({8}))
INVOICE = TemplateRef(id="INV1", language="en", session="template")
AUTO = TemplateRef(id="INV1", language="en", session="auto")


def media(key: str, kind: MediaKind) -> MediaRef:
    ctype = {"image": "image/jpeg", "document": "application/pdf", "video": "video/mp4"}[kind]
    return MediaRef(bucket="b", key=key, kind=kind, content_type=ctype, size=100, filename=key.rsplit("/", 1)[-1])


PDF = {"m/invoice.pdf": media("m/invoice.pdf", MediaKind.DOCUMENT)}
JPG = {"m/photo.jpg": media("m/photo.jpg", MediaKind.IMAGE)}


def cand(i: int, **kw) -> Candidate:
    base = dict(
        rid=f"r{i}",
        source=SRC,
        number=f"4477009{i:05d}",
        message=f"Invoice {i}",
        global_media_key="m/invoice.pdf",
        template=INVOICE,
        template_values=("Ana", f"{i}.00"),
    )
    return Candidate(**{**base, **kw})


def only_rejection(result) -> str:
    assert not result.jobs
    [rej] = result.rejections
    return rej.reason


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (("Ana", ""), "template value 2 ({{2}}) is empty"),
        (("Ana", "   "), "template value 2 ({{2}}) is empty"),
        (("line\nbreak",), "template value 1 ({{1}}) contains a newline"),
        (("a\tb",), "template value 1 ({{1}}) contains a tab"),
        (("a     b",), "template value 1 ({{1}}) has more than four consecutive spaces"),
        (("ok", "bell\x07"), "template value 2 ({{2}}) contains a control character (U+0007) at position 4"),
        (("x" * 1025,), "template value 1 ({{1}}) is 1025 characters; the limit is 1024"),
    ],
)
def test_given_a_bad_template_value_when_planned_then_the_recipient_is_rejected_naming_the_value(values, reason):
    # Given a recipient whose template value WhatsApp would refuse
    # When planned
    result = plan([cand(1, template_values=values)], PDF, RULES, NOW)
    # Then it is rejected before anything is paid, with the value named
    assert only_rejection(result) == reason


def test_given_four_consecutive_spaces_when_planned_then_the_value_is_accepted():
    result = plan([cand(1, template_values=("a    b",))], PDF, RULES, NOW)
    assert not result.rejections and result.jobs[0].entries[0].template_values == ("a    b",)


@pytest.mark.parametrize(
    ("header", "lookup", "key", "reason"),
    [
        ("photo.jpg", JPG, "m/photo.jpg", "template_header is only for document templates; this media is image"),
        ("invoice.pdf", {}, None, "template_header is only for document templates; this recipient has no media"),
        ("x" * 61 + ".pdf", PDF, "m/invoice.pdf", "template_header is 65 characters; the limit is 60"),
        ("bad\u202ename.pdf", PDF, "m/invoice.pdf", "template_header contains a bidirectional control character (U+202E) at position 3"),
    ],
)
def test_given_a_bad_template_header_when_planned_then_the_recipient_is_rejected_naming_the_header(header, lookup, key, reason):
    # Given a header on other media, on no media, too long, or with a control character
    c = cand(1, template_header=header, global_media_key=key, message="" if key is None else "hi")
    # When planned, Then rejected with the header named
    assert only_rejection(plan([c], lookup, RULES, NOW)) == reason


def test_given_template_values_without_a_template_when_planned_then_rejected():
    assert only_rejection(plan([cand(1, template=None)], PDF, RULES, NOW)) == "template values or header given without a template"


def test_given_values_too_long_together_when_planned_then_rejected_so_that_a_job_stays_under_the_queue_limit():
    values = tuple("v" * 1000 for _ in range(5))
    assert only_rejection(plan([cand(1, template_values=values)], PDF, RULES, NOW)) == (
        f"template values and header are 5000 characters together; the limit is {MAX_TEMPLATE_TEXT}"
    )


@pytest.mark.parametrize(
    ("entry", "lookup", "key", "reason"),
    [
        (
            CatalogueEntry(id="INV1", kind="image", languages=["en"], variables=2),
            PDF,
            "m/invoice.pdf",
            "template INV1 is an image template; the media is document",
        ),
        (
            CatalogueEntry(id="INV1", kind="document", languages=["pt_BR"]),
            PDF,
            "m/invoice.pdf",
            "template INV1 has no language 'en' (it has pt_BR)",
        ),
        (CatalogueEntry(id="INV1", kind="document", variables=3), PDF, "m/invoice.pdf", "template INV1 takes 3 values; 2 given"),
        (
            CatalogueEntry(id="INV1", kind="text"),
            PDF,
            "m/invoice.pdf",
            "template INV1 is a text template; it takes no media (got document)",
        ),
        (
            CatalogueEntry(id="INV1", kind="document"),
            {},
            None,
            "template INV1 is a document template; it needs document media as its header",
        ),
        (
            CatalogueEntry(id="INV1", kind="document", status="REJECTED"),
            PDF,
            "m/invoice.pdf",
            "template INV1 is not approved (status 'REJECTED' in templates/INV1.json)",
        ),
        (
            "catalogue entry templates/INV1.json is invalid: not JSON",
            PDF,
            "m/invoice.pdf",
            "catalogue entry templates/INV1.json is invalid: not JSON",
        ),
    ],
)
def test_given_a_catalogue_entry_when_the_send_does_not_match_it_then_the_recipient_is_rejected_with_the_reason(entry, lookup, key, reason):
    # Given the template's catalogue entry (or why it could not be read)
    c = cand(1, global_media_key=key)
    # When planned with it
    result = plan([c], lookup, RULES, NOW, catalogue={"INV1": entry})
    # Then the recipient is rejected with what the catalogue says
    assert only_rejection(result) == reason


def test_given_a_matching_catalogue_entry_when_planned_then_the_recipient_is_planned():
    entry = CatalogueEntry(id="INV1", kind="document", languages=["en", "pt_BR"], variables=2)
    result = plan([cand(1)], PDF, RULES, NOW, catalogue={"INV1": entry, "OTHER": "catalogue entry templates/OTHER.json is invalid: x"})
    assert not result.rejections and len(result.jobs) == 1


def test_given_different_templates_when_planned_then_each_request_carries_one_template():
    # Given recipients of two templates, one template in two languages and two sessions
    other = TemplateRef(id="TICKET", language="en", session="template")
    in_pt = TemplateRef(id="INV1", language="pt_BR", session="template")
    cands = [
        cand(1),
        cand(2),
        cand(3, template=other),
        cand(4, template=in_pt),
        cand(5, template=AUTO),
        cand(6, template=None, template_values=()),
    ]
    # When planned
    result = plan(cands, PDF, RULES, NOW)
    # Then each job carries one template (or none) with its form
    assert not result.rejections
    by_rids = {tuple(e.rid for e in j.entries): (j.template, j.form) for j in result.jobs if not j.entries[0].caption_for}
    assert by_rids == {
        ("r1", "r2"): (INVOICE, "template"),
        ("r3",): (other, "template"),
        ("r4",): (in_pt, "template"),
        ("r5",): (AUTO, None),
        ("r6",): (None, "freeform"),
    }


def test_given_session_template_with_a_document_and_a_message_when_planned_then_no_caption_text_and_no_message():
    # Given a PDF with a message, sent as the template (the template carries the message)
    result = plan([cand(1, template_header="Invoice 1.pdf")], PDF, RULES, NOW)
    # Then one job, in the template form, and no separate caption text
    [job] = result.jobs
    assert job.form == "template" and job.template == INVOICE
    [entry] = job.entries
    assert entry.message == "" and entry.template_values == ("Ana", "1.00") and entry.template_header == "Invoice 1.pdf"


def test_given_session_auto_with_a_document_and_a_message_when_planned_then_the_caption_job_carries_the_template():
    # Given a PDF with a message and session auto
    result = plan([cand(1, template=AUTO)], PDF, RULES, NOW)
    # Then the media job and its caption text job both carry the template, their form left to the sender
    media_job, caption_job = sorted(result.jobs, key=lambda j: bool(j.entries[0].caption_for))
    assert media_job.template == AUTO and media_job.form is None and media_job.entries[0].template_values == ("Ana", "1.00")
    assert caption_job.entries[0].caption_for == "r1" and caption_job.entries[0].message == "Invoice 1"
    assert caption_job.template == AUTO and caption_job.form is None


def test_given_session_auto_on_a_channel_without_the_window_when_planned_then_free_form_without_the_template():
    # Given session auto on application 1 (not in SESSION_CHANNELS)
    result = plan([cand(1, template=AUTO, application=1, global_media_key="m/photo.jpg")], JPG, RULES, NOW)
    # Then the job is free-form, keeps no template, and says why
    [job] = result.jobs
    assert job.form == "freeform" and job.template is None
    assert job.entries[0].template_values == () and "does not apply on application 1" in job.entries[0].form_reason


def test_given_session_freeform_when_planned_then_the_template_is_dropped():
    result = plan(
        [cand(1, template=TemplateRef(id="INV1", language="en", session="freeform"), global_media_key="m/photo.jpg")], JPG, RULES, NOW
    )
    [job] = result.jobs
    assert job.form == "freeform" and job.template is None and job.entries[0].message == "Invoice 1"


def test_given_a_text_template_with_values_and_no_message_when_planned_then_it_is_planned_as_the_template():
    # Given session auto, no media, no message: only the template has something to send
    result = plan([cand(1, template=AUTO, message="", global_media_key=None)], {}, RULES, NOW)
    # Then it is planned in the template form (nothing to send free-form)
    [job] = result.jobs
    assert job.form == "template" and job.template == AUTO and job.global_media is None


def test_given_neither_media_nor_message_nor_a_usable_template_when_planned_then_nothing_to_send():
    # Given an auto template on a channel where it is not used, and no media, no message
    result = plan([cand(1, template=AUTO, application=1, message="", global_media_key=None)], {}, RULES, NOW)
    reason = only_rejection(result)
    assert reason.startswith("nothing to send: no media and no message (the template is not used:")


def test_given_no_template_when_planned_then_jobs_are_free_form():
    result = plan([cand(1, template=None, template_values=())], PDF, RULES, NOW)
    assert all(j.form == "freeform" and j.template is None for j in result.jobs)


def test_given_large_per_recipient_values_when_planned_then_every_job_fits_one_queue_message():
    # Given 100 recipients each with values near the limit, in 3-byte characters (Devanagari)
    values = tuple("क" * 1000 for _ in range(4))
    cands = [cand(i, template_values=values) for i in range(100)]
    # When planned
    result = plan(cands, PDF, RULES, NOW)
    # Then the values are counted in each job's bytes: more than one job, each under the queue limit
    assert not result.rejections and len(result.jobs) > 1
    assert sum(len(j.entries) for j in result.jobs) == 100
    assert all(job_bytes(j) <= MAX_JOB_BYTES for j in result.jobs)


@pytest.mark.parametrize("status", [None, "approved", "APPROVED", "active", "1"])
def test_given_a_catalogue_status_that_is_not_a_refusal_then_the_template_is_sent(status):
    # Given a catalogue entry whose status is approved, unknown or absent (the vendor's words are unofficial)
    entry = CatalogueEntry(id="INV1", kind="document", status=status)
    # When planned
    result = plan([cand(1, global_media_key="m/invoice.pdf")], PDF, RULES, NOW, catalogue={"INV1": entry})
    # Then nothing is rejected
    assert result.rejections == [] and result.entries == 1


def test_given_session_template_on_a_channel_without_templates_then_the_recipient_is_rejected_before_sending():
    # Given a template to be sent always, on Web Automation (10), where the vendor has no templates
    c = cand(1, application=10)
    # When planned
    result = plan([c], PDF, RULES, NOW)
    # Then it is rejected with why, instead of a request the vendor would refuse
    assert only_rejection(result) == (
        "template INV1 with session=template on application 10: templates are sent only on WhatsApp Official channels (SESSION_CHANNELS)"
    )

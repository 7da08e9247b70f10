"""The planner's rules: every violation becomes a rejection with a reason, never a silent drop."""

import json

import pytest

from relay.media import MediaKind
from relay.models import MAX_TEXT, MediaRef, Source
from relay.planner import CAPTION_FOLLOW_SECONDS, MAX_JOB_BYTES, Candidate, PlanRules, plan

NOW = 1_800_000_000.0
SRC = Source(kind="manifest", bucket="b", key="manifests/m.json", revision="r1")


def media(key: str, kind: MediaKind = MediaKind.IMAGE) -> MediaRef:
    ctype = {"image": "image/jpeg", "document": "application/pdf", "audio": "audio/mpeg", "video": "video/mp4"}[kind]
    return MediaRef(bucket="b", key=key, kind=kind, content_type=ctype, size=100, filename=key.rsplit("/", 1)[-1])


def cand(i: int, **kw) -> Candidate:
    base = dict(rid=f"r{i}", source=SRC, number=f"4477009{i:05d}", message=f"hi {i}", media_key=f"m/{i}.jpg")
    return Candidate(**{**base, **kw})


def lookup(*cands: Candidate, kind: MediaKind = MediaKind.IMAGE) -> dict:
    return {c.media_key: media(c.media_key, kind) for c in cands if c.media_key}


RULES = PlanRules(cap=100, dynamic_channels=frozenset({8}), spacing_seconds=5)


def test_given_per_recipient_media_on_whatsapp_official_when_planned_then_one_dynamic_request_carries_all():
    cands = [cand(i) for i in range(5)]
    result = plan(cands, lookup(*cands), RULES, NOW)
    assert len(result.jobs) == 1 and not result.rejections
    job = result.jobs[0]
    assert job.application == 8 and job.dynamic and job.global_media is None
    assert [e.media.key for e in job.entries] == [f"m/{i}.jpg" for i in range(5)]
    assert [e.message for e in job.entries] == [f"hi {i}" for i in range(5)]


def test_given_more_recipients_than_the_cap_when_planned_then_requests_hold_at_most_the_cap():
    cands = [cand(i) for i in range(250)]
    result = plan(cands, lookup(*cands), PlanRules(cap=100), NOW)
    assert [len(j.entries) for j in result.jobs] == [100, 100, 50]
    assert len({j.job_id for j in result.jobs}) == 3


def test_given_long_messages_when_planned_then_each_job_fits_one_queue_message():
    cands = [cand(i, message="x" * MAX_TEXT) for i in range(100)]
    result = plan(cands, lookup(*cands), PlanRules(cap=100), NOW)
    assert len(result.jobs) > 1 and sum(len(j.entries) for j in result.jobs) == 100
    assert all(len(j.model_dump_json()) <= MAX_JOB_BYTES + 2000 for j in result.jobs)


def test_given_the_same_inputs_when_planned_twice_then_job_ids_are_the_same():
    cands = [cand(i) for i in range(3)]
    first = plan(cands, lookup(*cands), RULES, NOW)
    again = plan(list(reversed(cands)), lookup(*cands), RULES, NOW + 60)
    assert {j.job_id for j in first.jobs} == {j.job_id for j in again.jobs}


def test_given_a_channel_without_dynamic_media_when_planned_then_one_request_per_recipient_spaced_5s():
    cands = [cand(i, application=1) for i in range(4)]
    result = plan(cands, lookup(*cands), RULES, NOW)
    assert [len(j.entries) for j in result.jobs] == [1, 1, 1, 1]
    assert sorted(j.not_before - NOW for j in result.jobs) == [0, 5, 10, 15]


def test_given_a_channel_configured_for_dynamic_media_when_planned_then_it_packs():
    cands = [cand(i, application=101) for i in range(4)]
    result = plan(cands, lookup(*cands), PlanRules(dynamic_channels=frozenset({8, 101})), NOW)
    assert [len(j.entries) for j in result.jobs] == [4]


def test_given_static_media_on_any_channel_when_planned_then_recipients_share_one_request():
    cands = [cand(i, application=1, media_key=None, global_media_key="m/all.jpg") for i in range(3)]
    result = plan(cands, {"m/all.jpg": media("m/all.jpg")}, RULES, NOW)
    [job] = result.jobs
    assert job.global_media.key == "m/all.jpg" and not job.dynamic and len(job.entries) == 3


@pytest.mark.parametrize("kind", [MediaKind.DOCUMENT, MediaKind.AUDIO])
def test_given_a_caption_on_a_kind_that_cannot_carry_one_when_planned_then_it_is_sent_as_its_own_text(kind):
    c = cand(1, media_key="m/inv.pdf", message="Invoice attached")
    result = plan([c], {"m/inv.pdf": media("m/inv.pdf", kind)}, RULES, NOW)
    media_job, text_job = result.jobs
    assert media_job.entries[0].message == "" and media_job.entries[0].media.key == "m/inv.pdf"
    assert text_job.entries[0].message == "Invoice attached" and text_job.entries[0].media is None
    assert text_job.entries[0].caption_for == c.rid and text_job.entries[0].number == media_job.entries[0].number
    assert text_job.not_before >= NOW + CAPTION_FOLLOW_SECONDS  # after the media


def test_given_a_caption_on_an_image_or_video_when_planned_then_it_stays_a_caption():
    c = cand(1, media_key="m/v.mp4", message="Watch this")
    result = plan([c], {"m/v.mp4": media("m/v.mp4", MediaKind.VIDEO)}, RULES, NOW)
    [job] = result.jobs
    assert job.entries[0].message == "Watch this"


def test_given_a_long_document_name_when_planned_then_media_name_is_shortened_keeping_the_extension():
    cands = [
        cand(
            i, media_key=None, message="", global_media_key="m/Black Friday Brochure 2026.pdf", media_name="Black Friday Brochure 2026.pdf"
        )
        for i in range(2)
    ]
    result = plan(cands, {"m/Black Friday Brochure 2026.pdf": media("m/Black Friday Brochure 2026.pdf", MediaKind.DOCUMENT)}, RULES, NOW)
    [job] = result.jobs
    assert job.media_name.endswith(".pdf") and len(job.media_name) <= 20


def test_given_static_document_without_a_name_when_planned_then_the_file_name_is_used_shortened():
    cands = [cand(1, media_key=None, message="", global_media_key="m/annual-report-2026-final.pdf")]
    result = plan(cands, {"m/annual-report-2026-final.pdf": media("m/annual-report-2026-final.pdf", MediaKind.DOCUMENT)}, RULES, NOW)
    assert len(result.jobs[0].media_name) <= 20 and result.jobs[0].media_name.endswith(".pdf")


def test_given_a_media_name_for_an_image_when_planned_then_it_is_not_sent():
    cands = [cand(1, media_key=None, global_media_key="m/a.jpg", media_name="pretty.jpg")]
    result = plan(cands, {"m/a.jpg": media("m/a.jpg")}, RULES, NOW)
    assert result.jobs[0].media_name is None


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"number": "07700900123"}, "starts with 0"),
        ({"number": "1234567"}, "7 digits"),
        ({"message": "x" * (MAX_TEXT + 1)}, f"limit is {MAX_TEXT}"),
        ({"media_key": None, "message": "  "}, "nothing to send"),
        ({"media_key": "m/unchecked.jpg"}, "was not checked"),
        ({"message": "pay now\x00"}, "message contains a control character (U+0000)"),
        ({"message": "ring\x07"}, "message contains a control character (U+0007)"),
        ({"message": "invoice \u202efdp.exe"}, "message contains a bidirectional control character (U+202E)"),
        ({"reference": "ord\ter-1"}, "reference contains a control character (U+0009)"),
    ],
)
def test_given_a_rule_violation_when_planned_then_the_recipient_is_rejected_with_the_reason(overrides, fragment):
    c = cand(1, **overrides)
    result = plan([c], lookup(cand(1)), RULES, NOW)
    assert not result.jobs
    [rej] = result.rejections
    assert fragment in rej.reason and rej.rid == c.rid and rej.object_pk == SRC.object_pk


def test_given_layout_characters_in_a_message_when_planned_then_it_is_sent_as_written():
    c = cand(1, message="Line one\r\nLine two\tcol \u200fRTL mark")
    result = plan([c], lookup(c), RULES, NOW)
    assert not result.rejections and result.jobs[0].entries[0].message == c.message


def test_given_media_the_checks_refused_when_planned_then_the_reason_names_the_file():
    c = cand(1, media_key="m/fake.jpg")
    result = plan([c], {"m/fake.jpg": "extension .jpg but content is PDF"}, RULES, NOW)
    [rej] = result.rejections
    assert "m/fake.jpg" in rej.reason and "PDF" in rej.reason and rej.number == "447700900001"


def test_given_exactly_4096_characters_when_planned_then_the_message_is_accepted():
    c = cand(1, message="é" * MAX_TEXT)
    assert len(plan([c], lookup(c), RULES, NOW).jobs) == 1


def test_given_text_only_rows_when_planned_then_they_go_in_a_text_request():
    cands = [cand(i, media_key=None, message=f"m{i}") for i in range(3)]
    [job] = plan(cands, {}, RULES, NOW).jobs
    assert not job.dynamic and job.global_media is None and [e.message for e in job.entries] == ["m0", "m1", "m2"]


def test_given_one_recipient_twice_in_a_batch_when_planned_then_it_is_planned_once():
    c = cand(1)
    result = plan([c, c], lookup(c), RULES, NOW)
    assert sum(len(j.entries) for j in result.jobs) == 1


def test_given_mixed_rows_when_planned_then_every_input_is_either_planned_or_rejected():
    cands = [cand(1), cand(2, number="0123"), cand(3, media_key="m/big.jpg"), cand(4, media_key="m/x.pdf", message="cap")]
    looked = {**lookup(cand(1)), "m/big.jpg": "image is 6.0 MB, limit 5 MB", "m/x.pdf": media("m/x.pdf", MediaKind.DOCUMENT)}
    result = plan(cands, looked, RULES, NOW)
    planned = {e.rid for j in result.jobs for e in j.entries if not e.caption_for}
    rejected = {r.rid for r in result.rejections}
    assert planned | rejected == {c.rid for c in cands} and not planned & rejected
    # and a job serialises to what the send queue carries
    assert all(json.loads(j.model_dump_json())["job_id"] == j.job_id for j in result.jobs)

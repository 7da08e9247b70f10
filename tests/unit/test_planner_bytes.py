"""Jobs are sized as SQS counts them: UTF-8 bytes of the JSON the send queue carries."""

from __future__ import annotations

from relay.models import Source
from relay.planner import MAX_JOB_BYTES, MAX_REFERENCE, Candidate, PlanRules, job_bytes, plan

NOW = 1_800_000_000.0
SRC = Source(kind="manifest", bucket="b", key="manifests/hindi.csv", revision="r1")
RULES = PlanRules(cap=100, dynamic_channels=frozenset({8}), spacing_seconds=5)
#: 1,190 Devanagari characters: 3,570 UTF-8 bytes
HINDI = ("नमस्ते दोस्त " * 100)[:1190]
SQS_MAX_MESSAGE_BYTES = 262_144


def test_given_100_recipients_with_a_1190_character_hindi_message_when_planned_then_every_job_fits_sqs_in_bytes():
    # Given 100 text recipients whose message is 1,190 characters of Hindi
    assert len(HINDI) == 1190 and len(HINDI.encode()) > 3000
    cands = [Candidate(rid=f"r{i}", source=SRC, number=f"4477009{i:05d}", message=HINDI) for i in range(100)]
    # When planned
    result = plan(cands, {}, RULES, NOW)
    # Then every recipient is in a job, and every job's queue body is within the planner's byte budget
    assert sum(len(j.entries) for j in result.jobs) == 100 and not result.rejections
    assert len(result.jobs) >= 2
    assert all(job_bytes(j) <= MAX_JOB_BYTES < SQS_MAX_MESSAGE_BYTES for j in result.jobs)


def test_given_a_reference_longer_than_the_api_takes_when_planned_then_that_recipient_is_rejected_with_the_length():
    cands = [
        Candidate(rid="a", source=SRC, number="447700900001", message="hi", reference="x" * 450_000),
        Candidate(rid="b", source=SRC, number="447700900002", message="hi", reference="ok"),
    ]
    result = plan(cands, {}, RULES, NOW)
    [rej] = result.rejections
    assert rej.rid == "a" and rej.reason == f"reference is 450000 characters; the limit is {MAX_REFERENCE}"
    assert [e.rid for j in result.jobs for e in j.entries] == ["b"]

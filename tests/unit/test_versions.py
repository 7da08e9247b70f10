"""Versioned media: the version a media check read is the version a URL asks for."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from relay.media import MediaKind
from relay.models import MediaRef, Source
from relay.planner import Candidate, PlanRules, media_slot, plan
from relay.uploads import uploads_from_notification


def ref(version: str | None) -> MediaRef:
    return MediaRef(
        bucket="b",
        key="outbox/447700900123/a.jpg",
        kind=MediaKind.IMAGE,
        content_type="image/jpeg",
        size=10,
        filename="a.jpg",
        version_id=version,
    )


def test_given_a_checked_version_when_presigned_then_the_url_names_it_and_without_one_it_does_not(aws_signer):
    pinned = parse_qs(urlsplit(aws_signer.presign(ref("3HL4kqtJvjVBH40Nrjfkd"), 600)).query)
    assert pinned["versionId"] == ["3HL4kqtJvjVBH40Nrjfkd"]
    assert "versionId" not in parse_qs(urlsplit(aws_signer.presign(ref(None), 600)).query)


def test_given_a_notification_with_a_version_when_parsed_then_the_upload_carries_it_and_null_means_none():
    def note(version):
        obj = {"key": "outbox/447700900123/a.jpg", "eTag": "e"}
        if version is not None:
            obj["versionId"] = version
        return json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": obj}}]})

    assert uploads_from_notification(note("v1"))[0].version_id == "v1"
    assert uploads_from_notification(note("null"))[0].version_id is None
    assert uploads_from_notification(note(None))[0].version_id is None


def test_given_two_versions_of_one_key_in_one_plan_then_each_recipient_gets_its_own_version():
    src = [Source(kind="outbox", bucket="b", key="outbox/447700900123/a.jpg", revision=v) for v in ("v1", "v2")]
    cands = [
        Candidate(rid=v, source=s, number="447700900123", message=v, media_key=s.key, media_version=v)
        for v, s in zip(("v1", "v2"), src, strict=True)
    ]
    media = {media_slot(c.media_key, c.media_version): ref(c.media_version) for c in cands}
    result = plan(cands, media, PlanRules(), 1_800_000_000.0)
    assert {e.message: e.media.version_id for j in result.jobs for e in j.entries} == {"v1": "v1", "v2": "v2"}

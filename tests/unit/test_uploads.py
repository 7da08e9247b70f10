"""S3 event notifications → uploads (URL-encoded keys, test events, non-create events)."""

import json
from pathlib import Path

import pytest

from relay.uploads import NotAnS3Event, uploads_from_notification

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _event(key: str, name: str = "ObjectCreated:Put", **obj):
    return {
        "Records": [{"eventSource": "aws:s3", "eventName": name, "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 3, **obj}}}]
    }


def test_given_an_url_encoded_key_when_parsed_then_spaces_and_unicode_are_decoded():
    [up] = uploads_from_notification(_event("outbox/%2B44+7700+900124/invoice+2026-11+%C3%A9t%C3%A9.pdf", eTag="e1"))
    assert up.key == "outbox/+44 7700 900124/invoice 2026-11 été.pdf"
    assert up.kind == "outbox" and up.revision == "e1"


def test_given_version_and_sequencer_when_parsed_then_the_version_identifies_the_upload():
    [up] = uploads_from_notification(_event("manifests/a.json", versionId="v9", sequencer="0A", eTag="e"))
    assert up.revision == "v9" and up.kind == "manifest"
    [up] = uploads_from_notification(_event("manifests/a.json", sequencer="0A", eTag="e"))
    assert up.revision == "0A"


def test_given_s3s_test_event_or_a_delete_when_parsed_then_there_is_nothing_to_do():
    assert uploads_from_notification(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})) == []
    assert uploads_from_notification(_event("outbox/1/a.jpg", name="ObjectRemoved:Delete")) == []


@pytest.mark.parametrize("body", ["not json", "{}", json.dumps({"Records": "x"}), "[]"])
def test_given_something_that_is_not_an_s3_event_when_parsed_then_it_is_refused(body):
    with pytest.raises(NotAnS3Event):
        uploads_from_notification(body)


def test_given_the_sample_s3_events_when_parsed_then_each_yields_its_upload():
    for name, kind in (("s3-put-outbox.json", "outbox"), ("s3-put-manifest.json", "manifest")):
        uploads = uploads_from_notification(json.loads((EVENTS / name).read_text()))
        assert [u.kind for u in uploads] == [kind]

"""Which `media.key` a push may name (relay.pushes): only under API_MEDIA_PREFIXES, one answer for
"not allowed" and "absent", including S3's 403 for a missing key when the role has no s3:ListBucket."""

import pytest
from botocore.exceptions import ClientError

from relay.pushes import PushService, key_allowed, not_available
from relay.s3media import MediaStore
from relay.settings import load_settings

PREFIXES = ("media/",)


@pytest.mark.parametrize("key", ["media/photo.jpg", "media/2026/11/chart.png", "media/a b.pdf"])
def test_given_a_key_under_an_allowed_prefix_then_allowed(key):
    assert key_allowed(key, PREFIXES)


@pytest.mark.parametrize(
    "key",
    [
        "manifests/m.json",
        "outbox/447700900123/x.pdf",
        "media",
        "mediafoo/x.jpg",
        "media/../manifests/m.json",
        "media/./x.jpg",
        "media//x.jpg",
        "/media/x.jpg",
        "media/x\\..\\y.jpg",
        "media/",
        "api-media/abc/x.pdf",
    ],
)
def test_given_a_key_outside_the_prefixes_or_with_path_tricks_then_refused(key):
    assert not key_allowed(key, PREFIXES)


def test_given_no_prefixes_configured_then_no_key_is_allowed_and_the_answer_says_so():
    assert not key_allowed("media/x.jpg", ())
    assert "(none configured)" in not_available("media/x.jpg", ())


class DeniedS3:
    """S3 as it answers a role without s3:ListBucket: 403 AccessDenied for a key that is not there."""

    def get_object(self, **_: object):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")


class BrokenS3:
    def get_object(self, **_: object):
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject")


def service(store: MediaStore) -> PushService:
    settings = load_settings({"MEDIA_BUCKET": "bucket", "PUSH_LOG_TABLE": "table"})
    return PushService(settings, store, ledger=None, queue=None)  # type: ignore[arg-type] - the key check never reaches the ledger or the queue


def test_given_s3_answers_403_for_a_missing_key_when_checked_then_the_same_answer_as_absent():
    # Given S3 that answers a missing key with 403 (no s3:ListBucket, as deployed)
    # When a push names a key under media/ that is not there
    answer = service(MediaStore(DeniedS3()))._stored("bucket", "media/absent.jpg")
    # Then it is the one "not available" answer, not an error (which was a 5xx)
    assert answer == not_available("media/absent.jpg", PREFIXES)


def test_given_another_s3_error_when_checked_then_it_is_raised_not_taken_for_absent():
    with pytest.raises(ClientError):
        service(MediaStore(BrokenS3()))._stored("bucket", "media/x.jpg")

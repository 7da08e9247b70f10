"""MediaStore reads S3's 403 for a key it may not see (no s3:ListBucket) as "absent or not
readable", never as a failure of the whole batch."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from relay.s3media import MediaStore, ObjectMissing


class RefusingS3:
    def __init__(self, code: str, status: int) -> None:
        self.error = ClientError({"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")

    def get_object(self, **_: object) -> dict:
        raise self.error


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), ("403", 403), ("Forbidden", 403)])
def test_given_s3_answers_403_when_media_is_inspected_or_read_then_it_is_missing_with_both_readings(code, status):
    store = MediaStore(RefusingS3(code, status))
    for call in (lambda: store.inspect("b", "media/x.png"), lambda: store.read("b", "manifests/m.json")):
        with pytest.raises(ObjectMissing, match="does not exist or may not be read"):
            call()


@pytest.mark.parametrize("code", ["NoSuchKey", "404", "NotFound"])
def test_given_s3_answers_404_then_it_is_missing(code):
    with pytest.raises(ObjectMissing, match=r"s3://b/k does not exist$"):
        MediaStore(RefusingS3(code, 404)).inspect("b", "k")


def test_given_another_s3_error_then_it_is_raised_for_a_retry():
    with pytest.raises(ClientError):
        MediaStore(RefusingS3("SlowDown", 503)).read("b", "k")

"""Presigned media URLs: SigV4, virtual-hosted on AWS, lifetime from configuration."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from relay.media import MediaKind
from relay.models import MediaRef
from relay.s3media import decode_metadata


def test_given_aws_when_presigning_then_the_url_is_sigv4_virtual_hosted_with_the_configured_ttl(aws_signer):
    ref = MediaRef(
        bucket="acme-media",
        key="outbox/447700900123/Fatura março.pdf",
        kind=MediaKind.DOCUMENT,
        content_type="application/pdf",
        size=10,
        filename="Fatura março.pdf",
    )
    url = urlsplit(aws_signer.presign(ref, ttl_seconds=7200))
    query = parse_qs(url.query)
    assert url.scheme == "https" and url.netloc == "acme-media.s3.eu-west-1.amazonaws.com"
    assert url.path == "/outbox/447700900123/Fatura%20mar%C3%A7o.pdf"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["7200"]
    assert query["response-content-type"] == ["application/pdf"]
    assert query["response-content-disposition"][0].startswith("attachment;")
    assert "filename*=UTF-8''Fatura%20mar%C3%A7o.pdf" in query["response-content-disposition"][0]


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?UTF-8?B?T2zDoSBBbmEg8J+TuA==?=", "Olá Ana 📸"),
        ("=?utf-8?q?Ol=C3=A1?=", "Olá"),
        ("plain ascii", "plain ascii"),
        ("=?bogus", "=?bogus"),
    ],
)
def test_given_rfc2047_metadata_when_decoded_then_the_text_is_restored(raw, decoded):
    assert decode_metadata(raw) == decoded

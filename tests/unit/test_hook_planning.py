"""relay.hook_planning's pure parts (the queue message, the stored file name) and what template.yaml
must give IngestFunction for webhooks' media (issue 12)."""

from __future__ import annotations

import json

import pytest

from relay.hook_planning import HOOK_MEDIA_PREFIX, NotAHookPush, hook_media_key, hook_push_in, media_name
from relay.media import extension_for
from relay_local.dev.iam_roles import roles, transformed
from relay_local.template import template
from tests.unit.test_iam_roles import BUCKET, resolver

HOOK = {
    "kind": "hook-push",
    "route": "stripe-invoice",
    "push_id": "ab" * 12,
    "delivery_id": "evt_1",
    "number": "447700900123",
    "received_at": "2026-11-29T21:00:00+00:00",
}


def test_given_a_hook_push_body_then_it_is_read_and_an_s3_notification_is_not_one():
    assert hook_push_in(json.dumps(HOOK)).push_id == "ab" * 12
    s3_note = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "b"}, "object": {"key": "outbox/1/a.jpg"}},
            }
        ]
    }
    assert hook_push_in(json.dumps(s3_note)) is None
    assert hook_push_in('{"kind": "something-else", "note": "hook-push"}') is None
    assert hook_push_in('not json "hook-push"') is None


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({**HOOK, "number": None}, "number"),
        ({k: v for k, v in HOOK.items() if k != "push_id"}, "push_id"),
        ({**HOOK, "surprise": 1}, "surprise"),
    ],
)
def test_given_a_body_that_says_hook_push_but_is_not_one_then_it_is_refused_naming_the_field(body, named):
    with pytest.raises(NotAHookPush, match=named):
        hook_push_in(json.dumps(body))


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://files.example.com/invoices/Invoice%2017.pdf?sig=abc", "Invoice_17.pdf"),
        ("https://pay.stripe.com/invoice/acct_1/in_1/pdf?s=ap", "pdf"),
        ("https://cdn.example.com/", "media"),
        ("https://cdn.example.com/..%2F..%2Fetc%2Fpasswd", "etc_passwd"),
        ("https://cdn.example.com/%00%0a.jpg", "jpg"),
        ("https://cdn.example.com/" + "a" * 300 + ".jpeg", "a" * 95 + ".jpeg"),
    ],
)
def test_given_a_media_url_then_its_stored_name_is_the_sanitised_last_segment(url, name):
    assert media_name(url) == name
    assert hook_media_key("p1", url) == f"{HOOK_MEDIA_PREFIX}p1/{name}"


def test_given_a_content_type_then_the_extension_is_the_one_the_media_rules_serve_it_as():
    assert extension_for("application/pdf") == "pdf"
    assert extension_for("image/jpeg; charset=binary") == "jpg"
    assert extension_for("application/x-unknown") is None and extension_for(None) is None


def test_given_the_template_then_hook_media_is_not_notified_and_only_ingest_may_write_it():
    bucket = template()["Resources"]["MediaBucket"]["Properties"]
    prefixes = [
        rule["Value"] for conf in bucket["NotificationConfiguration"]["QueueConfigurations"] for rule in conf["Filter"]["S3Key"]["Rules"]
    ]
    assert prefixes == ["outbox/", "manifests/"]
    assert not any(HOOK_MEDIA_PREFIX.startswith(p) for p in prefixes)
    found = roles(transformed(), resolver())
    ingest = found["IngestFunction"]
    assert ingest.allows("s3:PutObject", f"{BUCKET}/hook-media/p1/invoice.pdf")
    assert ingest.allows("s3:AbortMultipartUpload", f"{BUCKET}/hook-media/p1/invoice.pdf")
    assert not ingest.allows("s3:PutObject", f"{BUCKET}/outbox/1/invoice.pdf") and not ingest.allows(
        "s3:PutObject", f"{BUCKET}/media/x.pdf"
    )
    assert not found["SenderFunction"].allows("s3:PutObject", f"{BUCKET}/hook-media/p1/invoice.pdf")


def test_given_the_template_then_ingest_has_the_api_media_prefixes_of_the_api():
    resources = template()["Resources"]
    env = {name: resources[name]["Properties"].get("Environment", {}).get("Variables", {}) for name in ("ApiFunction", "IngestFunction")}
    assert env["IngestFunction"]["API_MEDIA_PREFIXES"] == env["ApiFunction"]["API_MEDIA_PREFIXES"]

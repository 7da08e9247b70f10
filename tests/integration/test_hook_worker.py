"""Webhooks' pushes on the IngestQueue (issue 12, items 2 and 3): a HookPush, put on the queue as
ApiFunction puts it (boto3 send_message), is planned by IngestFunction like a POST /pushes, over
real HTTP (moto server, the relay's API, the Push API stand-in).

The download itself is relay.safe_fetch's (its own tests); here a stand-in fetcher with the same
interface (`fetch_to_bucket(url, allowed_hosts, bucket, key, s3, max_bytes, deadline_seconds)`)
writes the bytes with the function's own S3 client, so IngestFunction's role (s3:PutObject on
hook-media/*) is checked as on AWS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from relay.hook_models import HookPush, TemplateMapping
from relay.ledger import Ledger
from relay.safe_fetch import FetchResult
from relay_local.dev.ledger_reads import scan_all
from relay_local.dev.serve import ApiServer
from tests.integration.test_api import get_status

pytestmark = pytest.mark.integration

INVOICE_URL = "https://files.example.com/invoices/in_1/pdf"


@dataclass
class FakeFetch:
    """Serves `files` (url → (bytes, content type)); `refusals` (url → [(reason, transient), …]) are
    answered first, one per call. Records every call."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    refusals: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(
        self, url: str, allowed_hosts: list[str], bucket: str, key: str, s3: Any, max_bytes: int, deadline_seconds: float
    ) -> FetchResult:
        self.calls.append({"url": url, "allowed_hosts": allowed_hosts, "key": key, "max_bytes": max_bytes})
        if self.refusals.get(url):
            reason, transient = self.refusals[url].pop(0)
            return FetchResult(bucket, key, refused=reason, transient=transient)
        if httpx.URL(url).host not in allowed_hosts:
            return FetchResult(bucket, key, refused="host is not allowed")
        body, content_type = self.files[url]
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        return FetchResult(bucket, key, version_id=put.get("VersionId"), size=len(body), content_type=content_type)


@pytest.fixture
def standin_options() -> dict:
    """The stand-in approves the template the template test sends."""
    from relay_local.dev.standin_templates import StandInTemplate

    return {"templates": [StandInTemplate("INV1", kind="document", variables=2, languages=("en",))]}


@pytest.fixture
def fetcher(monkeypatch) -> FakeFetch:
    fake = FakeFetch()
    monkeypatch.setattr("relay.safe_fetch.fetch_to_bucket", fake)  # what relay.wiring builds the planner with
    return fake


@pytest.fixture
def http(relay) -> Iterator[httpx.Client]:
    with ApiServer(relay) as server, httpx.Client(base_url=server.url, timeout=20) as client:
        yield client


def hook_push(push_id: str, number: str = "447700900501", **fields: Any) -> HookPush:
    return HookPush(
        route="stripe-invoice",
        push_id=push_id,
        delivery_id=f"evt_{push_id}",
        number=number,
        received_at="2026-11-29T21:00:00+00:00",
        **fields,
    )


def enqueue(relay, hook: HookPush | str) -> None:
    """As ApiFunction does: the HookPush as JSON on the IngestQueue."""
    body = hook if isinstance(hook, str) else hook.model_dump_json()
    relay.client("sqs").send_message(QueueUrl=relay.stack.ref("IngestQueue"), MessageBody=body)


def recipients(relay) -> list[dict]:
    return [i for i in scan_all(Ledger(relay.client("dynamodb"), relay.table)) if i.get("kind") == "recipient"]


def media_url_sent(body: dict) -> str:
    return body.get("globalmedia") or body["data"][0]["media"]


def with_media(relay) -> list:
    """The requests that carried media (a document's message goes as a text of its own)."""
    return [r for r in relay.api.requests if r.body.get("globalmedia") or any("media" in d for d in r.body["data"])]


def test_given_a_hook_push_with_a_media_url_when_queued_then_the_downloaded_file_is_sent_presigned_and_visible_by_push_id(
    relay, fetcher, http, sample
):
    # Given Stripe's invoice PDF at a URL whose path has no extension (the host says application/pdf)
    fetcher.files[INVOICE_URL] = (sample("invoice.pdf"), "application/pdf")
    hook = hook_push("a1" * 12, message="Your invoice", media_url=INVOICE_URL, media_hosts=["files.example.com"], reference="in_1")
    # When ApiFunction queues the push and the relay runs
    enqueue(relay, hook)
    assert relay.run_until_idle(timeout=60)
    # Then it was downloaded once, under hook-media/<push id>/, with the document limit as the cap
    [call] = fetcher.calls
    assert call["key"] == f"hook-media/{hook.push_id}/pdf" and call["allowed_hosts"] == ["files.example.com"]
    assert call["max_bytes"] == 100_000_000
    # and the stand-in got one request whose media is a presigned URL of that object, with its bytes
    [req] = with_media(relay)
    url = media_url_sent(req.body)
    assert f"/hook-media/{hook.push_id}/pdf" in url and "X-Amz-Signature=" in url
    got = httpx.get(url, timeout=10)
    assert got.content == sample("invoice.pdf") and got.headers["content-type"] == "application/pdf"
    # named for the customer by the push's reference, not the URL's bare last segment (`pdf.pdf`)
    assert 'filename="in_1.pdf"' in got.headers.get("content-disposition", "")
    assert req.body["data"][0]["number"] == "447700900501"
    # and GET /pushes/{push_id} answers for it as for an API push (the document, and its message as a text)
    status = get_status(http, hook.push_id)
    assert status.status_code == 200, status.text
    rows = status.json()["recipients"]
    [row] = [r for r in rows if r.get("media")]
    assert row["state"] == "accepted" and row["reference"] == "in_1" and row["media"] == f"hook-media/{hook.push_id}/pdf"
    assert {r["state"] for r in rows} == {"accepted"} and {r["number"] for r in rows} == {"447700900501"}


def test_given_the_same_hook_push_twice_when_queued_in_one_batch_and_again_later_then_it_is_planned_downloaded_and_sent_once(
    relay, fetcher, sample
):
    fetcher.files[INVOICE_URL] = (sample("invoice.pdf"), "application/pdf")
    hook = hook_push("b2" * 12, media_url=INVOICE_URL, media_hosts=["files.example.com"])
    # Given SQS delivering the push twice in one batch
    enqueue(relay, hook)
    enqueue(relay, hook)
    assert relay.run_until_idle(timeout=60)
    # When it arrives a third time, later
    enqueue(relay, hook)
    assert relay.run_until_idle(timeout=60)
    # Then one download, one recipient, one request
    assert len(fetcher.calls) == 1
    assert len(recipients(relay)) == 1
    assert len(relay.api.requests) == 1


def test_given_a_hook_push_with_a_media_key_when_queued_then_the_object_is_sent_and_a_key_outside_the_prefixes_is_rejected(
    relay, fetcher, http, sample
):
    relay.client("s3").put_object(Bucket=relay.bucket, Key="media/photo.jpg", Body=sample("photo.jpg"))
    relay.client("s3").put_object(Bucket=relay.bucket, Key="private/photo.jpg", Body=sample("photo.jpg"))
    # Given one push naming media/photo.jpg and one naming an object outside API_MEDIA_PREFIXES
    good = hook_push("c3" * 12, message="Your photo", media_key="media/photo.jpg")
    outside = hook_push("d4" * 12, number="447700900502", message="Your photo", media_key="private/photo.jpg")
    enqueue(relay, good)
    enqueue(relay, outside)
    # When the relay runs
    assert relay.run_until_idle(timeout=60)
    # Then the first is sent with a presigned URL of that object; nothing was downloaded
    [req] = relay.api.requests
    assert req.body["data"][0]["number"] == "447700900501"
    assert httpx.get(media_url_sent(req.body), timeout=10).content == sample("photo.jpg")
    assert fetcher.calls == []
    # and the second is rejected with the API's reason (the same for a missing key)
    [row] = get_status(http, outside.push_id).json()["recipients"]
    assert row["state"] == "rejected" and "media keys must name an existing object under media/" in row["reason"]


def test_given_a_hook_push_with_a_template_when_queued_then_the_template_goes_with_its_filled_values(relay, fetcher, sample):
    relay.client("s3").put_object(Bucket=relay.bucket, Key="media/invoice.pdf", Body=sample("invoice.pdf"))
    # Given a push whose route filled the template values and header from the event
    template = TemplateMapping(id="INV1", language="en", values=["Ana", "9.50"], header="Invoice 17.pdf", session="template")
    enqueue(relay, hook_push("e5" * 12, message="Your invoice", media_key="media/invoice.pdf", template=template))
    # When the relay runs
    assert relay.run_until_idle(timeout=60)
    # Then the request is the template, its values, header name and the PDF as its header media
    [req] = relay.api.requests
    body = req.body
    assert body["template_id"] == "INV1" and body["language"] == "en"
    assert body["template_globalmessage"] == ["Ana", "9.50"] and body["template_header"] == "Invoice 17.pdf"
    assert httpx.get(media_url_sent(body), timeout=10).content == sample("invoice.pdf")


def test_given_a_refused_download_when_queued_then_the_recipient_is_rejected_with_the_reason_and_nothing_is_sent(relay, fetcher, http):
    # Given a media URL on a host the route does not allow, and one the fetcher refuses for its address
    other = hook_push("f6" * 12, media_url="https://evil.example.net/x.pdf", media_hosts=["files.example.com"])
    private = hook_push("a7" * 12, number="447700900502", media_url="https://files.example.com/y.pdf", media_hosts=["files.example.com"])
    fetcher.refusals[private.media_url] = [("files.example.com resolves to a private address (10.0.0.7)", False)]
    enqueue(relay, other)
    enqueue(relay, private)
    # When the relay runs
    assert relay.run_until_idle(timeout=60)
    # Then nothing is sent and both recipients are rejected with the reason, kept in the ledger
    assert relay.api.requests == []
    [row] = get_status(http, other.push_id).json()["recipients"]
    assert row["state"] == "rejected"
    assert row["reason"] == f"media 'hook-media/{other.push_id}/x.pdf': media url refused (evil.example.net): host is not allowed"
    [row] = get_status(http, private.push_id).json()["recipients"]
    assert row["reason"].endswith("media url refused (files.example.com): files.example.com resolves to a private address (10.0.0.7)")
    assert row["number"] == "447700900502"


def short_visibility(relay, seconds: int = 1) -> None:
    """A failed record comes back after its visibility timeout: make that quick for the test."""
    relay.client("sqs").set_queue_attributes(QueueUrl=relay.stack.ref("IngestQueue"), Attributes={"VisibilityTimeout": str(seconds)})


def test_given_a_media_host_failing_twice_when_queued_then_the_redelivery_downloads_and_sends_it(relay, fetcher, sample):
    short_visibility(relay)
    fetcher.files[INVOICE_URL] = (sample("invoice.pdf"), "application/pdf")
    fetcher.refusals[INVOICE_URL] = [("the media host answered 503", True), ("timed out after 30 s", True)]
    # Given a push whose media host fails twice (retryable), then answers
    enqueue(relay, hook_push("b8" * 12, media_url=INVOICE_URL, media_hosts=["files.example.com"]))
    # When the relay runs (SQS redelivers the failed record)
    assert relay.run_until_idle(timeout=120)
    # Then the third try downloads it and it is sent once
    assert len(fetcher.calls) == 3
    [req] = relay.api.requests
    assert httpx.get(media_url_sent(req.body), timeout=10).content == sample("invoice.pdf")
    [row] = recipients(relay)
    assert row["state"] == "accepted"


def test_given_a_media_host_failing_every_time_when_queued_then_the_third_try_rejects_the_recipient(relay, fetcher, http):
    short_visibility(relay)
    hook = hook_push("c9" * 12, media_url=INVOICE_URL, media_hosts=["files.example.com"])
    fetcher.refusals[INVOICE_URL] = [("the media host answered 503", True)] * 5
    enqueue(relay, hook)
    # When the relay runs
    assert relay.run_until_idle(timeout=120)
    # Then it was tried three times and the recipient is rejected with the last reason, not dead-lettered
    assert len(fetcher.calls) == 3
    [row] = get_status(http, hook.push_id).json()["recipients"]
    assert row["state"] == "rejected"
    assert row["reason"].endswith("media url refused (files.example.com): the media host answered 503 (after 3 tries)")
    dlq = relay.client("sqs").get_queue_attributes(QueueUrl=relay.stack.ref("IngestDeadLetterQueue"), AttributeNames=["All"])
    assert dlq["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_given_a_hook_push_the_api_would_refuse_when_queued_then_the_recipient_is_rejected_naming_the_field(relay, fetcher, http):
    # Given a reference longer than the API takes (128 characters)
    hook = hook_push("d0" * 12, message="hello", reference="r" * 129)
    enqueue(relay, hook)
    assert relay.run_until_idle(timeout=60)
    # Then the one recipient is rejected with the field and nothing is sent
    assert relay.api.requests == []
    [row] = get_status(http, hook.push_id).json()["recipients"]
    assert row["state"] == "rejected" and row["reason"].startswith("reference: ")


def test_given_a_malformed_hook_push_when_ingested_then_it_is_reported_as_a_batch_failure_and_its_neighbour_is_planned(relay, fetcher):
    poller = relay.pollers["IngestFunction"]
    enqueue(relay, '{"kind": "hook-push", "route": "x"}')
    enqueue(relay, hook_push("e1" * 12, message="hello"))
    messages = poller._receive()
    result = relay.invoker.invoke("IngestFunction", poller.event_for(messages))
    bad = [m["MessageId"] for m in messages if '"route": "x"' in m["Body"]]
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == bad
    assert [r["number"] for r in recipients(relay)] == ["447700900501"]


def test_given_too_little_of_the_invocation_left_when_a_download_is_due_then_it_is_not_started_and_the_push_is_redelivered(
    relay, fetcher, monkeypatch, sample
):
    from relay_local.dev.invoker import LocalContext

    short_visibility(relay)
    fetcher.files[INVOICE_URL] = (sample("invoice.pdf"), "application/pdf")
    enqueue(relay, hook_push("f2" * 12, media_url=INVOICE_URL, media_hosts=["files.example.com"]))
    # Given an invocation with 20 s left (less than a download's deadline and the margin)
    with monkeypatch.context() as patch:
        patch.setattr(LocalContext, "get_remaining_time_in_millis", lambda self: 20_000)
        poller = relay.pollers["IngestFunction"]
        messages = poller._receive()
        result = relay.invoker.invoke("IngestFunction", poller.event_for(messages))
    # Then the record fails without a download and nothing is recorded for it
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [m["MessageId"] for m in messages if "hook-push" in m["Body"]]
    assert fetcher.calls == [] and recipients(relay) == []
    # When SQS redelivers it to an invocation with time enough
    assert relay.run_until_idle(timeout=120)
    # Then it is downloaded once and sent
    assert len(fetcher.calls) == 1 and len(relay.api.requests) == 1


def test_given_a_hook_push_whose_mapping_found_no_number_when_queued_then_the_recipient_is_rejected_and_nothing_is_downloaded(
    relay, fetcher, http
):
    # Given the route's number expression found nothing in the event (ApiFunction queues "")
    hook = hook_push("a3" * 12, number="", message="hello", media_url=INVOICE_URL, media_hosts=["files.example.com"])
    enqueue(relay, hook)
    assert relay.run_until_idle(timeout=60)
    # Then the recipient is rejected with the reason, kept by push id, and nothing was sent
    [row] = get_status(http, hook.push_id).json()["recipients"]
    assert row["state"] == "rejected" and "number is missing" in row["reason"]
    assert relay.api.requests == []

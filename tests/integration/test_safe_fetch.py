"""relay.safe_fetch against a real HTTPS server on loopback (throwaway CA) and the embedded S3:
every fetch rule refused with its reason, nothing stored on a refusal, the stored bytes equal the
served ones, and the connection goes to the address that was checked (no second DNS lookup)."""

from __future__ import annotations

import threading
import uuid

import boto3
import pytest

from relay import safe_fetch
from relay.safe_fetch import fetch_to_bucket
from relay_local.dev.iam_actions import Where, needs
from tests.integration.fetch_server import PDF, HttpsFiles, pattern_bytes

pytestmark = pytest.mark.integration

LOOPBACK = ["127.0.0.1/32"]


class CountingResolver:
    """Maps the test names to 127.0.0.1 (or `answers[name]`) and counts every lookup."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers.get(host, ["127.0.0.1"])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    with HttpsFiles(tmp_path_factory.mktemp("tls")) as server:
        yield server


@pytest.fixture(scope="module")
def s3(embedded_aws):
    client = boto3.client("s3", endpoint_url=embedded_aws.endpoint, region_name="us-east-1")
    operations: list[tuple[str, dict]] = []
    client.meta.events.register("before-parameter-build.s3.*", lambda params, model, **_: operations.append((model.name, dict(params))))
    client.operations = operations
    #: the operations of the `fetch` fixture's last fetch_to_bucket
    client.last_fetch = []
    return client


@pytest.fixture(scope="module")
def bucket(s3):
    name = f"fetch-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def fetch(files, s3, bucket):
    """fetch(path, **overrides): fetch https://files.test:<port><path> with the test seams."""

    def run(path: str, **kw):
        kw.setdefault("allowed_hosts", [f"files.test:{files.port}"])
        kw.setdefault("resolver", CountingResolver())
        kw.setdefault("allow_addresses", LOOPBACK)
        kw.setdefault("ssl_context", files.client_context())
        kw.setdefault("key", f"fetched/{uuid.uuid4().hex}")
        url = path if "://" in path else f"https://files.test:{files.port}{path}"
        start = len(s3.operations)
        result = fetch_to_bucket(url, kw.pop("allowed_hosts"), bucket, kw.pop("key"), s3, **kw)
        s3.last_fetch = [name for name, _ in s3.operations[start:]]
        return result

    run.port = files.port
    return run


def stored(s3, bucket, key) -> bool:
    return s3.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] > 0


def test_given_an_allowed_host_when_a_file_is_fetched_then_the_stored_bytes_and_type_are_as_served(fetch, s3, bucket):
    # Given a resolver that counts lookups; When a PDF is fetched
    resolver = CountingResolver()
    result = fetch("/file.pdf", resolver=resolver)
    # Then it is stored byte for byte, with the served content type, as a version of the object
    assert result.ok and not result.transient
    got = s3.get_object(Bucket=bucket, Key=result.key)
    assert got["Body"].read() == PDF
    assert (result.size, result.content_type, got["ContentType"]) == (len(PDF), "application/pdf", "application/pdf")
    assert result.version_id and result.version_id == got["VersionId"]
    assert resolver.calls == ["files.test"]


def test_given_no_content_type_served_then_none_is_reported(fetch, s3, bucket):
    result = fetch("/untyped")
    assert result.ok and result.content_type is None
    assert s3.get_object(Bucket=bucket, Key=result.key)["Body"].read() == b"abc"


def test_given_the_checked_address_when_connecting_then_host_header_and_sni_are_the_name(fetch, files):
    # Given nothing but the test resolver knows files.test (the system resolver cannot resolve it)
    before = len(files.seen.sni)
    # When fetched, Then the server saw the name in SNI and in the Host header (and the certificate
    # was checked against the name: ssl_context verifies it)
    assert fetch("/file.pdf?n=host").ok
    assert "files.test" in files.seen.sni[before:]
    assert ("/file.pdf?n=host", f"files.test:{files.port}") in files.seen.requests


def test_given_dns_that_rebinds_after_the_check_when_redirected_on_the_same_host_then_no_second_lookup(fetch, s3, bucket):
    # Given a resolver whose first answer is the (allowed) server and every later one a private address
    class Rebinding(CountingResolver):
        def __call__(self, host, port):
            self.calls.append(host)
            return ["127.0.0.1"] if len(self.calls) == 1 else ["10.0.0.1"]

    resolver = Rebinding()
    # When a chain of 3 redirects on the same host is followed
    result = fetch("/chain/3", resolver=resolver)
    # Then the file came from the checked address, looked up once
    assert result.ok, result.refused
    assert s3.get_object(Bucket=bucket, Key=result.key)["Body"].read() == PDF
    assert resolver.calls == ["files.test"]


def test_given_an_internationalised_host_then_it_is_allowed_resolved_and_connected_by_its_ascii_name(fetch, files):
    # Given a route allowing bücher.test (whose certificate names xn--bcher-kva.test)
    resolver = CountingResolver()
    result = fetch(f"https://bücher.test:{files.port}/file.pdf", allowed_hosts=[f"bücher.test:{files.port}"], resolver=resolver)
    # Then it is fetched, looked up once by the name the connection uses
    assert result.ok, result.refused
    assert resolver.calls == ["xn--bcher-kva.test"]


def test_given_a_redirect_to_a_host_not_allowed_then_refused_and_nothing_stored(fetch, files, s3, bucket):
    result = fetch("/redirect-evil")
    assert not result.ok and not result.transient
    assert f"host evil.test:{files.port} is not in the route's allowed hosts" in result.refused
    assert not stored(s3, bucket, result.key)


def test_given_a_wildcard_entry_then_a_redirect_below_it_is_followed_and_each_host_resolved_once(fetch, files):
    resolver = CountingResolver()
    result = fetch("/to-cdn", allowed_hosts=[f"files.test:{files.port}", f"*.cdn.test:{files.port}"], resolver=resolver)
    assert result.ok, result.refused
    assert resolver.calls == ["files.test", "a.cdn.test"]


def test_given_three_redirects_then_followed_and_given_four_then_refused(fetch, s3, bucket):
    assert fetch("/chain/3").ok
    result = fetch("/chain/4")
    assert result.refused and "more than 3 redirects" in result.refused and not result.transient
    assert not stored(s3, bucket, result.key)


def test_given_a_redirect_to_http_then_refused(fetch, files):
    result = fetch("/to-http")
    assert result.refused == f"media URL http://files.test:{files.port}/file.pdf is not https (only https is fetched)"


def test_given_a_content_length_over_the_cap_then_refused_before_the_body(fetch, s3, bucket):
    result = fetch("/huge-length")
    assert result.refused and f"the file is {10**12} bytes, over the {safe_fetch.DEFAULT_MAX_BYTES}-byte limit" in result.refused
    assert not result.transient and not stored(s3, bucket, result.key)


def test_given_a_chunked_body_over_the_cap_then_it_is_cut_and_refused(fetch, s3, bucket):
    result = fetch("/big/5000", max_bytes=1000)
    assert result.refused and "over the 1000-byte limit" in result.refused
    assert not stored(s3, bucket, result.key)


def test_given_a_body_over_one_part_then_it_is_stored_by_multipart_upload_byte_for_byte(fetch, s3, bucket):
    # Given a chunked body of one part and a bit (no Content-Length)
    size = safe_fetch.PART_BYTES + 1_000_003
    result = fetch(f"/big/{size}")
    # Then stored in parts, and the object is the served bytes
    assert result.ok and result.size == size and result.content_type == "application/octet-stream"
    assert s3.get_object(Bucket=bucket, Key=result.key)["Body"].read() == pattern_bytes(0, size)
    assert s3.last_fetch == ["CreateMultipartUpload", "UploadPart", "UploadPart", "CompleteMultipartUpload"]


def test_given_a_multipart_body_over_the_cap_then_the_upload_is_aborted_and_nothing_stored(fetch, s3, bucket):
    result = fetch(f"/big/{safe_fetch.PART_BYTES * 2}", max_bytes=safe_fetch.PART_BYTES + 10)
    assert result.refused and "over the" in result.refused
    assert s3.last_fetch == ["CreateMultipartUpload", "UploadPart", "AbortMultipartUpload"]
    assert not stored(s3, bucket, result.key)
    assert not s3.list_multipart_uploads(Bucket=bucket, Prefix=result.key).get("Uploads")


def test_given_the_s3_operations_of_a_fetch_then_each_has_an_iam_rule(fetch, s3):
    # Given fetches that store in one put, in parts, and abort their parts
    made = []
    for path, cap in (
        ("/file.pdf", None),
        (f"/big/{safe_fetch.PART_BYTES + 20}", None),
        (f"/big/{safe_fetch.PART_BYTES + 20}", safe_fetch.PART_BYTES + 10),
    ):
        start = len(s3.operations)
        fetch(path, **({"max_bytes": cap} if cap else {}))
        made += s3.operations[start:]
    # Then each operation maps to IAM actions (relay_local.dev.iam_actions refuses an unmapped one)
    assert {name for name, _ in made} == {
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    }
    where = Where(region="us-east-1", account="123456789012")
    actions = {need.action for name, params in made for need in needs("s3", name, params, where)}
    assert actions == {"s3:PutObject", "s3:AbortMultipartUpload"}


def test_given_a_body_trickled_past_the_deadline_then_transient(fetch, s3, bucket):
    result = fetch("/slow", deadline_seconds=1.0)
    assert result.transient and result.refused and "deadline passed" in result.refused
    assert not stored(s3, bucket, result.key)


def test_given_a_resolver_slower_than_the_deadline_then_transient_without_waiting_for_it(fetch):
    # Given a resolver that answers only when released
    release = threading.Event()

    def stuck(host, port):
        release.wait(30)
        return ["127.0.0.1"]

    try:
        # When fetched with a short deadline, Then the fetch ends as transient while the lookup hangs
        result = fetch("/file.pdf", resolver=stuck, deadline_seconds=0.5)
        assert (
            result.transient
            and result.refused == f"media URL https://files.test:{fetch.port}/file.pdf: the fetch's deadline passed (resolving files.test)"
        )
        assert not release.is_set()
    finally:
        release.set()


def test_given_two_checked_addresses_when_the_first_refuses_connections_then_the_second_is_used(fetch, s3, bucket):
    # Given files.test resolving to 127.0.0.2 (nothing listens there) and then 127.0.0.1
    resolver = CountingResolver({"files.test": ["127.0.0.2", "127.0.0.1"]})
    result = fetch("/file.pdf", resolver=resolver, allow_addresses=["127.0.0.0/8"])
    assert result.ok, result.refused
    assert s3.get_object(Bucket=bucket, Key=result.key)["Body"].read() == PDF
    assert resolver.calls == ["files.test"]


def test_given_a_500_then_transient_and_given_a_404_then_refused_without_the_query(fetch, files):
    failed = fetch("/500")
    assert failed.transient and failed.refused == f"media URL https://files.test:{files.port}/500: the host answered 500"
    missing = fetch("/nothing.pdf?token=s3cr3t#frag")
    assert not missing.transient and missing.refused == f"media URL https://files.test:{files.port}/nothing.pdf: the host answered 404"


def test_given_a_certificate_from_an_untrusted_ca_then_refused(fetch):
    # Given the default trust store (no test CA): When fetched, Then the TLS check refuses
    result = fetch("/file.pdf", ssl_context=None)
    assert result.refused and "TLS certificate" in result.refused and not result.transient


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("192.168.1.1", "a private address"),
        ("172.16.0.1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("100.64.0.1", "a shared (CGNAT) address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a private address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("ff02::1", "a multicast address"),
        ("::ffff:127.0.0.1", "a loopback address (in an IPv6 form)"),
        ("::ffff:169.254.169.254", "a cloud metadata address (in an IPv6 form)"),
        ("::ffff:10.0.0.1", "a private address (in an IPv6 form)"),
        ("2002:7f00:1::1", "a loopback address (in an IPv6 form)"),
        ("64:ff9b::a00:1", "a private address (in an IPv6 form)"),
    ],
)
def test_given_the_default_rules_when_the_host_resolves_to_a_forbidden_address_then_refused_before_connecting(
    files, bucket, address, category
):
    # Given the default path (no allow_addresses, no test CA), a host name resolving to `address`,
    # and an S3 client that must not be called
    resolver = CountingResolver({"files.example": [address]})
    result = fetch_to_bucket("https://files.example/a.pdf", ["files.example"], bucket, "k", s3=None, resolver=resolver)
    # Then refused with the category, for good
    assert result.refused == f"media URL https://files.example/a.pdf: host files.example resolves to {category}, which is never fetched"
    assert not result.transient


def test_given_one_public_and_one_private_address_then_refused(bucket):
    resolver = CountingResolver({"files.example": ["93.184.216.34", "10.0.0.1"]})
    result = fetch_to_bucket("https://files.example/a.pdf", ["files.example"], bucket, "k", s3=None, resolver=resolver)
    assert result.refused and "a private address" in result.refused


def test_given_the_real_resolver_and_localhost_allowed_then_loopback_is_refused(bucket):
    result = fetch_to_bucket("https://localhost/a.pdf", ["localhost"], bucket, "k", s3=None)
    assert result.refused and "host localhost resolves to a loopback address" in result.refused


def test_given_an_ip_literal_url_then_it_is_checked_like_a_resolved_address(bucket):
    for url, allowed in (("https://127.0.0.1/a.pdf", "127.0.0.1"), ("https://[::1]/a.pdf", "::1")):
        result = fetch_to_bucket(url, [allowed], bucket, "k", s3=None, resolver=CountingResolver())
        assert result.refused and "loopback" in result.refused


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://files.example/a.pdf", "media URL http://files.example/a.pdf is not https (only https is fetched)"),
        ("ftp://files.example/a.pdf", "media URL ftp://files.example/a.pdf is not https (only https is fetched)"),
        (
            "https://user:pw@files.example/a.pdf",
            "media URL https://files.example/a.pdf carries credentials (user:password@), which are not allowed",
        ),
        (
            "https://files.example.evil.com/a.pdf?k=1",
            "media URL https://files.example.evil.com/a.pdf: host files.example.evil.com:443 is not in the route's allowed hosts",
        ),
        (
            "https://files.example:8443/a.pdf",
            "media URL https://files.example:8443/a.pdf: host files.example:8443 is not in the route's allowed hosts",
        ),
        ("https:///a.pdf", "media URL https:///a.pdf has no host"),
        (
            "https://files.example\\@evil.com/a.pdf",
            "media URL https://evil.com/a.pdf carries credentials (user:password@), which are not allowed",
        ),
        ("https://[::1/a.pdf", "media URL (an unparsable URL) is not a valid URL"),
    ],
)
def test_given_a_url_breaking_a_rule_then_refused_naming_the_rule_without_resolving(bucket, url, reason):
    resolver = CountingResolver()
    result = fetch_to_bucket(url, ["files.example"], bucket, "k", s3=None, resolver=resolver)
    assert result.refused == reason and not result.transient
    assert resolver.calls == []
    assert "pw" not in result.refused and "k=1" not in result.refused


# -- the local-only connection override (RELAY_LOCAL_FETCH_HOSTS; `relay serve`'s media host) ---------
def local_fetcher(files, **env):
    """The fetcher relay.wiring builds for a function environment (plus the bucket settings)."""
    from relay.settings import load_settings
    from relay.wiring import Container

    return Container(load_settings({"MEDIA_BUCKET": "bucket", "PUSH_LOG_TABLE": "table", **env})).media_fetcher


def test_given_the_local_fetch_variables_when_a_mapped_host_is_fetched_then_it_reaches_the_local_server_by_its_name(files, s3, bucket):
    # Given the function environment maps files.test (port 443 in the URL) to the loopback server
    fetcher = local_fetcher(files, RELAY_LOCAL_FETCH_HOSTS=f"files.test=127.0.0.1:{files.port}", RELAY_LOCAL_FETCH_CA=str(files.ca))
    before = len(files.seen.sni)
    resolver = CountingResolver()
    # When the route allows files.test (port 443) and the file is fetched
    result = fetcher(
        url="https://files.test/file.pdf?n=mapped", allowed_hosts=["files.test"], bucket=bucket, key="mapped/f", s3=s3, resolver=resolver
    )
    # Then it is stored from the local server, which saw the name in SNI and Host; nothing was resolved
    assert result.ok, result.refused
    assert s3.get_object(Bucket=bucket, Key="mapped/f")["Body"].read() == PDF
    assert "files.test" in files.seen.sni[before:]
    assert ("/file.pdf?n=mapped", "files.test") in files.seen.requests
    assert resolver.calls == []


def test_given_no_local_fetch_variables_then_the_fetcher_is_the_plain_one_and_a_loopback_host_is_refused(files, s3, bucket):
    # Given a function environment without RELAY_LOCAL_FETCH_HOSTS (as template.yaml deploys it)
    fetcher = local_fetcher(files)
    assert fetcher is fetch_to_bucket
    # When the host that the local run maps resolves to loopback, Then it is refused as before
    result = fetcher(
        url="https://files.test/file.pdf",
        allowed_hosts=["files.test"],
        bucket=bucket,
        key="unmapped/f",
        s3=s3,
        resolver=CountingResolver(),
        ssl_context=files.client_context(),
    )
    assert result.refused == "media URL https://files.test/file.pdf: host files.test resolves to a loopback address, which is never fetched"
    assert not stored(s3, bucket, "unmapped/f")


def test_given_a_mapped_host_then_the_allowed_hosts_rule_still_applies(files, s3, bucket):
    result = fetch_to_bucket(
        "https://files.test/file.pdf",
        ["other.test"],
        bucket,
        "mapped/not-allowed",
        s3,
        connect_to={"files.test": ("127.0.0.1", files.port)},
    )
    assert result.refused == "media URL https://files.test/file.pdf: host files.test:443 is not in the route's allowed hosts"


def test_given_a_mapped_host_when_it_redirects_to_an_unmapped_loopback_host_then_that_hop_is_refused(files, s3, bucket):
    # Given files.test is mapped, evil.test is allowed but not mapped and resolves to loopback
    result = fetch_to_bucket(
        "https://files.test/redirect-evil",
        ["files.test", f"evil.test:{files.port}"],
        bucket,
        "mapped/redirect",
        s3,
        resolver=CountingResolver(),
        ssl_context=files.client_context(),
        connect_to={"files.test": ("127.0.0.1", files.port)},
    )
    # Then the waiver was for files.test alone: the redirect's host is refused by the address rule
    assert (
        result.refused
        == f"media URL https://evil.test:{files.port}/file.pdf: host evil.test resolves to a loopback address, which is never fetched"
    )
    assert not stored(s3, bucket, "mapped/redirect")

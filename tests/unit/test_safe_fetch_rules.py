"""relay.safe_fetch's pure rules: the allowed-hosts match (exact, wildcard, port), the address
categories, and the URL as reasons show it (no userinfo, query or fragment)."""

from __future__ import annotations

import ipaddress

import pytest

from relay.safe_fetch import DEFAULT_MAX_BYTES, FetchResult, address_problem, host_allowed, safe_url


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("files.example.com", 443, True),
        ("FILES.Example.COM", 443, True),
        ("files.example.com.", 443, True),
        ("files.example.com", 8443, False),
        ("example.com", 443, False),
        ("evilfiles.example.com", 443, False),
        ("files.example.com.evil.net", 443, False),
        ("a.cdn.example.com", 443, True),
        ("a.b.cdn.example.com", 443, True),
        ("cdn.example.com", 443, False),
        ("xcdn.example.com", 443, False),
        ("a.cdn.example.com", 8443, False),
        ("uploads.example.org", 8443, True),
        ("uploads.example.org", 443, False),
        ("::1", 443, True),
    ],
)
def test_given_allowed_hosts_then_the_match_is_exact_case_insensitive_and_port_bound(host, port, allowed):
    entries = ["Files.Example.com", "*.cdn.example.com", "uploads.example.org:8443", "[::1]"]
    assert host_allowed(host, port, entries) is allowed


def test_given_an_empty_allow_list_then_nothing_is_allowed():
    assert not host_allowed("files.example.com", 443, [])


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34", "2002:5db8:d822::1"])
def test_given_a_public_unicast_address_then_no_problem(address):
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@files.example.com/a/b.pdf?X-Amz-Signature=abc#f", "https://files.example.com/…/b.pdf"),
        ("https://files.example.com:8443/a.pdf?token=1", "https://files.example.com:8443/a.pdf"),
        ("https://[::1]/a.pdf", "https://[::1]/a.pdf"),
        ("https://[::1/a", "(an unparsable URL)"),
        ("https://bücher.example/ä.pdf?x=1", "https://bücher.example/%C3%A4.pdf"),
    ],
)
def test_given_a_url_then_reasons_show_only_scheme_host_port_and_the_last_path_segment(url, shown):
    assert safe_url(url) == shown


def test_given_a_stripe_invoice_url_then_its_reason_shows_neither_the_account_nor_the_invoice_token():
    # Given Stripe's invoice PDF link: the account id and a token-like invoice id in its path
    url = "https://pay.stripe.com/invoice/acct_1PzLocalRelay00001/test_YWNjdF8xUHpMb2NhbFJlbGF5MDAwMDEsX1JlbGF5SW52b2ljZTAwNDI/pdf?s=ap"
    # When a reason shows it, Then only the host and the last segment remain
    assert safe_url(url) == "https://pay.stripe.com/…/pdf"
    # And a long last segment is cut to 40 characters
    long_name = "x" * 60 + ".pdf"
    assert safe_url(f"https://files.example.com/{long_name}") == "https://files.example.com/" + "x" * 39 + "…"


def test_given_the_media_limits_then_the_default_cap_is_the_largest_a_100_mb_document():
    assert DEFAULT_MAX_BYTES == 100_000_000


def test_given_a_result_then_ok_means_not_refused():
    assert FetchResult("b", "k", size=1).ok
    assert not FetchResult("b", "k", refused="x", transient=True).ok


def test_given_template_yaml_then_it_never_sets_a_local_only_variable():
    # RELAY_LOCAL_FETCH_HOSTS/RELAY_LOCAL_FETCH_CA send named hosts to a local server: local runs only
    from pathlib import Path

    template = (Path(__file__).resolve().parents[2] / "template.yaml").read_text()
    assert "RELAY_LOCAL_" not in template


def test_given_relay_local_fetch_hosts_then_it_parses_to_name_address_port():
    from relay.safe_fetch import parse_connect_to

    assert parse_connect_to("pay.stripe.com=127.0.0.1:8443, Files.Example.com.=127.0.0.1:9") == {
        "pay.stripe.com": ("127.0.0.1", 8443),
        "files.example.com": ("127.0.0.1", 9),
    }
    for bad in ("pay.stripe.com", "pay.stripe.com=127.0.0.1", "pay.stripe.com=localhost:443", "=127.0.0.1:1"):
        with pytest.raises(ValueError, match="RELAY_LOCAL_FETCH_HOSTS entry"):
            parse_connect_to(bad)

"""Download a media URL named by a webhook into the bucket, without letting the URL reach anything
it should not (SSRF): `fetch_to_bucket`.

Rules (each refusal is a `FetchResult.refused` reason naming the rule; reasons show the URL only as
scheme://host[:port]/…/<last path segment, at most 40 characters> (`safe_url`), never its userinfo,
inner path, query or fragment: a sender's file URL may carry a capability, e.g. Stripe's invoice
links):

- only `https`; no userinfo (`user:pass@`) in the URL;
- the host must be in the route's `allowed_hosts`: an entry is an exact host name, compared
  case-insensitively (a trailing dot ignored), or `*.example.com`, which allows every name BELOW
  example.com at any depth (a.example.com, a.b.example.com) but not example.com itself. A plain
  entry allows port 443 only; `host:8443` (or `*.example.com:8443`) allows that port;
- the relay resolves the host itself and refuses it when ANY of its addresses is not a public
  unicast address: private, loopback, link-local, multicast, reserved, unspecified, CGNAT
  (100.64.0.0/10), cloud metadata (169.254.169.254, fd00:ec2::254), or an IPv6 form embedding such
  an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, 6to4, Teredo, NAT64 64:ff9b::/96);
- it then connects to a CHECKED address (IPv4 ones first; the next one when a connection fails)
  while sending the URL's host name as the Host header and TLS SNI, and verifying the certificate
  against that name: there is no second DNS lookup between the check and the connection (DNS
  rebinding), and no proxy (`trust_env=False`). URLs are parsed by httpx, the parser that makes
  the request; internationalised names are checked, resolved and pinned by their ASCII (IDNA) form;
  an IP-literal host must itself be allowed and is checked like a resolved address;
- redirects are followed by hand, at most `MAX_REDIRECTS` (3), each hop checked again by every rule
  above (a host is resolved once per fetch; a later hop to the same host uses the same address);
- size: a Content-Length over `max_bytes` is refused before the body is read; a body without one is
  counted as it streams and refused at the first byte over `max_bytes`. The default cap is the
  largest media limit (relay.media.LIMITS: a 100 MB document); the media check that follows applies
  the kind's own limit;
- a total deadline (`deadline_seconds`, default 60 s) over resolution (run in a small thread pool
  and abandoned at the deadline), connect, TLS, every read of the answer and the storing in between
  (relay.vendor_http's per-socket-operation deadline); past it the fetch ends as `transient`;
- only a 200 answer is stored. A timeout, a connection failure, a 5xx or a 429 is `transient` (the
  caller may try again later); any other status is refused.

Storing: the body streams into S3 in parts of `PART_BYTES` (8 MiB): a body that fits one part is a
single PutObject; a larger one a multipart upload (CreateMultipartUpload, UploadPart,
CompleteMultipartUpload; AbortMultipartUpload when the fetch is refused or fails half-way), so at
most one part is held in memory and /tmp is not used. Nothing is visible in the bucket unless the
whole body arrived within the rules. The object keeps the Content-Type as served (none when none
was served). S3 errors are raised, not turned into a refusal: the caller retries the message.

Test seams (keyword-only; the Lambda code path never passes them): `resolver` (host name, port ->
addresses), `allow_addresses` (networks exempted from the address rule, e.g. 127.0.0.1/32 for a
loopback test server) and `ssl_context` (trusting a test CA). Without them, loopback is refused.

Local only: `connect_to` (host name -> (address, port)) sends a named host to a local HTTPS server
(`relay serve`'s and the demo's stand-in for pay.stripe.com, relay_local/dev/media_host.py). It is
passed only when the function environment sets RELAY_LOCAL_FETCH_HOSTS (`pay.stripe.com=127.0.0.1:
PORT,…`, read by relay.wiring; `parse_connect_to`), which template.yaml never sets (a test holds
it), like PICKY_TOKEN. For a mapped host alone: no DNS lookup and no address rule (the mapped address
is connected to as given), and the connection goes to the mapped port; the URL's host name stays the
Host header, the SNI and the name the certificate must carry, and every other rule (https, the route's
allowed hosts and their port, redirects, size, deadline) applies unchanged. RELAY_LOCAL_FETCH_CA (a
PEM CA file) is trusted IN ADDITION to the default store (`local_ssl_context`), so a local run can
still fetch from real hosts when it has a network.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from relay.media import LIMITS
from relay.vendor_http import _DeadlineBackend, deadline

#: the largest media limit (a document, 100 MB): nothing bigger can be sent anyway
DEFAULT_MAX_BYTES: int = max(LIMITS.values())
#: IngestFunction's timeout is 300 s; a 100 MB document at ~2 MB/s fits in 60 s
DEFAULT_DEADLINE_SECONDS: float = 60.0
MAX_REDIRECTS: int = 3
#: S3 part size for bodies over one part (S3's minimum part is 5 MiB); 100 MB is 12 parts
PART_BYTES: int = 8 * 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

#: DNS lookups run here so that a slow resolver cannot outlast the fetch's deadline (a lookup past
#: it is abandoned; it ends on its own with the resolver's timeout)
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="safe-fetch-dns")


@dataclass(frozen=True)
class FetchResult:
    """Where the fetched object was (to be) stored, and how it went: stored (`ok`: `refused` is None,
    `size`/`content_type`/`version_id` describe the object), refused for good (`refused` says which
    rule; fit for a ledger `rejected` entry), or failed for now (`transient`: `refused` says why,
    the caller may retry later)."""

    bucket: str
    key: str
    version_id: str | None = None
    size: int = 0
    #: as served (None when the host sent none)
    content_type: str | None = None
    refused: str | None = None
    transient: bool = False

    @property
    def ok(self) -> bool:
        return self.refused is None


class _Refused(Exception):
    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


#: the longest last path segment a reason shows
SHOWN_SEGMENT = 40


def safe_url(url: str) -> str:
    """The URL as reasons (and so ledger `rejected` entries) show it: scheme://host[:port]/…/<last
    path segment, cut to SHOWN_SEGMENT characters>. No userinfo, query or fragment, and no inner path
    segments: a sender's file URL often carries a capability in its path (Stripe's invoice links
    hold an account id and a token-like invoice id), and the ledger is read by more people than the
    sender's secrets are. The host and the file's name are enough to tell which URL was refused."""
    try:
        parsed = httpx.URL(url)
        path = parsed.raw_path.split(b"?")[0].decode("ascii")
    except (httpx.InvalidURL, UnicodeError):
        return "(an unparsable URL)"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port else ""
    segments = path.split("/")
    last = segments[-1]
    last = last if len(last) <= SHOWN_SEGMENT else last[: SHOWN_SEGMENT - 1] + "…"
    shown = "/" + last if len(segments) <= 2 else "/…/" + last
    return f"{parsed.scheme}://{host}{port}{shown}"[:300]


def parse_connect_to(text: str) -> dict[str, tuple[str, int]]:
    """RELAY_LOCAL_FETCH_HOSTS (`name=address:port,…`) as `connect_to`; ValueError naming a bad entry."""
    mapped: dict[str, tuple[str, int]] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, sep, target = entry.partition("=")
        address, colon, port = target.strip().rpartition(":")
        if not (sep and colon and name.strip() and address and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"RELAY_LOCAL_FETCH_HOSTS entry {entry!r} is not name=address:port")
        try:  # an address, not a name: nothing is resolved
            ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            raise ValueError(f"RELAY_LOCAL_FETCH_HOSTS entry {entry!r}: {address!r} is not an IP address") from None
        mapped[_norm(name)] = (address.strip("[]"), int(port))
    return mapped


def local_ssl_context(ca_file: str) -> ssl.SSLContext:
    """The default trust store plus the local CA in `ca_file` (RELAY_LOCAL_FETCH_CA)."""
    context = httpx.create_ssl_context()
    context.load_verify_locations(cafile=ca_file)
    return context


# -- rules ------------------------------------------------------------------------------------------
def _norm(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _entry(entry: str) -> tuple[str, int]:
    """An allowed-hosts entry as (name, port): `name` is port 443, `name:port` that port."""
    text = _norm(entry)
    name, sep, port = text.rpartition(":")
    if sep and port.isdigit() and (":" not in name or name.startswith("[")):
        return _norm(name.strip("[]")), int(port)
    return text.strip("[]"), 443


def host_allowed(host: str, port: int, allowed_hosts: Iterable[str]) -> bool:
    """`host`:`port` matches an entry: `name` (port 443) or `name:port`; `*.suffix` matches names
    below suffix at any depth, not suffix itself."""
    host = _norm(host)
    for entry in allowed_hosts:
        name, want = _entry(entry)
        if port != want or not name:
            continue
        if name.startswith("*."):
            if host.endswith(name[1:]) and len(host) > len(name) - 1:
                return True
        elif host == name:
            return True
    return False


def address_problem(address: IPAddress) -> str | None:
    """Why a connection to `address` is refused (a short category), None for a public unicast one."""
    if address in _METADATA:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (address.sixtofour) or (address.teredo[1] if address.teredo else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(embedded)
            return f"{inner} (in an IPv6 form)" if inner else None
    checks = (
        ("an unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a shared (CGNAT) address", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("a reserved address", address.is_reserved),
        ("a private address", address.is_private),
        ("a non-public address", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses of `host` (A and AAAA), in the system resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# -- the pinned connection ------------------------------------------------------------------------
class _PinnedBackend(_DeadlineBackend):
    """httpcore connects here with the URL's host name (which it also uses for SNI and the
    certificate check); the socket goes to an address checked for that name (IPv4 ones first, the
    next one when a connection fails), never to a new lookup. A name with no checked address is
    not connected at all."""

    def __init__(self, pins: dict[str, list[str]], ports: Mapping[str, int]) -> None:
        super().__init__()
        self._pins = pins
        self._ports = ports

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        addresses = self._pins.get(_norm(host))
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked")
        port = self._ports.get(_norm(host), port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                failure = err
        assert failure is not None
        raise failure


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's transport on the pinned, deadline-bound backend (as relay.vendor_http.DeadlineTransport)."""

    def __init__(self, pins: dict[str, list[str]], ssl_context: ssl.SSLContext | None, ports: Mapping[str, int]) -> None:
        # not super().__init__: HTTPTransport's request, close and context methods use only `_pool`
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=2,
            max_keepalive_connections=2,
            network_backend=_PinnedBackend(pins, ports),
        )


def _client(pins: dict[str, list[str]], ssl_context: ssl.SSLContext | None, ports: Mapping[str, int]) -> httpx.Client:
    return httpx.Client(
        transport=_PinnedTransport(pins, ssl_context, ports),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(30.0, connect=10.0),
        headers={"User-Agent": "picky-media-relay/0.1 (media fetch)", "Accept-Encoding": "identity"},
    )


# -- the fetch ------------------------------------------------------------------------------------
@dataclass
class _Hop:
    """Checks one URL by every rule and pins its host's checked addresses."""

    allowed_hosts: Sequence[str]
    resolver: Resolver
    allow_addresses: Sequence[IPNetwork]
    pins: dict[str, list[str]]
    until: float
    #: local only (RELAY_LOCAL_FETCH_HOSTS): host name -> (address, port), no lookup, no address rule
    connect_to: Mapping[str, tuple[str, int]]

    def check(self, url: str) -> None:
        """Refuses `url` by the rules, else pins its host's checked address. The URL is parsed by
        httpx, the parser that makes the request, so the host checked is the host connected to
        (urllib and httpx disagree on some malformed URLs, e.g. a backslash before `@`)."""
        shown = safe_url(url)
        try:
            parsed = httpx.URL(url)
            ascii_host = _norm(parsed.raw_host.decode("ascii"))
        except (httpx.InvalidURL, UnicodeError):
            raise _Refused(f"media URL {shown} is not a valid URL") from None
        if parsed.scheme != "https":
            raise _Refused(f"media URL {shown} is not https (only https is fetched)")
        if parsed.userinfo:
            raise _Refused(f"media URL {shown} carries credentials (user:password@), which are not allowed")
        host, port = _norm(parsed.host), parsed.port or 443
        if not host:
            raise _Refused(f"media URL {shown} has no host")
        if not (host_allowed(host, port, self.allowed_hosts) or host_allowed(ascii_host, port, self.allowed_hosts)):
            raise _Refused(f"media URL {shown}: host {host}:{port} is not in the route's allowed hosts")
        if ascii_host in self.connect_to:
            self.pins[ascii_host] = [self.connect_to[ascii_host][0]]
        elif ascii_host not in self.pins:
            self.pins[ascii_host] = self._resolve(ascii_host, port, shown)

    def _resolve(self, host: str, port: int, shown: str) -> list[str]:
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        addresses = [literal] if literal is not None else self._lookup(host, port, shown)
        if not addresses:
            raise _Refused(f"media URL {shown}: host {host} does not resolve")
        for address in addresses:
            if any(address in net for net in self.allow_addresses if net.version == address.version):
                continue
            problem = address_problem(address)
            if problem:
                raise _Refused(f"media URL {shown}: host {host} resolves to {problem}, which is never fetched")
        return [str(a) for a in sorted(addresses, key=lambda a: a.version)]

    def _lookup(self, host: str, port: int, shown: str) -> list[IPAddress]:
        lookup = _LOOKUPS.submit(self.resolver, host, port)
        try:
            answers = lookup.result(timeout=max(0.0, self.until - time.monotonic()))
        except TimeoutError:
            raise _Refused(f"media URL {shown}: the fetch's deadline passed (resolving {host})", transient=True) from None
        except socket.gaierror as err:
            temporary = err.errno == socket.EAI_AGAIN
            raise _Refused(f"media URL {shown}: host {host} does not resolve", transient=temporary) from None
        return [ipaddress.ip_address(a.split("%")[0]) for a in answers]


def fetch_to_bucket(
    url: str,
    allowed_hosts: list[str],
    bucket: str,
    key: str,
    s3: Any,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    *,
    resolver: Resolver | None = None,
    allow_addresses: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
    connect_to: Mapping[str, tuple[str, int]] | None = None,
) -> FetchResult:
    """Download `url` into s3://`bucket`/`key` under the module's rules. Never raises for anything
    the URL or its host does (that is a refusal, or `transient`); S3 errors are raised.
    `connect_to`: local only (see the module's docstring)."""
    pins: dict[str, list[str]] = {}
    mapped = {_norm(name): target for name, target in (connect_to or {}).items()}
    with deadline(deadline_seconds) as until:
        networks = [ipaddress.ip_network(a) for a in allow_addresses]
        hop = _Hop(allowed_hosts, resolver or system_resolver, networks, pins, until, mapped)
        try:
            with _client(pins, ssl_context, {name: port for name, (_a, port) in mapped.items()}) as client:
                return _fetch(client, hop, url, bucket, key, s3, max_bytes)
        except _Refused as refused:
            return FetchResult(bucket, key, refused=refused.reason, transient=refused.transient)


def _fetch(client: httpx.Client, hop: _Hop, url: str, bucket: str, key: str, s3: Any, max_bytes: int) -> FetchResult:
    for redirects in range(MAX_REDIRECTS + 1):
        hop.check(url)
        shown = safe_url(url)
        try:
            with client.stream("GET", url) as answer:
                if answer.status_code in _REDIRECTS and "location" in answer.headers:
                    if redirects == MAX_REDIRECTS:
                        raise _Refused(f"media URL {shown}: more than {MAX_REDIRECTS} redirects")
                    url = str(answer.url.join(answer.headers["location"]))
                    continue
                _answer_ok(answer, shown, max_bytes)
                return _store(answer, shown, bucket, key, s3, max_bytes)
        except httpx.InvalidURL:
            raise _Refused(f"media URL {shown} (or its redirect) is not a valid URL") from None
        except httpx.DecodingError:
            raise _Refused(f"media URL {shown}: the host sent a body that cannot be decoded") from None
        except httpx.TimeoutException:
            raise _Refused(f"media URL {shown}: the fetch's deadline passed", transient=True) from None
        except httpx.TransportError as err:
            if isinstance(err.__context__, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(err):
                raise _Refused(f"media URL {shown}: the host's TLS certificate is not valid for it") from None
            raise _Refused(f"media URL {shown}: could not connect or the connection broke ({type(err).__name__})", transient=True) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _answer_ok(answer: httpx.Response, shown: str, max_bytes: int) -> None:
    status = answer.status_code
    if status >= 500 or status == 429:
        raise _Refused(f"media URL {shown}: the host answered {status}", transient=True)
    if status != 200:
        raise _Refused(f"media URL {shown}: the host answered {status}")
    length = answer.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise _Refused(f"media URL {shown}: the host sent an invalid Content-Length") from None
        if declared > max_bytes:
            raise _Refused(f"media URL {shown}: the file is {declared} bytes, over the {max_bytes}-byte limit")


def _store(answer: httpx.Response, shown: str, bucket: str, key: str, s3: Any, max_bytes: int) -> FetchResult:
    content_type = answer.headers.get("content-type")
    typed = {"ContentType": content_type} if content_type else {}
    buffer = bytearray()
    size = 0
    upload_id: str | None = None
    parts: list[dict[str, Any]] = []
    try:
        for chunk in answer.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise _Refused(f"media URL {shown}: the file is over the {max_bytes}-byte limit")
            buffer += chunk
            while len(buffer) >= PART_BYTES:
                if upload_id is None:
                    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **typed)["UploadId"]
                part, buffer = bytes(buffer[:PART_BYTES]), buffer[PART_BYTES:]
                number = len(parts) + 1
                etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part)["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
        if upload_id is None:
            stored = s3.put_object(Bucket=bucket, Key=key, Body=bytes(buffer), **typed)
        else:
            if buffer or not parts:
                number = len(parts) + 1
                etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(buffer))["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
            stored = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
            upload_id = None
    finally:
        if upload_id is not None:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    return FetchResult(bucket, key, version_id=stored.get("VersionId"), size=size, content_type=content_type)

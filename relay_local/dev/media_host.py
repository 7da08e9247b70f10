"""A local HTTPS host for the sample webhooks' media URLs (hooks_local.SAMPLE_MEDIA_URLS), so a
Stripe-shaped event's `invoice_pdf` (https://pay.stripe.com/…) downloads locally, without a network.

The relay's fetcher (relay.safe_fetch) refuses loopback and resolves names itself, so the local run
maps each sample host to this server through two LOCAL-ONLY function variables, which `env()` gives
and template.yaml never sets: RELAY_LOCAL_FETCH_HOSTS (`pay.stripe.com=127.0.0.1:PORT,…`) and
RELAY_LOCAL_FETCH_CA (the PEM file of the throwaway CA this server's certificate chains to). The
fetch still goes by https, names the real host (SNI, Host, certificate) and obeys the route's
allowed hosts. `relay serve` and `relay demo` start one.

`make_certificates` (a throwaway CA and a server certificate for some names) is shared with
tests/integration/fetch_server.py, safe_fetch's test server.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import mimetypes
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relay_local.dev.hooks_local import SAMPLE_MEDIA_URLS


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certificates(where: Path, names: Iterable[str], ca_name: str = "relay local media CA") -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) in `where`: a CA valid for a day and a server certificate
    for `names` (and 127.0.0.1) signed by it."""
    names = list(names)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (where / "ca.pem", where / "server.pem", where / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


def _files_by_place(urls: Mapping[str, Path]) -> dict[tuple[str, str], Path]:
    """(host, path) → file: the query is not part of what is served (Stripe's `?s=ap` is ignored)."""
    return {(httpx.URL(url).host, httpx.URL(url).path): path for url, path in urls.items()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        host = self.headers.get("Host", "").rsplit(":", 1)[0].lower()
        path = httpx.URL(f"https://x{self.path}").path
        found = self.server.files.get((host, path))
        self.server.served.append(f"https://{host}{path}")
        body, status, kind = (found.read_bytes(), 200, _content_type(found)) if found else (b"no such sample file", 404, "text/plain")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    files: dict[tuple[str, str], Path]
    served: list[str]

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gives up mid-answer (a fetch past its deadline, a refused size) is what
        these hosts exist to meet: not an error worth a traceback on the console."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError | TimeoutError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]  # socketserver's untyped signature


class MediaHost:
    """`with MediaHost() as host:` serves `urls` (default SAMPLE_MEDIA_URLS: URL → file) by host and
    path on https://127.0.0.1:`host.port`; `host.env()` is what the relay's functions need to reach it."""

    def __init__(self, urls: Mapping[str, Path] | None = None) -> None:
        self.urls = dict(SAMPLE_MEDIA_URLS if urls is None else urls)
        self.hosts = sorted({httpx.URL(u).host for u in self.urls})
        self._dir = Path(tempfile.mkdtemp(prefix="relay-media-host-"))
        self.ca, cert, key = make_certificates(self._dir, self.hosts)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.files = _files_by_place(self.urls)
        self._server.served = []
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="media-host", daemon=True)

    @property
    def served(self) -> list[str]:
        """The URLs (host and path) asked for so far, in order."""
        return list(self._server.served)

    def env(self) -> dict[str, str]:
        """The local-only function variables that send the sample hosts here (relay.safe_fetch)."""
        return {
            "RELAY_LOCAL_FETCH_HOSTS": ",".join(f"{host}=127.0.0.1:{self.port}" for host in self.hosts),
            "RELAY_LOCAL_FETCH_CA": str(self.ca),
        }

    def start(self) -> MediaHost:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> MediaHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""A local HTTPS server for relay.safe_fetch's tests: a throwaway CA and server certificate made
by relay_local.dev.media_host (shared with the local media host), http.server + ssl on
loopback, and one path per behaviour of a file host."""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from relay_local.dev.media_host import make_certificates as _make_certificates

#: names the test resolver maps to 127.0.0.1; all are in the server certificate
NAMES = ("files.test", "evil.test", "a.cdn.test", "xn--bcher-kva.test")
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def make_certificates(where: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) in `where`, for NAMES (relay_local.dev.media_host's maker)."""
    return _make_certificates(where, NAMES, ca_name="safe-fetch test CA")


@dataclass
class Seen:
    """What the server saw: each request's path and Host header, and each TLS handshake's SNI."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, headers={"Location": location})

    def do_GET(self) -> None:  # noqa: C901 - one branch per behaviour
        self.server.seen.requests.append((self.path, self.headers.get("Host", "")))
        path = self.path.split("?")[0]
        port = self.server.server_address[1]
        try:
            if path == "/file.pdf":
                self._send(200, PDF, {"Content-Type": "application/pdf"})
            elif path == "/untyped":
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"abc")
            elif path.startswith("/big/"):
                self._chunked(int(path.split("/")[2]), "application/octet-stream")
            elif path == "/redirect-evil":
                self._redirect(f"https://evil.test:{port}/file.pdf")
            elif path.startswith("/chain/"):
                left = int(path.split("/")[2])
                self._redirect(f"/chain/{left - 1}" if left > 1 else "/file.pdf")
            elif path == "/to-http":
                self._redirect(f"http://files.test:{port}/file.pdf")
            elif path == "/to-cdn":
                self._redirect(f"https://a.cdn.test:{port}/file.pdf?sig=abc")
            elif path == "/huge-length":
                self.send_response(200)
                self.send_header("Content-Length", str(10**12))
                self.end_headers()
                self.wfile.write(b"x" * 1000)
            elif path == "/slow":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(1000):
                    if self.server.stopping.is_set():
                        break
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            elif path == "/500":
                self._send(500, b"oops")
            else:
                self._send(404, b"no such file")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def _chunked(self, size: int, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        while sent < size:
            chunk = pattern_bytes(sent, min(256 * 1024, size - sent))
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
        self.wfile.write(b"0\r\n\r\n")


def pattern_bytes(start: int, length: int) -> bytes:
    """Bytes `start`..`start+length` of an endless, position-dependent pattern."""
    return bytes((i * 7 + i // 251) & 0xFF for i in range(start, start + length))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: Seen
    stopping: threading.Event

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gives up mid-answer (a fetch past its deadline, a refused size) is what
        these hosts exist to meet: not an error worth a traceback on the console."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError | TimeoutError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]  # socketserver's untyped signature


class HttpsFiles:
    """`with HttpsFiles(tmp) as files:` serves on 127.0.0.1:`files.port`; `files.ca` is the CA file."""

    def __init__(self, where: Path) -> None:
        self.ca, cert, key = make_certificates(where)
        self.seen = Seen()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda sock, name, ctx: self.seen.sni.append(name)  # type: ignore[assignment, misc]
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.seen = self.seen
        self._server.stopping = threading.Event()
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def __enter__(self) -> HttpsFiles:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()

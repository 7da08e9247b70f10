"""A local stand-in for the Picky Assist Push API V2 (`POST /api/v2/push`).

Used by `relay demo`, `relay local` and the integration tests instead of the real vendor. It
validates requests the way the vendor documents (see /work/shared/picky-assist-api.md), answers
in the vendor's JSON shapes, records every push request, and can be scripted to misbehave
(vendor error codes, HTTP 429/5xx, slow answers, a rate limit), or made to misbehave at random
like a flaky vendor (`Faults`: HTTP 500/429, vendor 101, hanging answers) for soak tests.

In-process use::

    with PushApiStandIn(token="t") as api:
        api.script(Answer(vendor_status=101), Answer(http_status=500))
        ...  # point the relay at api.url
        assert api.requests[0].body_without_token()["application"] == "8"

    with PushApiStandIn(token="t", faults=Faults(http_500=0.05, timeout=0.02, seed=7)) as api:
        ...  # push many recipients through the relay
        api.stats()            # {"requests": ..., "accepted_entries": ..., "http_500": ..., ...}
        api.accepted_entries   # every data[] entry the "vendor" accepted, in order

Out-of-process control (e.g. `relay local` users with curl):

* ``GET  /_requests`` → JSON list of recorded push requests (token masked, raw bytes omitted)
* ``POST /_reset``    → forget requests, scripted answers and the rate-limit window
* ``POST /_script``   → body: JSON list of Answer objects (``http_status``, ``vendor_status``, ``trickle``,
  ``body``, ``delay``), appended to the queue
* ``GET/POST /_templates`` → the templates it knows; POST `{id: {languages, kind, variables} | null}`
  adds, replaces (null: removes) some (relay_local/dev/standin_templates.py)
* ``POST /_inbound``  → `{number, application?, message?, minutes_ago?, post?}`: the customer wrote
  (opens the 24-hour window) and, with a `relay_url`, the vendor's inbound webhook is posted to the
  relay (relay_local/dev/standin_window.py)
* ``POST /_reports``  → post the queued delivery reports to the relay now; ``GET /_reports`` lists
  the queued and the posted ones

Template messages (a request with `template_id`) are checked against the templates it knows
(`standin_templates`); `POST /api/v2/template-status` lists them. With `session_window=True` a
free-form message to a number outside WhatsApp's 24-hour window is accepted and then failed by a
queued delivery report carrying 131047 (`standin_window`).

The API token is never written to a response, a log line or an error text.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from relay_local.dev import standin_templates as tpl
from relay_local.dev import standin_window as win

log = logging.getLogger("relay.standin")

PUSH_PATHS = frozenset({"/api/v2/push", "/app/api/v2/push"})
TEMPLATE_STATUS_PATHS = frozenset({"/api/v2/template-status", "/app/api/v2/template-status"})
CONTROL_POST = frozenset({"/_reset", "/_script", "/_inbound", "/_reports", "/_templates"})
CONTROL_GET = frozenset({"/_requests", "/_reports", "/_templates"})
MASK = "***"

#: Vendor `status` texts. 100 is included so a scripted `vendor_status=100` gives a bare
#: "success" without push_id/data (a malformed-success case for the relay's parser).
VENDOR_MESSAGES: dict[int, str] = {
    100: "Success",
    101: "Service unavailable",
    401: "Authentication failed",
    402: "Empty number list",
    403: "Insufficient balance",
    404: "Unable to communicate with your phone",
    405: "API not active for this plan",
    406: "Invalid mobile number",
    407: "Message cannot be empty",
    408: "Project not active",
    409: "Invalid user",
    410: "Invalid request",
}
DYNAMIC_MEDIA_REFUSED = (
    "Invalid request: dynamic media (per-recipient media/media_code) is only supported on WhatsApp Official (application 8)"
)
RATE_LIMIT_BODY = {"status": 429, "message": "Rate limit exceeded"}
CREDIT = "0.005"
FIRST_ID = 1_000_001

_NUMBER = re.compile(r"[1-9][0-9]{7,14}")
_CHANNEL = re.compile(r"[0-9]+")


#: Random fault kinds, in the order their probability bands are laid out on the one draw.
FAULT_KINDS: tuple[str, ...] = ("http_500", "timeout", "timeout_after_accept", "http_429", "vendor_101")


def vendor_message(code: int) -> str:
    return VENDOR_MESSAGES.get(code, "Error")


@dataclass
class RecordedRequest:
    """One push request as received, and what the stand-in answered.

    `body` is the parsed JSON (None if the body was not a JSON object) *including the token*:
    test memory only, so tests can check what the relay sent. Use `body_without_token()` for
    anything that is shown or logged. `response_status` is the HTTP status; the vendor status
    is `response_body["status"]`.

    `fault` is the random fault applied (one of `FAULT_KINDS`) or None; `accepted` is True when
    the stand-in processed the push and produced vendor status 100 with ids (including
    `timeout_after_accept`, whose answer the client never sees). A scripted `vendor_status=100`
    or scripted body is not processing, so it is not `accepted`.
    """

    path: str
    headers: dict[str, str]
    body: dict | None
    raw: bytes
    at: float  # time.time() on arrival
    response_status: int
    response_body: dict | None
    over_limit: bool = False
    fault: str | None = None
    accepted: bool = False

    def body_without_token(self) -> dict | None:
        if self.body is None:
            return None
        masked = copy.deepcopy(self.body)
        if "token" in masked:
            masked["token"] = MASK
        return masked

    def to_public_dict(self) -> dict[str, Any]:
        """JSON-able view for `GET /_requests`: token masked, raw bytes left out (they hold it)."""
        return {
            "path": self.path,
            "headers": dict(self.headers),
            "body": self.body_without_token(),
            "raw_size": len(self.raw),
            "at": self.at,
            "response_status": self.response_status,
            "response_body": self.response_body,
            "over_limit": self.over_limit,
            "fault": self.fault,
            "accepted": self.accepted,
        }


@dataclass
class Answer:
    """A scripted answer for the next push request.

    * `vendor_status` set → `{"status": code, "message": <vendor text>}` with HTTP `http_status`.
    * `body` set → that body verbatim (dict as JSON; str as-is, typed JSON if it parses as JSON,
      else text/plain). Takes precedence over `vendor_status`.
    * neither, `http_status` 429 → the vendor's rate-limit JSON; 5xx → a short text/plain body;
      other 4xx → `{"status": http_status, "message": <reason>}`.
    * neither, `http_status` < 400 → the request is handled normally (validation, ids) and answered
      with `http_status` (so `Answer(delay=2)` is just a slow normal answer).
    * `delay` seconds are slept before answering (the request is recorded on arrival).
    * `trickle` > 0: the answer's body is written one byte every `trickle` seconds (its headers,
      with the full Content-Length, at once): a per-read timeout never fires on such an answer.
    """

    http_status: int = 200
    vendor_status: int | None = None
    body: dict | str | None = None
    delay: float = 0.0
    trickle: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Answer:
        if not isinstance(data, Mapping):
            raise ValueError("each answer must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown answer field(s): {', '.join(map(str, unknown))}")
        answer = cls(**data)
        answer.validate()
        return answer

    def validate(self) -> None:
        if isinstance(self.http_status, bool) or not isinstance(self.http_status, int) or not 100 <= self.http_status <= 599:
            raise ValueError("http_status must be an integer 100-599")
        if self.vendor_status is not None and (isinstance(self.vendor_status, bool) or not isinstance(self.vendor_status, int)):
            raise ValueError("vendor_status must be an integer or null")
        if self.body is not None and not isinstance(self.body, (dict, str)):
            raise ValueError("body must be an object, a string or null")
        if isinstance(self.delay, bool) or not isinstance(self.delay, (int, float)) or self.delay < 0:
            raise ValueError("delay must be a number >= 0")
        if isinstance(self.trickle, bool) or not isinstance(self.trickle, (int, float)) or self.trickle < 0:
            raise ValueError("trickle must be a number >= 0")


@dataclass
class Faults:
    """Random misbehaviour for push requests that are neither over the rate limit nor scripted.

    One uniform draw per such request picks, by these probabilities (their sum must be <= 1):
    `http_500` (HTTP 500, not processed), `timeout` (hang, see below), `http_429` (the vendor's
    rate-limit answer, not processed), `vendor_101` (`{"status": 101, ...}` on HTTP 200, not
    processed), else a normal answer. Of the timeouts, a `timeout_after_accept` fraction is
    processed normally (validated, ids assigned, recorded as accepted) and the answer is held back
    `hang_seconds`; the rest are not processed and get HTTP 504 after `hang_seconds`.
    `seed` seeds `random.Random` so that a sequential run is reproducible.
    """

    http_500: float = 0.0
    timeout: float = 0.0
    timeout_after_accept: float = 0.5
    http_429: float = 0.0
    vendor_101: float = 0.0
    hang_seconds: float = 3.0
    seed: int | None = None

    def validate(self) -> None:
        probabilities = ("http_500", "timeout", "timeout_after_accept", "http_429", "vendor_101")
        for name in probabilities:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1")
        if self.http_500 + self.timeout + self.http_429 + self.vendor_101 > 1.0 + 1e-9:
            raise ValueError("http_500 + timeout + http_429 + vendor_101 must not exceed 1")
        if isinstance(self.hang_seconds, bool) or not isinstance(self.hang_seconds, (int, float)) or self.hang_seconds < 0:
            raise ValueError("hang_seconds must be a number >= 0")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError("seed must be an integer or None")

    def draw(self, rng: random.Random) -> str | None:
        """The fault for one request (one `rng.random()` call), or None for a normal answer."""
        u = rng.random()
        edge = 0.0
        for kind in ("http_500", "timeout", "http_429", "vendor_101"):
            p = float(getattr(self, kind))
            if u < edge + p:
                if kind == "timeout":
                    return "timeout_after_accept" if u - edge < p * self.timeout_after_accept else "timeout"
                return kind
            edge += p
        return None


@dataclass
class _Reply:
    status: int
    payload: bytes
    content_type: str
    body: dict | None  # what gets recorded as response_body
    extra_headers: dict[str, str] = field(default_factory=dict)
    #: seconds between the body's bytes (0: all at once)
    trickle: float = 0.0


def _json_reply(status: int, body: Any, extra_headers: dict[str, str] | None = None) -> _Reply:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return _Reply(status, payload, "application/json", body if isinstance(body, dict) else None, extra_headers or {})


def _vendor_error(code: int, message: str | None = None, http_status: int = 200) -> _Reply:
    return _json_reply(http_status, {"status": code, "message": message or vendor_message(code)})


def _channel(value: object) -> str | None:
    """`application` as a canonical digit string, or None if absent/invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value >= 0 else None
    if isinstance(value, str) and _CHANNEL.fullmatch(value):
        return str(int(value))
    return None


def _valid_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        value = str(value)
    return isinstance(value, str) and _NUMBER.fullmatch(value) is not None


def _filled(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a sleeping (delayed) handler never blocks stop()
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: PushApiStandIn, ipv6: bool) -> None:
        self.address_family = socket.AF_INET6 if ipv6 else socket.AF_INET
        self.standin = standin
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]  # socketserver's untyped signature
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]  # socketserver's untyped signature
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop idle keep-alive connections so their handler threads end with the server."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]  # socketserver's signature
        # No tracebacks on stderr (client went away mid-answer, etc.); the exception text
        # never contains a request body.
        log.debug("stand-in: connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    disable_nagle_algorithm = True  # otherwise ~40 ms stall per keep-alive request
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: _Server

    def version_string(self) -> str:
        return "PushApiStandIn/1.0"

    # -- plumbing ---------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s - " + format, self.address_string(), *args)

    def _read_body(self) -> bytes | None:
        """The request body; None when it cannot be read (answer 400 and close)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            return None
        if n < 0:
            return None
        return self.rfile.read(n) if n else b""

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        no_body = reply.status in (204, 304) or reply.status < 200
        self.send_header("Content-Type", f"{reply.content_type}; charset=utf-8")
        if not no_body:
            self.send_header("Content-Length", str(len(reply.payload)))
        for name, value in reply.extra_headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not no_body and self.command != "HEAD":
            if reply.trickle <= 0:
                self.wfile.write(reply.payload)
                return
            stopping = self.server.standin._stopping
            for i in range(len(reply.payload)):
                self.wfile.write(reply.payload[i : i + 1])
                self.wfile.flush()
                if stopping.wait(reply.trickle):
                    self.close_connection = True
                    return

    def _path(self) -> str:
        return urlsplit(self.path).path

    # -- verbs ------------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 - http.server's handler name
        raw = self._read_body()
        if raw is None:
            self.close_connection = True
            self._send(_json_reply(400, {"status": 400, "message": "Bad request body framing"}))
            return
        path = self._path()
        standin = self.server.standin
        try:
            if path in PUSH_PATHS:
                reply, delay = standin._handle_push(path, dict(self.headers.items()), raw)
                if delay > 0 and standin._stopping.wait(delay):
                    self.close_connection = True  # stopped while sleeping: drop the answer
                    return
            elif path in TEMPLATE_STATUS_PATHS:
                reply = standin._handle_template_status(raw)
            elif path == "/_reset":
                standin.reset()
                reply = _json_reply(200, {"ok": True})
            elif path == "/_script":
                reply = standin._handle_script(raw)
            elif path == "/_inbound":
                reply = standin._handle_inbound(raw)
            elif path == "/_reports":
                reply = _json_reply(200, {"posted": [vars(p) for p in standin.post_reports()]})
            elif path == "/_templates":
                reply = standin._handle_templates(raw)
            elif path in CONTROL_GET:
                reply = _method_not_allowed("GET")
            else:
                reply = _not_found(path)
        except Exception:  # noqa: BLE001 — never leak details (could involve the body)
            log.debug("stand-in: internal error on %s", path, exc_info=False)
            reply = _json_reply(500, {"status": 500, "message": "Stand-in internal error"})
        self._send(reply)

    def do_GET(self) -> None:  # noqa: N802 - http.server's handler name
        path = self._path()
        standin = self.server.standin
        if path == "/_requests":
            reply = _json_reply(200, [r.to_public_dict() for r in standin.requests])
        elif path == "/_reports":
            posted = [vars(p) for p in standin.posted]
            reply = _json_reply(200, {"pending": standin.pending_reports, "posted": posted})
        elif path == "/_templates":
            reply = _json_reply(200, {t.id: t.spec() for t in standin.templates.values()})
        elif path in PUSH_PATHS or path in TEMPLATE_STATUS_PATHS or path in CONTROL_POST:
            reply = _method_not_allowed("POST")
        else:
            reply = _not_found(path)
        self._send(reply)

    def _other(self) -> None:
        if self._read_body() is None:
            self.close_connection = True
        path = self._path()
        posts = path in PUSH_PATHS or path in TEMPLATE_STATUS_PATHS or path in CONTROL_POST
        gets = path in CONTROL_GET
        allow = ", ".join(m for m, ok in (("GET", gets), ("POST", posts)) if ok)
        self._send(_method_not_allowed(allow) if allow else _not_found(path))

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _other  # noqa: N815 - http.server's handler names


class _AlwaysOpen(win.SessionWindow):
    """The window when the rule is off: every number may get free-form messages."""

    def is_open(self, channel: str, number: str, now: float) -> bool:
        return True


_ALWAYS_OPEN = _AlwaysOpen()


def _not_found(path: str) -> _Reply:
    return _json_reply(404, {"status": 404, "message": "Not found", "path": path})


def _method_not_allowed(allow: str) -> _Reply:
    return _json_reply(405, {"status": 405, "message": "Method not allowed"}, {"Allow": allow})


class PushApiStandIn:
    """The stand-in server. Thread-safe; start/stop or use as a context manager.

    Extra constructor arguments beyond host/port/token/latency:

    * `dynamic_channels` — applications on which per-recipient media is allowed (default {8}).
    * `int_ids` — answer push_id/msg_id as integers instead of strings.
    * `rate_limit_per_minute` — drop requests over this many per rolling window (HTTP 429).
    * `clock_scale` — the rate-limit window is 60/clock_scale seconds.
    * `faults` — random misbehaviour (`Faults`); change it later with `set_faults()`.
    * `templates` — the approved templates it knows (default `standin_templates.DEFAULT_TEMPLATES`:
      invoice_doc, ticket_image, order_text); change them with `set_templates()` or `POST /_templates`.
    * `session_window` — WhatsApp's 24-hour window on `session_channels` (default {8}): free-form
      messages to numbers that did not write in the last 24 h are failed by a queued delivery report
      (131047). Off by default. `deliver_reports` — queue a delivered report for the other messages.
    * `relay_url`, `events_secret` — where reports (`/events/<secret>`) and inbound messages
      (`/inbound/<secret>`) are posted (none: nothing is posted; set later with `connect_relay()`).
    * `report_delay` — seconds after each answer to post its reports in the background (None: only
      `post_reports()` / `POST /_reports` post them, which keeps tests deterministic).

    `latency` seconds are slept before every push answer (on top of a scripted `delay` or a
    fault's `hang_seconds`).

    Each push request goes through, in order: the rate limit (over-limit requests are answered
    429 and consume nothing, not even a random draw); a scripted answer if one is queued (never
    combined with a fault); one random fault draw; then vendor validation, only on the paths that
    process the request (normal and `timeout_after_accept`). Sleeps happen in the handler thread
    without the lock, so a hanging answer never blocks other requests, and `stop()` cuts them short.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "local-token",
        latency: float = 0.0,
        *,
        dynamic_channels: Iterable[int | str] = (8,),
        int_ids: bool = False,
        rate_limit_per_minute: int | None = None,
        clock_scale: float = 1.0,
        faults: Faults | None = None,
        templates: Iterable[tpl.StandInTemplate] | None = None,
        session_window: bool = False,
        session_channels: Iterable[int | str] = (8,),
        deliver_reports: bool = False,
        relay_url: str | None = None,
        events_secret: str | None = None,
        report_delay: float | None = None,
    ) -> None:
        if latency < 0:
            raise ValueError("latency must be >= 0")
        if rate_limit_per_minute is not None and rate_limit_per_minute < 0:
            raise ValueError("rate_limit_per_minute must be >= 0 or None")
        if clock_scale <= 0:
            raise ValueError("clock_scale must be > 0")
        channels = {_channel(c) for c in dynamic_channels}
        if None in channels:
            raise ValueError("dynamic_channels must be non-negative integers (or digit strings)")
        window_channels = {_channel(c) for c in session_channels}
        if None in window_channels:
            raise ValueError("session_channels must be non-negative integers (or digit strings)")
        if report_delay is not None and report_delay < 0:
            raise ValueError("report_delay must be >= 0 or None")
        self.host = host
        self._port = port
        self._token = token
        self.latency = float(latency)
        self.dynamic_channels: frozenset[str] = frozenset(c for c in channels if c is not None)
        self.int_ids = int_ids
        self.rate_limit_per_minute = rate_limit_per_minute
        self.clock_scale = float(clock_scale)

        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._script: deque[Answer] = deque()
        self._window: deque[float] = deque()  # monotonic times of requests counted by the rate limit
        self._next_id = FIRST_ID
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._faults: Faults | None = None
        self._rng = random.Random()
        self.set_faults(faults)
        self._templates: dict[str, tpl.StandInTemplate] = {}
        self.set_templates(tpl.DEFAULT_TEMPLATES if templates is None else templates)
        self.session_window = session_window
        self.session_channels: frozenset[str] = frozenset(c for c in window_channels if c is not None)
        self.deliver_reports = deliver_reports
        self.report_delay = report_delay
        self.window = win.SessionWindow()
        self._poster = win.RelayPoster(relay_url, events_secret)
        self._reports_off = False
        #: when set, the template-status answer (after the token check), verbatim: another shape of
        #: the vendor's unofficial answer, for `relay templates pull`'s tests
        self.template_status_body: Any = None

    def __repr__(self) -> str:  # no token
        return f"PushApiStandIn(url={self.url if self._server else None!r})"

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> PushApiStandIn:
        if self._server is not None:
            raise RuntimeError("stand-in already started")
        self._stopping.clear()
        self._reports_off = False
        self._server = _Server((self.host, self._port), self, ipv6=":" in self.host)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"push-api-standin:{self._port}", daemon=True
        )
        self._thread.start()
        log.debug("stand-in listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        self._reports_off = True  # a pending report timer posts nothing after this
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes delayed answers
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None
        log.debug("stand-in on port %s stopped", self._port)

    def __enter__(self) -> PushApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("port not known before start()")
        return self._port

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/v2/push"

    # -- recording and scripting --------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget recorded requests, queued answers, the rate-limit window, the customers' messages
        and the queued and posted reports (ids keep counting; the templates stay)."""
        with self._lock:
            self._requests.clear()
            self._script.clear()
            self._window.clear()
        self.window.clear()
        self._poster.clear()

    # -- templates, the 24-hour window, calls to the relay (standin_templates, standin_window) ---
    @property
    def templates(self) -> dict[str, tpl.StandInTemplate]:
        with self._lock:
            return dict(self._templates)

    def set_templates(self, templates: Iterable[tpl.StandInTemplate], replace: bool = True) -> None:
        """The templates it knows: all of them (`replace`), or these added/replaced."""
        given = {t.id: t for t in templates}
        with self._lock:
            self._templates = given if replace else {**self._templates, **given}

    def connect_relay(self, relay_url: str, events_secret: str) -> None:
        """Where reports and inbound messages go: `relay_url/events/<secret>`, `relay_url/inbound/<secret>`."""
        pending = self._poster.pending
        self._poster = win.RelayPoster(relay_url, events_secret)
        for report in pending:
            self._poster.queue_report(report)

    def customer_writes(
        self, number: str, application: int | str = 8, message: str = "Hello", minutes_ago: float = 0, post: bool = True
    ) -> win.Posted | None:
        """The customer `number` wrote `minutes_ago` minutes ago on `application`: the stand-in's
        window opens from then; with `post` and a relay connected, the vendor's inbound webhook body
        is posted to the relay (returned; None when nothing was posted)."""
        channel = _channel(application)
        if channel is None or not _valid_number(number):
            raise ValueError("number must be 8-15 digits and application a channel number")
        self.window.record(channel, str(number), win.minutes_ago_time(minutes_ago))
        if not post or not self._poster.enabled:
            return None
        body = win.inbound_body(str(number), channel, message, self._poster.next_unique_id())
        return self._poster.post("inbound", body)

    def post_reports(self) -> list[win.Posted]:
        """Post every queued delivery report to the relay now (in order); what it answered.
        Without a relay connected they stay queued."""
        return self._poster.flush()

    @property
    def pending_reports(self) -> list[dict[str, Any]]:
        return self._poster.pending

    @property
    def posted(self) -> list[win.Posted]:
        """Every call made to the relay (reports and inbound messages), the secret masked."""
        return self._poster.posted

    def _after_accept(self, body: dict, answer: dict) -> None:
        """Queue the delivery report an accepted push earns (call with the lock held)."""
        channel = _channel(body.get("application"))
        assert channel is not None
        window = self.session_window and channel in self.session_channels
        if not window and not self.deliver_reports:
            return
        closed = self.window if window else _ALWAYS_OPEN
        report = win.reports_for(body, answer, channel, closed, self.deliver_reports, time.time())
        if report is None:
            return
        self._poster.queue_report(report)
        if self.report_delay is not None:
            timer = threading.Timer(self.report_delay, self._post_later)
            timer.daemon = True
            timer.start()

    def _post_later(self) -> None:
        if not self._reports_off:
            self.post_reports()

    def script(self, *answers: Answer | Mapping[str, Any]) -> None:
        """Queue answers for the next push requests, in order; then back to normal answers."""
        parsed = [a if isinstance(a, Answer) else Answer.from_dict(a) for a in answers]
        for a in parsed:
            a.validate()
        with self._lock:
            self._script.extend(parsed)

    @property
    def pending_answers(self) -> int:
        with self._lock:
            return len(self._script)

    # -- random faults ------------------------------------------------------------------------
    def set_faults(self, faults: Faults | None) -> None:
        """Replace the random faults (None: none) and re-seed the generator from `faults.seed`."""
        if faults is not None:
            if not isinstance(faults, Faults):
                raise TypeError("faults must be a Faults instance or None")
            faults.validate()
            faults = copy.copy(faults)
        rng = random.Random(faults.seed if faults is not None else None)
        with self._lock:
            self._faults = faults
            self._rng = rng

    @property
    def faults(self) -> Faults | None:
        with self._lock:
            return copy.copy(self._faults)

    @property
    def accepted_entries(self) -> list[dict]:
        """Every `data[]` entry of every accepted request, in order, as sent (copies; the token
        lives at the body's top level and is never part of an entry)."""
        with self._lock:
            accepted = [r.body for r in self._requests if r.accepted and r.body is not None]
        entries: list[dict] = []
        for body in accepted:
            for entry in body.get("data") or []:
                entry = copy.deepcopy(entry)
                if "token" in entry:
                    entry["token"] = MASK
                entries.append(entry)
        return entries

    def stats(self) -> dict[str, int]:
        """Counts over the recorded requests: requests, accepted_requests, accepted_entries,
        over_limit, and one count per fault kind (`FAULT_KINDS`)."""
        with self._lock:
            recorded = list(self._requests)
        counts = {"requests": len(recorded), "accepted_requests": 0, "accepted_entries": 0, "over_limit": 0}
        counts.update({kind: 0 for kind in FAULT_KINDS})
        for r in recorded:
            if r.accepted:
                counts["accepted_requests"] += 1
                counts["accepted_entries"] += len((r.body or {}).get("data") or [])
            if r.over_limit:
                counts["over_limit"] += 1
            if r.fault is not None:
                counts[r.fault] += 1
        return counts

    # -- request handling (called from handler threads) ---------------------------------------
    def _handle_script(self, raw: bytes) -> _Reply:
        try:
            data = json.loads(raw or b"null")
            if isinstance(data, dict):
                data = [data]
            if not isinstance(data, list):
                raise ValueError("expected a JSON list of answers")
            answers = [Answer.from_dict(item) for item in data]
        except (ValueError, TypeError) as exc:
            return _json_reply(400, {"status": 400, "message": f"Bad script: {exc}"})
        self.script(*answers)
        return _json_reply(200, {"ok": True, "queued": len(answers), "pending": self.pending_answers})

    def _handle_inbound(self, raw: bytes) -> _Reply:
        try:
            data = json.loads(raw or b"null")
            if not isinstance(data, dict) or "number" not in data:
                raise ValueError("expected {number, application?, message?, minutes_ago?, post?}")
            unknown = sorted(set(data) - {"number", "application", "message", "minutes_ago", "post"})
            if unknown:
                raise ValueError(f"unknown field(s): {', '.join(unknown)}")
            posted = self.customer_writes(
                str(data["number"]),
                data.get("application", 8),
                str(data.get("message", "Hello")),
                data.get("minutes_ago", 0),
                post=data.get("post", True) is not False,
            )
        except (ValueError, TypeError) as exc:
            return _json_reply(400, {"status": 400, "message": f"Bad inbound: {exc}"})
        return _json_reply(200, {"ok": True, "posted": vars(posted) if posted else None})

    def _handle_templates(self, raw: bytes) -> _Reply:
        try:
            data = json.loads(raw or b"null")
            given = tpl.parse_templates(data)
        except (ValueError, TypeError) as exc:
            return _json_reply(400, {"status": 400, "message": f"Bad templates: {exc}"})
        removed = {str(k) for k, v in data.items() if v is None}
        with self._lock:
            kept = {k: v for k, v in self._templates.items() if k not in removed}
            self._templates = {**kept, **given}
            known = sorted(self._templates)
        return _json_reply(200, {"ok": True, "templates": known})

    def _handle_template_status(self, raw: bytes) -> _Reply:
        """`{token, template_id?}` → the templates it knows (shape: standin_templates, our guess)."""
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return _vendor_error(410)
        if body.get("token") != self._token:
            return _vendor_error(401)
        if self.template_status_body is not None:
            return _json_reply(200, self.template_status_body)
        return _json_reply(200, tpl.status_answer(self.templates, body.get("template_id")))

    def _over_limit(self, now: float) -> bool:
        """Rolling-window check; call with the lock held. Only accepted requests fill the window."""
        if self.rate_limit_per_minute is None:
            return False
        window = 60.0 / self.clock_scale
        while self._window and now - self._window[0] >= window:
            self._window.popleft()
        if len(self._window) >= self.rate_limit_per_minute:
            return True
        self._window.append(now)
        return False

    def _handle_push(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[_Reply, float]:
        arrived = time.time()
        try:
            parsed = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            parsed = None
        body = parsed if isinstance(parsed, dict) else None

        accepted = False
        hang = 0.0
        with self._lock:
            over = self._over_limit(time.monotonic())
            answer = None if over else (self._script.popleft() if self._script else None)
            faults = self._faults
            fault = faults.draw(self._rng) if faults is not None and not over and answer is None else None
            if over:
                reply = _json_reply(429, dict(RATE_LIMIT_BODY))
            elif answer is not None and not self._answer_is_normal(answer):
                reply = self._scripted_reply(answer)
            elif fault == "http_500":
                reply = self._scripted_reply(Answer(http_status=500))
            elif fault == "http_429":
                reply = _json_reply(429, dict(RATE_LIMIT_BODY))
            elif fault == "vendor_101":
                reply = _vendor_error(101)
            elif fault == "timeout":
                reply = self._scripted_reply(Answer(http_status=504))
            else:  # normal, a scripted normal answer, or timeout_after_accept
                reply = self._validate(body)
                accepted = reply.body is not None and reply.body.get("status") == 100
                if accepted and body is not None and reply.body is not None:
                    self._after_accept(body, reply.body)
                if answer is not None:
                    reply.status = answer.http_status
            if answer is not None:
                reply.trickle = float(answer.trickle)
            if fault in ("timeout", "timeout_after_accept") and faults is not None:
                hang = float(faults.hang_seconds)
            self._requests.append(
                RecordedRequest(
                    path=path,
                    headers=headers,
                    body=body,
                    raw=raw,
                    at=arrived,
                    response_status=reply.status,
                    response_body=reply.body,
                    over_limit=over,
                    fault=fault,
                    accepted=accepted,
                )
            )
        # The sleep itself happens in the handler thread, after the lock is released.
        delay = 0.0 if over else self.latency + (answer.delay if answer else 0.0) + hang
        log.debug(
            "push %s -> HTTP %s vendor %s%s%s%s",
            path,
            reply.status,
            reply.body.get("status") if reply.body else None,
            " (scripted)" if answer is not None else "",
            " (over limit)" if over else "",
            f" (fault {fault})" if fault else "",
        )
        return reply, delay

    @staticmethod
    def _answer_is_normal(answer: Answer) -> bool:
        return answer.body is None and answer.vendor_status is None and answer.http_status < 400

    @staticmethod
    def _scripted_reply(answer: Answer) -> _Reply:
        status = answer.http_status
        if answer.body is not None:
            if isinstance(answer.body, dict):
                return _json_reply(status, answer.body)
            text = answer.body
            try:
                decoded = json.loads(text)
            except ValueError:
                return _Reply(status, text.encode(), "text/plain", None)
            return _Reply(status, text.encode(), "application/json", decoded if isinstance(decoded, dict) else None)
        if answer.vendor_status is not None:
            return _vendor_error(answer.vendor_status, http_status=status)
        if status == 429:
            return _json_reply(429, dict(RATE_LIMIT_BODY))
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        if status >= 500:
            return _Reply(status, f"{status} {phrase}\n".encode(), "text/plain", None)
        return _json_reply(status, {"status": status, "message": phrase})

    def _validate(self, body: dict | None) -> _Reply:
        """Vendor rules, in order. Call with the lock held (allocates ids on success)."""
        if body is None:
            return _vendor_error(410)
        token = body.get("token")
        if not isinstance(token, str) or token != self._token:
            return _vendor_error(401)
        channel = _channel(body.get("application"))
        if channel is None:
            return _vendor_error(410, "Invalid request: application is required")
        data = body.get("data")
        if data is None or data == [] or data == "":
            return _vendor_error(402)
        if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
            return _vendor_error(410, "Invalid request: data must be a list of objects")
        if not all(_valid_number(e.get("number")) for e in data):
            return _vendor_error(406)
        dynamic = any(_filled(e.get("media")) or _filled(e.get("media_code")) for e in data)
        if dynamic and channel not in self.dynamic_channels:
            return _vendor_error(410, DYNAMIC_MEDIA_REFUSED)
        if body.get("template_id") not in (None, ""):
            problem = tpl.template_problem(body, channel, self._templates)
            if problem is not None:
                return _vendor_error(410, problem)
        else:
            global_media = _filled(body.get("globalmedia")) or _filled(body.get("globalmedia_code"))
            global_message = _filled(body.get("globalmessage"))
            for entry in data:
                has_media = global_media or _filled(entry.get("media")) or _filled(entry.get("media_code"))
                if not (has_media or global_message or _filled(entry.get("message"))):
                    return _vendor_error(407)

        push_id = self._take_id()
        rows = [{"msg_id": self._id_value(self._take_id()), "number": e["number"], "credit": CREDIT} for e in data]
        return _json_reply(200, {"status": 100, "push_id": self._id_value(push_id), "message": "Success", "data": rows})

    def _take_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    def _id_value(self, value: int) -> int | str:
        return value if self.int_ids else str(value)

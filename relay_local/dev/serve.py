"""Docker-free `sam local start-api`: template.yaml's Api events served on 127.0.0.1.

Each HTTP request becomes an API Gateway (REST, proxy) event for the function whose route matches,
invoked in-process; its answer becomes the HTTP response. A background thread drains the queues
into their functions meanwhile, so a push accepted over HTTP is also sent.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from relay_local.dev import lambda_limits
from relay_local.dev.session import LocalRelay
from relay_local.dev.stack import ACCOUNT
from relay_local.template import functions

log = logging.getLogger("relay.serve")
MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's limit
#: API Gateway's integration timeout for REST APIs: "50 milliseconds - 29 seconds" (API Gateway quotas)
INTEGRATION_TIMEOUT_SECONDS = 29.0


def _pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    regex = "".join(f"(?P<{p[1:-1].rstrip('+')}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


class Routes:
    def __init__(self) -> None:
        self.table = [
            (route.method, _pattern(route.path), route.path, spec.logical_id) for spec in functions().values() for route in spec.api_routes
        ]

    def match(self, method: str, path: str) -> tuple[str, str, dict[str, str]] | None:
        for route_method, pattern, resource, logical_id in self.table:
            found = pattern.match(path)
            if found and route_method in (method, "ANY"):
                return logical_id, resource, found.groupdict()
        return None


def proxy_event(
    method: str, raw_path: str, resource: str, params: dict[str, str], headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    url = urlsplit(raw_path)
    query = parse_qs(url.query, keep_blank_values=True)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = time.time()
    return {
        "resource": resource,
        "path": url.path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/Prod{url.path}",
            "stage": "Prod",
            "accountId": ACCOUNT,
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent") or headers.get("user-agent")},
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


class ApiServer:
    def __init__(
        self,
        relay: LocalRelay,
        host: str = "127.0.0.1",
        port: int = 0,
        pump: bool = True,
        integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS,
    ) -> None:
        self.relay = relay
        #: seconds to wait for the function before answering 504 (tests shorten it)
        self.integration_timeout = integration_timeout
        self.routes = Routes()
        self.pump = pump
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("%s " + fmt, self.address_string(), *args)

            def _handle(self) -> None:
                server.handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD:
            self._send(req, 413, {"Content-Type": "application/json"}, b'{"message":"Request Too Long"}')
            req.close_connection = True
            return
        body = req.rfile.read(length) if length else b""
        path = urlsplit(req.path).path
        found = self.routes.match(req.command, path)
        if found is None:
            self._send(
                req,
                403 if req.command != "OPTIONS" else 404,
                {"Content-Type": "application/json"},
                b'{"message":"Missing Authentication Token"}',
            )
            return
        logical_id, resource, params = found
        headers = {k: v for k, v in req.headers.items()}
        event = proxy_event(req.command, req.path, resource, params, headers, body, req.client_address[0])
        finished, outcome = self._invoke(logical_id, event)
        if not finished:
            log.warning("%s took longer than API Gateway's %ss: 504 (it goes on in the background)", logical_id, self.integration_timeout)
            self._send(req, 504, {"Content-Type": "application/json"}, b'{"message": "Endpoint request timed out"}')
            return
        if isinstance(outcome, lambda_limits.RequestEntityTooLarge):
            log.warning("%s: %s", logical_id, outcome)
            self._send(req, 413, {"Content-Type": "application/json"}, b'{"message": "Request Too Long"}')
            return
        if isinstance(outcome, BaseException):  # what API Gateway answers when the function fails
            log.error("%s failed", logical_id, exc_info=outcome)
            self._send(req, 502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}')
            return
        result = outcome
        status, out_headers, payload = self._response(result)
        self._send(req, status, out_headers, payload)

    def _invoke(self, logical_id: str, event: dict[str, Any]) -> tuple[bool, Any]:
        """Invoke as API Gateway does: wait at most `integration_timeout` for the answer (29 s on AWS,
        a hard limit for REST APIs). A function still running then goes on in the background, as on
        AWS, and the caller gets 504. Returns (finished, result or the exception raised)."""
        assert self.relay.invoker is not None
        invoker = self.relay.invoker
        started, done = threading.Event(), threading.Event()
        box: list[Any] = [None]

        def run() -> None:
            # Locally every function shares one "container" (the invoker's lock); on AWS the API has
            # its own, so the 29 s count from when this function starts, not while another runs.
            with invoker.lock:
                started.set()
                try:
                    box[0] = invoker.invoke(logical_id, event)
                except BaseException as exc:  # noqa: BLE001 - handed to the request thread
                    box[0] = exc
                finally:
                    done.set()

        threading.Thread(target=run, name=f"invoke-{logical_id}", daemon=True).start()
        started.wait()
        if not done.wait(self.integration_timeout):
            return False, None
        return True, box[0]

    @staticmethod
    def _response(result: Any) -> tuple[int, dict[str, str], bytes]:
        if not isinstance(result, dict) or "statusCode" not in result:
            return 502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}'
        headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for k, values in (result.get("multiValueHeaders") or {}).items():
            headers[k] = ", ".join(str(v) for v in values)
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return int(result["statusCode"]), headers, payload

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes) -> None:
        req.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                req.send_header(k, v)
        req.send_header("Content-Length", str(len(payload)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(payload)

    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                if not sum(p.poll_once() for p in self.relay.all_pollers()):
                    self._stop.wait(0.2)
            except Exception:  # noqa: BLE001 - keep serving; the poller logs and retries
                log.exception("poller failed")
                self._stop.wait(1.0)

    def start(self) -> ApiServer:
        self._threads = [threading.Thread(target=self.httpd.serve_forever, name="relay-serve", daemon=True)]
        if self.pump:
            self._threads.append(threading.Thread(target=self._pump, name="relay-pollers", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

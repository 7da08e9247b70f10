"""An httpx client whose requests have a TOTAL deadline, not just a per-read timeout.

httpx's `read` timeout applies to each socket read, so an answer trickled a byte at a time never
times out (one was seen holding a send for 72 s, past the function's timeout). Here every socket
operation of a request (connect, TLS, write, each read of the headers and the body) gets at most
the time left until the request's deadline, and none starts once it has passed: the request ends
with `httpx.ReadTimeout`/`WriteTimeout`/`ConnectTimeout` within the deadline (plus one socket
operation's scheduling slack), whatever the peer does. No watchdog thread is needed.

The deadline is set per request with `deadline(seconds)` (a context variable, so concurrent
threads each have their own). Outside that block requests have the client's ordinary timeouts.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("vendor_http_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Requests made inside must finish within `seconds` (monotonic) from now. Yields the deadline."""
    until = time.monotonic() + seconds
    token = _DEADLINE.set(until)
    try:
        yield until
    finally:
        _DEADLINE.reset(token)


def _budget(timeout: float | None, error: type[Exception]) -> float | None:
    until = _DEADLINE.get()
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise error("the request's total deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _budget(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        budget = _budget(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, budget, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _budget(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


#: the sender makes one request at a time; a few connections cover retries after a broken one
VENDOR_LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=2)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (exception mapping, keep-alive pool), on a network backend that
    enforces the request's deadline. No proxy support: the sender talks to the vendor directly."""

    def __init__(self, limits: httpx.Limits = VENDOR_LIMITS) -> None:
        # not super().__init__: it would build a pool (and load the CA bundle) only to be replaced;
        # HTTPTransport's request, close and context methods use nothing but `_pool`
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )


def vendor_client(timeout: httpx.Timeout, user_agent: str = "picky-media-relay/0.1") -> httpx.Client:
    """The sender's client: `timeout` per operation, the request's `deadline` over all of them."""
    return httpx.Client(timeout=timeout, transport=DeadlineTransport(), headers={"User-Agent": user_agent})

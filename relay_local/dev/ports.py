"""Small networking helpers for local runs and tests."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


class PortBusy(OSError):
    """A port the user asked for is taken by another program."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (bind to port 0, read it, close).

    Another process may take it before the caller binds it; fine for local runs and tests.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_free(port: int, host: str = "127.0.0.1", flag: str = "") -> None:
    """Raise PortBusy (one clear sentence) if `port` cannot be bound on `host`; port 0 is always free.

    Checked before a server starts on it: moto's threaded server waits forever for a server thread
    that died on "address in use", and http.server raises a traceback. SO_REUSEADDR as the servers
    set it, so a port only in TIME_WAIT counts as free (on Linux it still refuses a port someone
    listens on)."""
    if not port:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            hint = f"; stop what holds it or choose another with {flag}" if flag else ""
            raise PortBusy(f"port {port} on {host} is already in use ({exc.strerror or exc}){hint}") from None


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at `url`'s host and port (http://host:port/…)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout):
            return True
    except OSError:
        return False

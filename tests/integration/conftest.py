"""Fixtures of the tests that talk to the Push API stand-in alone (no relay): one stand-in on a free
loopback port per test, and an httpx client on it. A module adds constructor options by overriding
`standin_kwargs`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from relay_local.dev.ports import free_port
from relay_local.dev.standin import PushApiStandIn

#: the stand-in's token in these tests (never echoed: tests check that)
STANDIN_TOKEN = "tok-9f8e7d6c5b4a-secret"


@pytest.fixture
def standin_kwargs() -> dict:
    return {}


@pytest.fixture
def standin(standin_kwargs: dict) -> Iterator[PushApiStandIn]:
    with PushApiStandIn(port=free_port(), token=STANDIN_TOKEN, **standin_kwargs) as api:
        yield api


@pytest.fixture
def client(standin: PushApiStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standin.base_url, timeout=5.0) as c:
        yield c

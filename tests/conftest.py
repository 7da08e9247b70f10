"""Shared fixtures: one embedded AWS (moto server on loopback) per test session; a fresh stack
(queues, table, bucket from template.yaml) and a fresh Push API stand-in per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator:
    from relay_local.dev.embedded import EmbeddedAws

    with EmbeddedAws() as aws:
        aws.activate()
        yield aws


@pytest.fixture
def relay_env() -> dict[str, str]:
    """Function environment added to what template.yaml sets; tests override entries."""
    return {"RETRY_BASE_SECONDS": "0", "POWERTOOLS_LOG_LEVEL": "WARNING"}


@pytest.fixture
def standin_options() -> dict:
    return {}


@pytest.fixture
def relay(embedded_aws, relay_env, standin_options) -> Iterator:
    from relay_local.dev.session import LOCAL_TOKEN, LocalRelay
    from relay_local.dev.standin import PushApiStandIn

    api = PushApiStandIn(token=LOCAL_TOKEN, **standin_options).start()
    local = LocalRelay(stack_name=f"t{uuid.uuid4().hex[:10]}", env=relay_env)
    local.start(aws=embedded_aws, api=api)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def sample() -> callable:
    def read(name: str) -> bytes:
        return (SAMPLES / "media" / name).read_bytes()

    return read

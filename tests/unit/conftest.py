"""Unit-test fixtures shared by several files."""

from __future__ import annotations

import pytest

from relay.aws import presign_client
from relay.s3media import Presigner


@pytest.fixture
def aws_signer(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    presign_client.cache_clear()
    yield Presigner(presign_client("virtual"))
    presign_client.cache_clear()

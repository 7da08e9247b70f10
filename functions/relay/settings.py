"""Runtime configuration, read once per container from the function's environment.

The names are the contract in template.yaml (Globals.Function.Environment). Locally the same
variables are set by the `relay` tool; PICKY_TOKEN (local only) overrides the SSM parameter.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_PUSH_URL = "https://app.pickyassist.com/api/v2/push"
#: SigV4 query signatures are refused beyond 7 days.
MAX_PRESIGN_TTL = 7 * 24 * 3600


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    media_bucket: str = Field(alias="MEDIA_BUCKET", min_length=3)
    push_log_table: str = Field(alias="PUSH_LOG_TABLE", min_length=3)
    send_queue_url: str = Field(default="", alias="SEND_QUEUE_URL")
    picky_api_url: str = Field(default=DEFAULT_PUSH_URL, alias="PICKY_API_URL")
    picky_application: int = Field(default=8, alias="PICKY_APPLICATION", ge=1)
    dynamic_media_channels: frozenset[int] = Field(default=frozenset({8}), alias="DYNAMIC_MEDIA_CHANNELS")
    picky_token_parameter: str | None = Field(default=None, alias="PICKY_TOKEN_PARAMETER")
    picky_token: SecretStr | None = Field(default=None, alias="PICKY_TOKEN")
    presign_ttl_seconds: int = Field(default=86400, alias="PRESIGN_TTL_SECONDS", ge=60, le=MAX_PRESIGN_TTL)
    recipients_per_push: int = Field(default=100, alias="RECIPIENTS_PER_PUSH", ge=1, le=1000)
    default_message: str = Field(default="", alias="DEFAULT_MESSAGE")
    #: Seconds between two requests on channels that take one recipient per media request.
    per_recipient_spacing_seconds: int = Field(default=5, alias="PER_RECIPIENT_SPACING_SECONDS", ge=0, le=900)
    #: First retry delay after a transport error or vendor 101; doubles per attempt (jittered, ≤ 900 s).
    retry_base_seconds: int = Field(default=15, alias="RETRY_BASE_SECONDS", ge=0, le=900)
    send_dlq_url: str = Field(default="", alias="SEND_DLQ_URL")
    #: the vendor's limit, held across every sender together (requests started per rolling window)
    rate_limit_per_minute: int = Field(default=90, alias="RATE_LIMIT_PER_MINUTE", ge=1, le=100_000)
    #: the rolling window, a little over the vendor's minute: a request lands after its slot is taken
    rate_limit_table: str = Field(default="", alias="RATE_LIMIT_TABLE")
    rate_window_seconds: float = Field(default=61.0, alias="RATE_WINDOW_SECONDS", gt=0, le=3600)
    max_send_attempts: int = Field(default=8, alias="MAX_SEND_ATTEMPTS", ge=1, le=50)
    #: a claimed attempt older than this whose claimer never finished is taken as dead (ambiguous)
    send_lease_seconds: float = Field(default=120.0, alias="SEND_LEASE_SECONDS", gt=0, le=3600)
    #: the TOTAL time one vendor request may take, answer included (relay.vendor_http): not a
    #: per-read timeout. template.yaml sizes SenderFunction's Timeout with it
    push_timeout_seconds: float = Field(default=25.0, alias="PUSH_TIMEOUT_SECONDS", gt=0, le=55)
    #: ApiFunction: the queue POST /hooks/{route} puts verified deliveries on (IngestFunction plans them)
    ingest_queue_url: str = Field(default="", alias="INGEST_QUEUE_URL")
    #: local only: the directory of webhook route files (default: functions/routes/ in the bundle)
    hook_routes_dir: str = Field(default="", alias="HOOK_ROUTES_DIR")
    #: local only (never in template.yaml; a test holds it): webhook media hosts sent to a local HTTPS
    #: server, `pay.stripe.com=127.0.0.1:PORT,…` (relay.safe_fetch's `connect_to`), and the PEM CA
    #: file that server's certificate chains to (trusted besides the default store). `relay serve`
    #: and the demo set both for their local media host (relay_local/dev/media_host.py)
    local_fetch_hosts: str = Field(default="", alias="RELAY_LOCAL_FETCH_HOSTS")
    local_fetch_ca: str = Field(default="", alias="RELAY_LOCAL_FETCH_CA")
    idempotency_table: str = Field(default="", alias="IDEMPOTENCY_TABLE")
    signing_secret_parameter: str | None = Field(default=None, alias="SIGNING_SECRET_PARAMETER")
    #: local only: overrides the parameter
    signing_secret: SecretStr | None = Field(default=None, alias="SIGNING_SECRET")
    events_secret_parameter: str | None = Field(default=None, alias="EVENTS_SECRET_PARAMETER")
    #: local only: overrides the parameter
    events_secret: SecretStr | None = Field(default=None, alias="EVENTS_SECRET")
    #: ApiFunction: the only key prefixes `media.key` may name (comma-separated; each ends in "/")
    api_media_prefixes: tuple[str, ...] = Field(default=("media/",), alias="API_MEDIA_PREFIXES")
    #: WhatsApp's 24-hour window (relay.templates): the channels it applies on, and how long before
    #: the window closes the relay already sends the template instead (the vendor's queue and the
    #: customer's clock must not make a free-form message land just after it closed)
    session_channels: frozenset[int] = Field(default=frozenset({8}), alias="SESSION_CHANNELS")
    session_margin_seconds: int = Field(default=600, alias="SESSION_MARGIN_SECONDS", ge=0, le=86_399)
    #: virtual-hosted on AWS; the local stack sets "path" because bucket.127.0.0.1 does not resolve.
    s3_addressing_style: Literal["virtual", "path"] = Field(default="virtual", alias="S3_ADDRESSING_STYLE")

    @field_validator("dynamic_media_channels", "session_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("api_media_prefixes", mode="before")
    @classmethod
    def _split_prefixes(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip().lstrip("/") for p in value.split(",") if p.strip().strip("/")]
            return tuple(p if p.endswith("/") else p + "/" for p in parts)
        return value

    @field_validator(
        "picky_token",
        "picky_token_parameter",
        "signing_secret",
        "signing_secret_parameter",
        "events_secret",
        "events_secret_parameter",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value


def load_settings(env: dict[str, str] | None = None) -> Settings:
    return Settings.model_validate(dict(os.environ if env is None else env))


@cache
def get_settings() -> Settings:
    """The container's settings (read once; handlers call this, tests call `get_settings.cache_clear()`)."""
    return load_settings()

"""The composition root: every collaborator a handler uses, built from the container's settings.

Decisions:
- One `Container` per Lambda container (`container()`), holding each collaborator once it is first
  asked for (`functools.cached_property`). A handler asks only for what it uses, so it builds only
  that: the sender never imports the API's idempotency layer, the ingest function never builds an
  httpx client or an SSM provider (the bench's cold start and tests/test_bundle.py watch this). The
  modules behind a collaborator are imported where it is built, for the same reason.
- boto3 clients come from `relay.aws.client` (one per service per process, shared by every adapter),
  so what instruments them (the bench's request counter, a test's botocore hook) sees every call.
- `reset()` forgets everything a container keeps (the container, settings, clients, Powertools'
  parameter cache): the local invoker calls it when a function's environment changes, as a new
  Lambda container would start; tests call it instead of hunting caches.
- Nothing here imports pydantic at module level: Powertools' batch module loads its parser models
  (about 20 ms of cold start) when pydantic is already loaded, so the sender must import
  relay.send_records (batch first) before anything imports pydantic.
- Per-invocation objects (an `Intake`, which holds its batch's state) are made by a method, on the
  container's shared adapters.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from relay import aws

if TYPE_CHECKING:  # imported where each collaborator is built (cold start)
    from relay.hook_intake import HookIntake
    from relay.hook_planning import HookPlanner
    from relay.ingest_records import IngestRecords
    from relay.intake import Intake
    from relay.ledger import Ledger
    from relay.pushes import PushService
    from relay.ratelimit import RateLimiter
    from relay.s3media import MediaStore, Presigner
    from relay.send_records import SendRecords
    from relay.sending import Sender
    from relay.sendqueue import SendQueue
    from relay.settings import Settings
    from relay.template_fallbacks import TemplateFallbacks

#: function time kept beyond a request's total deadline for what surrounds the send: the claim,
#: presigning, up to a second's wait for a rate-limit slot, and the ledger writes of up to 100
#: recipients (4 BatchWriteItems and the push item). template.yaml sizes the function with it.
SEND_OVERHEAD_SECONDS = 10
#: how long Powertools idempotency keeps a POST /pushes answer for replays
IDEMPOTENCY_TTL = 24 * 3600


class Container:
    """The collaborators of one Lambda container, each built on first use and then kept."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @cached_property
    def settings(self) -> Settings:
        from relay.settings import get_settings

        return self._settings or get_settings()

    # -- adapters (S3, DynamoDB, SQS) -------------------------------------------------------------
    @cached_property
    def media_store(self) -> MediaStore:
        from relay.s3media import MediaStore

        return MediaStore(aws.client("s3"))

    @cached_property
    def presigner(self) -> Presigner:
        from relay.s3media import Presigner

        return Presigner(aws.presign_client(self.settings.s3_addressing_style))

    @cached_property
    def ledger(self) -> Ledger:
        from relay.ledger import Ledger

        return Ledger(aws.client("dynamodb"), self.settings.push_log_table)

    @cached_property
    def send_queue(self) -> SendQueue:
        from relay.sendqueue import SendQueue

        return SendQueue(aws.client("sqs"), self.settings.send_queue_url, dead_letter_url=self.settings.send_dlq_url)

    # -- secrets (a local value, else an SSM SecureString) ------------------------------------------
    @cached_property
    def picky_token(self) -> Callable[[], str]:
        from relay.secrets import secret_provider

        s = self.settings
        return secret_provider(s.picky_token, s.picky_token_parameter, "PICKY_TOKEN")

    @cached_property
    def signing_secret(self) -> Callable[[], str]:
        from relay.secrets import secret_provider

        s = self.settings
        return secret_provider(s.signing_secret, s.signing_secret_parameter, "SIGNING_SECRET")

    @cached_property
    def events_secret(self) -> Callable[[], str]:
        from relay.secrets import secret_provider

        s = self.settings
        return secret_provider(s.events_secret, s.events_secret_parameter, "EVENTS_SECRET")

    # -- IngestFunction ---------------------------------------------------------------------------
    def intake(self) -> Intake:
        """A fresh Intake for one invocation (it holds that batch's claims and plan)."""
        from relay.intake import Intake

        return Intake(self.settings, self.media_store, self.ledger, self.send_queue)

    @cached_property
    def ingest_records(self) -> IngestRecords:
        from relay.ingest_records import IngestRecords

        return IngestRecords(self.intake, lambda: self.hook_planner)

    @cached_property
    def hook_planner(self) -> HookPlanner:
        """Webhooks' pushes (relay.hook_planning): planned by the API's PushService, media by URL
        downloaded by relay.safe_fetch (imported here: only a container that gets a hook push loads it)."""
        from relay.hook_planning import HookPlanner

        return HookPlanner(
            self.settings, self.media_store, self.push_service, self.ledger, self.send_queue, self.media_fetcher, aws.client("s3")
        )

    @cached_property
    def media_fetcher(self) -> Callable[..., Any]:
        """relay.safe_fetch.fetch_to_bucket as the hook planner calls it. Local only: with
        RELAY_LOCAL_FETCH_HOSTS set (never in template.yaml), the hosts it names connect to a local
        HTTPS server, whose CA (RELAY_LOCAL_FETCH_CA) is trusted besides the default store."""
        from relay.safe_fetch import fetch_to_bucket

        s = self.settings
        if not s.local_fetch_hosts:
            return fetch_to_bucket
        from relay.safe_fetch import local_ssl_context, parse_connect_to

        connect_to = parse_connect_to(s.local_fetch_hosts)
        context = local_ssl_context(s.local_fetch_ca) if s.local_fetch_ca else None
        return partial(fetch_to_bucket, connect_to=connect_to, ssl_context=context)

    # -- SenderFunction ---------------------------------------------------------------------------
    def rate_limiter(self, per_window: int, window_seconds: float, scope: str | None = None) -> RateLimiter:
        """A limiter shared by every sender through the rate-limit table (the push log's, if none)."""
        from relay.ratelimit import RateLimiter

        table = self.settings.rate_limit_table or self.settings.push_log_table
        if scope is None:
            return RateLimiter(aws.client("dynamodb"), table, per_window, window_seconds)
        return RateLimiter(aws.client("dynamodb"), table, per_window, window_seconds, scope=scope)

    @cached_property
    def sender(self) -> Sender:
        import httpx

        from relay.pushapi import TIMEOUT, PushApiClient
        from relay.sending import Sender, SendPolicy
        from relay.vendor_http import vendor_client

        s = self.settings
        signer = self.presigner
        # each socket operation bounded as before; the whole request (answer included) by the deadline
        http = vendor_client(httpx.Timeout(connect=TIMEOUT.connect, read=s.push_timeout_seconds, write=TIMEOUT.write, pool=TIMEOUT.pool))
        return Sender(
            api=PushApiClient(s.picky_api_url, self.picky_token, http=http, deadline_seconds=s.push_timeout_seconds),
            ledger=self.ledger,
            presign=lambda media: signer.presign(media, s.presign_ttl_seconds),
            limiter=self.rate_limiter(s.rate_limit_per_minute, s.rate_window_seconds),
            queue=self.send_queue,
            policy=SendPolicy(
                max_attempts=s.max_send_attempts,
                lease_seconds=s.send_lease_seconds,
                dynamic_channels=s.dynamic_media_channels,
                time_needed_seconds=s.push_timeout_seconds + SEND_OVERHEAD_SECONDS,
                session_channels=s.session_channels,
                session_margin_seconds=s.session_margin_seconds,
            ),
            channel_limiter=lambda application: self.rate_limiter(1, s.per_recipient_spacing_seconds, scope=f"channel-{application}"),
        )

    @cached_property
    def send_records(self) -> SendRecords:
        from relay.send_records import SendRecords

        return SendRecords(lambda: self.sender, self.send_queue, self.settings.retry_base_seconds)

    # -- ApiFunction ------------------------------------------------------------------------------
    @cached_property
    def push_service(self) -> PushService:
        from relay.pushes import PushService

        return PushService(self.settings, self.media_store, self.ledger, self.send_queue)

    @cached_property
    def hook_intake(self) -> HookIntake:
        """POST /hooks/{route}: routes read once per container, secrets through one SSM reader."""
        from pathlib import Path

        from relay.hook_intake import HookIntake
        from relay.hook_routes import ROUTES_DIR, RouteBook
        from relay.secrets import parameter_reader

        s = self.settings
        return HookIntake(
            routes=RouteBook(Path(s.hook_routes_dir) if s.hook_routes_dir else ROUTES_DIR),
            secret=parameter_reader(),
            signing_secret=self.signing_secret,
            ledger=self.ledger,
            sqs=aws.client("sqs"),
            queue_url=s.ingest_queue_url,
            media_bucket=s.media_bucket,
        )

    @cached_property
    def template_fallbacks(self) -> TemplateFallbacks:
        """Delivery reports that earn a template fallback plan it on the ledger and the send queue."""
        from relay.template_fallbacks import TemplateFallbacks

        return TemplateFallbacks(self.ledger, self.send_queue)

    @cached_property
    def idempotency_config(self) -> Any:
        """Keyed on the Idempotency-Key header, else on the signature (not the whole event); the
        body must match to replay."""
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        return IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=IDEMPOTENCY_TTL)

    @cached_property
    def create_push(self) -> Callable[..., dict[str, Any]]:
        """POST /pushes through Powertools idempotency: `create_push(call={"key": …, "body": …})`
        plans the request once per key (the push id is an HMAC of the key under the signing secret)."""
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

        from relay.api_models import PushRequest
        from relay.pushes import request_id_for

        store = DynamoDBPersistenceLayer(table_name=self.settings.idempotency_table, boto3_client=aws.client("dynamodb"))

        @idempotent_function(data_keyword_argument="call", config=self.idempotency_config, persistence_store=store)
        def create(call: dict[str, str]) -> dict[str, Any]:
            request = PushRequest.model_validate_json(call["body"])
            push_id = request_id_for(self.signing_secret(), call["key"])
            return self.push_service.create(request, push_id).model_dump(mode="json", exclude_none=True)

        made: Callable[..., dict[str, Any]] = create  # idempotent_function's wrapper is untyped
        return made


_container: Container | None = None


def container() -> Container:
    """This Lambda container's collaborators (made on first use)."""
    global _container  # noqa: PLW0603 - the one per-container instance, forgotten by reset()
    if _container is None:
        _container = Container()
    return _container


def reset() -> None:
    """Forget everything a container keeps, as a new Lambda container would start."""
    from relay.settings import get_settings

    global _container  # noqa: PLW0603 - see container()
    _container = None
    get_settings.cache_clear()
    aws.client.cache_clear()
    aws.presign_client.cache_clear()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:  # the secrets' cache (loaded only where secrets live in SSM)
        parameters.clear_caches()

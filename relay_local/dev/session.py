"""One local relay: embedded AWS + Push API stand-in + template.yaml's resources + pollers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3

from relay_local.dev.embedded import EmbeddedAws
from relay_local.dev.hooks_local import LOCAL_HOOK_SECRETS, put_route_secrets
from relay_local.dev.invoker import Invoker, restore_environment
from relay_local.dev.media_host import MediaHost
from relay_local.dev.poller import SqsPoller, pump
from relay_local.dev.stack import LocalStack, create_stack
from relay_local.dev.standin import PushApiStandIn
from relay_local.dev.stream_poller import StreamPoller
from relay_local.template import functions

LOCAL_TOKEN = "local-demo-token"
LOCAL_SIGNING_SECRET = "local-signing-secret"
LOCAL_EVENTS_SECRET = "local-events-secret"
__all__ = ["LOCAL_EVENTS_SECRET", "LOCAL_HOOK_SECRETS", "LOCAL_SIGNING_SECRET", "LOCAL_TOKEN", "LocalRelay"]


@dataclass
class LocalRelay:
    stack_name: str = "relay-local"
    aws_port: int = 0
    api_port: int = 0
    #: extra function environment (e.g. RETRY_BASE_SECONDS=1 in tests)
    env: dict[str, str] = field(default_factory=dict)
    token: str = LOCAL_TOKEN
    #: per-queue attribute overrides (logical id → SQS attributes), e.g. a short VisibilityTimeout
    queue_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    #: extra PushApiStandIn options when start() makes the stand-in (e.g. session_window=True)
    standin_options: dict[str, Any] = field(default_factory=dict)
    #: start a local HTTPS host for the sample webhooks' media URLs (relay_local.dev.media_host) and
    #: send their hosts to it (RELAY_LOCAL_FETCH_HOSTS/RELAY_LOCAL_FETCH_CA): `relay serve`, the demo
    media_host: bool = False
    aws: EmbeddedAws | None = None
    api: PushApiStandIn | None = None
    media: MediaHost | None = None
    stack: LocalStack | None = None
    invoker: Invoker | None = None
    pollers: dict[str, SqsPoller] = field(default_factory=dict)
    #: the ledger's change stream → ResultsFunction (template.yaml's DynamoDB events)
    stream_pollers: dict[str, StreamPoller] = field(default_factory=dict)
    #: the relay's own HTTP API on loopback, once `serve_api()` started it
    server: Any = None
    _own_aws: bool = True

    def start(self, aws: EmbeddedAws | None = None, api: PushApiStandIn | None = None, create: bool = True) -> LocalRelay:
        """Start (or reuse) the embedded AWS and the stand-in, then create the stack on it."""
        self._own_aws = aws is None
        self.aws = aws or EmbeddedAws(port=self.aws_port).start()
        self.aws.activate()
        self.api = api or PushApiStandIn(port=self.api_port, token=self.token, **self.standin_options).start()
        if self.media_host and self.media is None:
            self.media = MediaHost().start()
        self.stack = create_stack(self.aws.endpoint, name=self.stack_name, create=create, queue_attributes=self.queue_attributes)
        if create:  # webhook routes (POST /hooks/{route}) read their secrets from SSM, as on AWS
            put_route_secrets(self.client("ssm"))
        self.invoker = Invoker(self.stack, {**self.function_env(), **self.env})
        self.pollers = {logical_id: SqsPoller(self.invoker, logical_id) for logical_id, spec in functions().items() if spec.sqs_sources}
        self.stream_pollers = {
            logical_id: StreamPoller(self.invoker, logical_id) for logical_id, spec in functions().items() if spec.stream_sources
        }
        return self

    def function_env(self) -> dict[str, str]:
        """What differs locally from AWS: endpoints, the token from env, path-style S3 URLs."""
        assert self.aws is not None and self.api is not None
        return {
            **self.aws.env(),
            "PICKY_API_URL": self.api.url,
            "PICKY_TOKEN": self.token,
            "SIGNING_SECRET": LOCAL_SIGNING_SECRET,
            "EVENTS_SECRET": LOCAL_EVENTS_SECRET,
            "S3_ADDRESSING_STYLE": "path",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            "POWERTOOLS_METRICS_NAMESPACE": "PickyRelayLocal",
            "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
            **(self.media.env() if self.media is not None else {}),
        }

    def client(self, service: str) -> Any:
        assert self.aws is not None and self.stack is not None
        return boto3.client(service, endpoint_url=self.aws.endpoint, region_name=self.stack.region)

    @property
    def bucket(self) -> str:
        assert self.stack is not None
        return self.stack.ref("MediaBucket")

    @property
    def table(self) -> str:
        assert self.stack is not None
        return self.stack.ref("PushLogTable")

    def all_pollers(self) -> list[Any]:
        """Every event source mapping: the queues' pollers, then the streams'."""
        return [*self.pollers.values(), *self.stream_pollers.values()]

    def run_until_idle(self, timeout: float = 120.0) -> bool:
        """Drive every queue and stream → function mapping until nothing is left (as Lambda's pollers would)."""
        return pump(self.all_pollers(), timeout=timeout)

    def serve_api(self, pump: bool = False) -> Any:
        """Serve the relay's API (template.yaml's Api events, relay_local.dev.serve) on loopback and
        point the stand-in at it, so the reports and inbound messages it posts reach the relay's
        `/events/<secret>` and `/inbound/<secret>`. `pump`: also drain the queues in the background
        (tests leave it off and call `run_until_idle`). Stopped with the relay. Returns the server."""
        from relay_local.dev.serve import ApiServer  # imports this module

        assert self.api is not None
        if self.server is None:
            self.server = ApiServer(self, pump=pump).start()
        self.api.connect_relay(self.server.url, LOCAL_EVENTS_SECRET)
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.api is not None:
            self.api.stop()
        if self.media is not None:
            self.media.stop()
            self.media = None
        if self.aws is not None and self._own_aws:
            self.aws.stop()
        restore_environment()

    def __enter__(self) -> LocalRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

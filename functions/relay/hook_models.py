"""Third-party webhooks (POST /hooks/{route}): the shapes shared by the API side and the worker.

- `Route`: one route file, `functions/routes/<route>.json` (shipped in the Lambda bundle: routes are
  code, reviewed in git and deployed with the stack, never read from the bucket at run time; no
  secret in them: `verify.secret_parameter` names an SSM SecureString).
- `HookPush`: what ApiFunction puts on the IngestQueue once a delivery is verified, de-duplicated
  and mapped: a push in the API's own terms plus media by URL, no secret, no payload. IngestFunction
  downloads the media (relay.safe_fetch), checks and plans it like any push.

Every JMESPath expression is evaluated against the envelope `{"body": <the JSON body>, "headers":
{<lower-case name>: <value>}}`, so a condition or a field can read either (Shopify's topic is a
header: `headers."x-shopify-topic" == 'orders/fulfilled'`). Text fields (`message`, template
values and header) are templates: `{<expression>}` is replaced by the expression's value (`{{`/`}}`
for literal braces).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from relay.templates import Session

Scheme = Literal["standard-webhooks", "stripe", "shopify", "github", "hmac-sha256"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HmacSpec(_Strict):
    """The generic scheme: HMAC-SHA256 of `signed` (the raw body, or `<timestamp header>.<raw body>`)."""

    header: str = Field(description="The header carrying the signature, e.g. X-Signature")
    prefix: str = Field(default="", description="Text before the signature in the header, e.g. 'sha256='")
    encoding: Literal["hex", "base64"] = "hex"
    signed: Literal["body", "timestamp.body"] = "body"
    #: for signed = "timestamp.body": the header with the unix timestamp (5-minute tolerance)
    timestamp_header: str | None = None


class Verify(_Strict):
    scheme: Scheme
    #: SSM SecureString holding the secret (several, one per line, during a key rotation)
    secret_parameter: str = Field(pattern=r"^/[A-Za-z0-9_.\-/]+$")
    hmac: HmacSpec | None = None


class DeliveryId(_Strict):
    """Where the sender's delivery id is: exactly one of a header name or a JMESPath expression."""

    header: str | None = None
    expression: str | None = None


class TemplateMapping(_Strict):
    id: str
    language: str
    values: list[str] = Field(default_factory=list, description="Text templates: {expression} filled from the event")
    header: str | None = None
    session: Session = "auto"


class PushMapping(_Strict):
    """Where each push field comes from. `number`, `media_url`, `media_key`, `reference` are JMESPath
    expressions; `message` and the template's values/header are text templates."""

    number: str
    message: str | None = None
    media_url: str | None = None
    media_key: str | None = None
    #: hosts a media URL may be on (redirects included); required with media_url
    media_hosts: list[str] = Field(default_factory=list)
    reference: str | None = None
    application: int | None = Field(default=None, ge=1)
    template: TemplateMapping | None = None


class Route(_Strict):
    verify: Verify
    #: JMESPath condition; a delivery for which it is not true is answered 200 {ignored} and stored nowhere
    when: str | None = None
    delivery_id: DeliveryId
    push: PushMapping


class HookPush(_Strict):
    """A verified, mapped delivery on the IngestQueue (`kind` tells it from S3 notifications)."""

    kind: Literal["hook-push"] = "hook-push"
    route: str
    #: the push id GET /pushes/{id} takes (an HMAC of route + delivery id under the signing secret)
    push_id: str
    delivery_id: str
    number: str
    message: str | None = None
    media_url: str | None = None
    media_hosts: list[str] = Field(default_factory=list)
    media_key: str | None = None
    reference: str | None = None
    application: int | None = None
    template: TemplateMapping | None = None
    received_at: str

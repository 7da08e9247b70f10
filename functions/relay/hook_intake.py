"""POST /hooks/{route}: a third-party delivery → verified, filtered, de-duplicated, mapped, queued.

The order, and what each step answers (README, "Webhooks from other services"):
1. the route (relay.hook_routes): unknown → 404 `{"message": "not found"}`;
2. the signature over the raw body (relay.hook_verify): wrong/missing/stale → 401
   `{"message": "Unauthorized"}`, nothing stored, only the route name and the reason class logged;
3. the body as JSON: malformed → 400 naming `body`;
4. `when` over {body, headers}: not true (JMESPath truthiness: false, null, "", [], {} are not) →
   200 `{"ignored": …}`, stored nowhere;
5. the sender's delivery id: none → 400 naming it (without it a retry could not be recognised and
   would send twice; the sender's retry after the route is fixed is what should happen);
6. the hook item `HOOK#<route>#<delivery id>` (a conditional put): a delivery answered before gets
   that same answer and queues nothing;
7. the push (relay.hook_mapping), its id an HMAC of route + delivery id under the signing secret
   (relay.pushes.request_id_for): deterministic, so every arrival of a delivery names one push;
8. a gap (no number …) → a `rejected` recipient in the ledger with the reason, GET /pushes/{id}
   shows it, answered 200 `{id, rejected}` (a 4xx would make the sender retry for days);
   else the HookPush on the IngestQueue → 202 `{id}`.

Fast by design (Shopify waits 5 s, GitHub 10 s): no media download and no planning here; the
IngestFunction fetches the media and plans (relay.hook_models.HookPush). Until it has, GET
/pushes/{id} answers 200 with no recipients and `state: queued` (not 404: the id was just given
to the sender, and a 404 would read as lost).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from relay.api_guard import json_text_problem
from relay.api_models import ErrorBody, HookAccepted, HookIgnored, Rejected
from relay.hook_mapping import MappingGap, map_push
from relay.hook_models import DeliveryId
from relay.hook_routes import InvalidRoute, RouteBook, search
from relay.hook_verify import Unverified, verify
from relay.ledger import HOOK_QUEUED, HOOK_REJECTED, Ledger
from relay.ledger_items import bounded
from relay.models import Rejection, Source, short_hash, utc_now
from relay.observability import logger
from relay.pushes import request_id_for

#: a HookPush is one SQS message (IngestQueue takes 262,144 bytes); a mapping that makes a larger one
#: (a template value that copies a whole event) is rejected with the reason
MAX_HOOK_PUSH_BYTES = 200_000


@dataclass(frozen=True)
class HookAnswer:
    status: int
    body: BaseModel


def _truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, empty text, list and object are false (0 is true)."""
    return not (value is None or value is False or (isinstance(value, str | list | dict) and not value))


def _delivery_id(where: DeliveryId, envelope: dict[str, Any]) -> str | None:
    """The sender's delivery id (a header, or an expression: text or a number), or None."""
    found = envelope["headers"].get(where.header.lower()) if where.header else search(where.expression or "", envelope)
    text = found if isinstance(found, str) else (json.dumps(found) if isinstance(found, int | float) else "")
    return text.strip() or None


def push_id_for(signing_secret: str, route: str, delivery_id: str) -> str:
    return request_id_for(signing_secret, f"hook\x00{route}\x00{delivery_id}")


class HookIntake:
    def __init__(
        self,
        routes: RouteBook,
        secret: Callable[[str], str],
        signing_secret: Callable[[], str],
        ledger: Ledger,
        sqs: Any,
        queue_url: str,
        media_bucket: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.routes = routes
        self.secret = secret
        self.signing_secret = signing_secret
        self.ledger = ledger
        self.sqs = sqs
        self.queue_url = queue_url
        self.media_bucket = media_bucket
        self.clock = clock

    def receive(self, name: str, headers: Mapping[str, str], raw: bytes) -> HookAnswer:
        try:
            route = self.routes.get(name)
        except InvalidRoute as exc:  # a deploy-time mistake: the sender retries until it is fixed
            logger.error("webhook route invalid", extra={"route": name, "problem": str(exc)})
            return HookAnswer(500, ErrorBody(message=f"route {name} is misconfigured"))
        if route is None:
            return HookAnswer(404, ErrorBody(message="not found"))
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            secret = self.secret(route.verify.secret_parameter)
        except Exception:  # noqa: BLE001 - SSM's errors vary; none may reach the caller
            logger.error("webhook secret unreadable", extra={"route": name, "parameter": route.verify.secret_parameter})
            return HookAnswer(500, ErrorBody(message=f"route {name} cannot verify deliveries now"))
        try:
            verify(route.verify, secret, lower, raw, self.clock)
        except Unverified as exc:
            logger.warning("webhook refused", extra={"route": name, "reason": exc.reason})
            return HookAnswer(401, ErrorBody(message="Unauthorized"))

        problem = json_text_problem(raw)  # not UTF-8, lone surrogates, too deep
        if problem is not None:
            return HookAnswer(400, ErrorBody(message=problem, field="body"))
        try:
            envelope = {"body": json.loads(raw.decode("utf-8")), "headers": lower}
        except json.JSONDecodeError as exc:
            return HookAnswer(
                400, ErrorBody(message=f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", field="body")
            )

        if route.when is not None and not _truthy(search(route.when, envelope)):
            logger.info("webhook ignored", extra={"route": name})
            return HookAnswer(200, HookIgnored(ignored=f"the route's condition is not true for this event: {route.when}"))

        delivery_id = _delivery_id(route.delivery_id, envelope)
        if delivery_id is None:
            where = route.delivery_id
            field = f"headers.{where.header}" if where.header else f"body ({where.expression})"
            return HookAnswer(400, ErrorBody(message=f"no delivery id in the event: {field}", field=field))

        push_id = push_id_for(self.signing_secret(), name, delivery_id)
        first = self.ledger.claim_hook_delivery(name, delivery_id, push_id, self.clock())
        if first is not None:
            logger.info("webhook delivery seen before", extra={"route": name, "push_id": push_id})
            return self._again(first)

        try:
            push = map_push(name, route, envelope, push_id, delivery_id, utc_now())
            # ASCII JSON: SQS refuses some characters JSON leaves as they are (U+FFFE, U+FFFF)
            message = json.dumps(push.model_dump(mode="json", exclude_none=True), ensure_ascii=True, separators=(",", ":"))
            if len(message.encode()) > MAX_HOOK_PUSH_BYTES:
                raise MappingGap("push", f"the mapped push is over {MAX_HOOK_PUSH_BYTES} bytes", push.number)
        except MappingGap as gap:
            return self._reject(name, delivery_id, push_id, gap)
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=message)
        self.ledger.finish_hook_delivery(name, delivery_id, HOOK_QUEUED)
        logger.info("webhook queued", extra={"route": name, "push_id": push_id})
        return HookAnswer(202, HookAccepted(id=push_id))

    def _reject(self, name: str, delivery_id: str, push_id: str, gap: MappingGap) -> HookAnswer:
        """The recipient `rejected` with the reason, where GET /pushes/{id} finds it (an API source)."""
        source = Source(kind="api", bucket=self.media_bucket, key=push_id)
        rejection = Rejection(
            rid=short_hash(source.source_id, 1),
            number=gap.number,
            reason=gap.reason,
            object_pk=source.object_pk,
            source_id=source.source_id,
        )
        self.ledger.write_plan([rejection], [])
        self.ledger.mark_planned([source], {source.object_pk: {"recipients": 0, "rejected": 1}})
        # the number as the event gave it, bounded as the ledger keeps it (an event may send a huge one)
        rejected = [Rejected(number=bounded(number=gap.number)["number"], reason=gap.reason)]
        self.ledger.finish_hook_delivery(name, delivery_id, HOOK_REJECTED, [r.model_dump() for r in rejected])
        logger.info("webhook rejected", extra={"route": name, "push_id": push_id, "field": gap.field})
        return HookAnswer(200, HookAccepted(id=push_id, rejected=rejected))

    @staticmethod
    def _again(first: Mapping[str, Any]) -> HookAnswer:
        if first.get("state") == HOOK_REJECTED:
            rejected = [Rejected.model_validate(r) for r in first.get("rejected") or []]
            return HookAnswer(200, HookAccepted(id=str(first["push_id"]), rejected=rejected))
        return HookAnswer(202, HookAccepted(id=str(first["push_id"])))

"""A verified event → the push its route describes (relay.hook_models.PushMapping), or the gap.

Decisions:
- Every field the route declares must be filled: `number`, `media_url`/`media_key`, every
  placeholder of `message` and of the template's values and header. A gap (the expression finds
  nothing, or an empty text) is a `MappingGap` naming the field: the delivery's recipient is
  `rejected` with that reason (relay.hook_intake), never a push without the invoice. `reference` is
  optional metadata: nothing found, no reference.
- A placeholder's value becomes text: a string as it is, a number or boolean as JSON writes it
  (`42`, `9.5`, `true`), a list or object as compact JSON. `null` is a gap.
- Checks of the values themselves (number format, text rules, template rules, media) are the
  planner's, when the worker plans the push: the same rules and `rejected` reasons as every input.
"""

from __future__ import annotations

import json
from typing import Any

from relay.hook_models import HookPush, Route, TemplateMapping
from relay.hook_routes import placeholders, search


class MappingGap(Exception):
    """The event cannot fill a field the route needs. `number`: what the number expression found,
    if anything (the rejected recipient's number)."""

    def __init__(self, field: str, reason: str, number: str = "") -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.number = number


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _scalar(field: str, expression: str, envelope: dict[str, Any], number: str = "") -> str:
    value = _text(search(expression, envelope))
    if not value:
        raise MappingGap(field, f"{field}: the event has no value at {expression}", number)
    return value


def fill(field: str, template: str, envelope: dict[str, Any], number: str = "") -> str:
    """A text template with each `{expression}` replaced by its value in the event."""
    out = []
    for is_expression, part in placeholders(template):
        if not is_expression:
            out.append(part)
            continue
        value = _text(search(part, envelope))
        if value is None:
            raise MappingGap(field, f"{field}: the event has no value for {{{part}}}", number)
        out.append(value)
    return "".join(out)


def map_push(name: str, route: Route, envelope: dict[str, Any], push_id: str, delivery_id: str, received_at: str) -> HookPush:
    """The HookPush for one verified delivery; raises MappingGap."""
    m = route.push
    number = _scalar("number", m.number, envelope)
    template = None
    if m.template is not None:
        t = m.template
        template = TemplateMapping(
            id=t.id,
            language=t.language,
            values=[fill(f"template.values.{n}", v, envelope, number) for n, v in enumerate(t.values)],
            header=fill("template.header", t.header, envelope, number) if t.header is not None else None,
            session=t.session,
        )
    reference = _text(search(m.reference, envelope)) if m.reference else None
    return HookPush(
        route=name,
        push_id=push_id,
        delivery_id=delivery_id,
        number=number,
        message=fill("message", m.message, envelope, number) if m.message is not None else None,
        media_url=_scalar("media_url", m.media_url, envelope, number) if m.media_url else None,
        media_hosts=list(m.media_hosts),
        media_key=_scalar("media_key", m.media_key, envelope, number) if m.media_key else None,
        reference=reference or None,
        application=m.application,
        template=template,
        received_at=received_at,
    )

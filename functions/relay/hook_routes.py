"""Route files for POST /hooks/{route}: functions/routes/<route>.json, loaded once per container.

Decisions:
- Routes are code: files beside the relay package in the Lambda bundle (CodeUri is functions/),
  reviewed in git and deployed with the stack; never read from the bucket, so whoever can write to
  the bucket cannot change what a verified delivery sends. No secret in them: `verify.secret_parameter`
  names an SSM SecureString under HOOK_SECRETS_PREFIX (the only path ApiFunction may read, template.yaml).
- The directory is resolved from this package's own path, never the working directory. HOOK_ROUTES_DIR
  (local only: tests point it at their own route files) replaces it.
- A name that is not `[a-z0-9][a-z0-9_-]{0,63}` or has no file is unknown (404): the name never
  reaches the file system otherwise. A file that does not validate is a deploy-time mistake
  (tests/unit/test_hook_routes.py validates every file in functions/routes/); at run time it is an
  error (`InvalidRoute`, 500), so the sender retries until the route is fixed rather than losing
  the delivery.
- Every JMESPath expression (`when`, `delivery_id.expression`, the push fields and each `{…}`
  placeholder of the text templates) is compiled when the route is loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import ValidationError

from relay.hook_models import Route

#: functions/routes/, next to the relay package in the bundle
ROUTES_DIR = Path(__file__).resolve().parent.parent / "routes"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
#: the SSM path every route's secret lives under (ApiFunction's role may read only these)
HOOK_SECRETS_PREFIX = "/picky-relay/hooks/"


class InvalidRoute(ValueError):
    """A route file that does not validate (a deploy-time mistake)."""


class TemplateError(ValueError):
    pass


def placeholders(text: str) -> list[tuple[bool, str]]:
    """A text template as parts: (False, literal text) and (True, expression). `{{`/`}}` are literal
    braces; an expression may hold braces and quoted text of its own (`{join(', ', body.tags)}`)."""
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in "{}" and text[i : i + 2] == c * 2:
            literal.append(c)
            i += 2
        elif c == "}":
            raise TemplateError(f"a lone '}}' at character {i + 1} (write '}}}}' for a brace)")
        elif c == "{":
            end = _closing(text, i)
            expression = text[i + 1 : end].strip()
            if not expression:
                raise TemplateError(f"an empty placeholder at character {i + 1}")
            if literal:
                parts.append((False, "".join(literal)))
                literal = []
            parts.append((True, expression))
            i = end + 1
        else:
            literal.append(c)
            i += 1
    if literal:
        parts.append((False, "".join(literal)))
    return parts


def _closing(text: str, start: int) -> int:
    depth, quote = 0, ""
    for j in range(start, len(text)):
        c = text[j]
        if quote:
            if c == "\\":
                continue
            if c == quote and text[j - 1] != "\\":
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return j
    raise TemplateError(f"a '{{' at character {start + 1} is never closed (write '{{{{' for a brace)")


def _expressions(route: Route) -> dict[str, str]:
    """Every JMESPath expression of a route, by where it is (for error messages)."""
    found: dict[str, str] = {}
    push = route.push
    for name, value in (
        ("when", route.when),
        ("delivery_id.expression", route.delivery_id.expression),
        ("push.number", push.number),
        ("push.media_url", push.media_url),
        ("push.media_key", push.media_key),
        ("push.reference", push.reference),
    ):
        if value is not None:
            found[name] = value
    texts = [("push.message", push.message)]
    if push.template is not None:
        texts += [(f"push.template.values.{n}", v) for n, v in enumerate(push.template.values)]
        texts.append(("push.template.header", push.template.header))
    for name, text in texts:
        if text is None:
            continue
        try:
            parts = placeholders(text)
        except TemplateError as exc:
            raise InvalidRoute(f"{name}: {exc}") from None
        for n, (is_expression, part) in enumerate(parts):
            if is_expression:
                found[f"{name}{{{n}}}"] = part
    return found


def check_route(route: Route) -> None:
    """What the models alone do not say: raises InvalidRoute naming the field."""
    verify = route.verify
    if (verify.scheme == "hmac-sha256") != (verify.hmac is not None):
        raise InvalidRoute("verify.hmac: give it with scheme hmac-sha256, and only then")
    if verify.hmac is not None and (verify.hmac.signed == "timestamp.body") != (verify.hmac.timestamp_header is not None):
        raise InvalidRoute("verify.hmac.timestamp_header: give it with signed 'timestamp.body', and only then")
    if not verify.secret_parameter.startswith(HOOK_SECRETS_PREFIX):
        raise InvalidRoute(f"verify.secret_parameter: must be under {HOOK_SECRETS_PREFIX} (the only path ApiFunction may read)")
    if (route.delivery_id.header is None) == (route.delivery_id.expression is None):
        raise InvalidRoute("delivery_id: give exactly one of header, expression")
    if route.push.media_url is not None and not route.push.media_hosts:
        raise InvalidRoute("push.media_hosts: a route with media_url must name the hosts media may come from")
    if route.push.media_url is not None and route.push.media_key is not None:
        raise InvalidRoute("push: give at most one of media_url, media_key")
    for where, expression in _expressions(route).items():
        try:
            jmespath.compile(expression)
        except JMESPathError as exc:
            raise InvalidRoute(f"{where}: not a JMESPath expression: {exc}") from None


def read_route(path: Path) -> Route:
    """One route file, validated; InvalidRoute naming the file and the field."""
    try:
        route = Route.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRoute(f"{path.name}: {'.'.join(map(str, first['loc'])) or 'file'}: {first['msg']}") from None
    try:
        check_route(route)
    except InvalidRoute as exc:
        raise InvalidRoute(f"{path.name}: {exc}") from None
    return route


@dataclass
class RouteBook:
    """The routes of one directory, each read on first use and then kept (one per container)."""

    directory: Path = ROUTES_DIR
    _cache: dict[str, Route | None] = field(default_factory=dict)

    def get(self, name: str) -> Route | None:
        if name not in self._cache:
            self._cache[name] = load_route(name, self.directory)
        return self._cache[name]


def load_route(name: str, directory: Path = ROUTES_DIR) -> Route | None:
    """The route `name`, or None for a name that is not one or has no file (404)."""
    if not NAME.fullmatch(name):
        return None
    path = directory / f"{name}.json"
    if not path.is_file():
        return None
    return read_route(path)


def search(expression: str, envelope: dict[str, Any]) -> Any:
    """A JMESPath expression over the {body, headers} envelope (compiled once per process). An
    expression the event's types make fail (a function given a number where it takes text) finds
    nothing, as a missing field does: the sender's event decides, not a 500."""
    try:
        return _compiled(expression).search(envelope)
    except JMESPathError:
        return None


_COMPILED: dict[str, Any] = {}


def _compiled(expression: str) -> Any:
    found = _COMPILED.get(expression)
    if found is None:
        found = _COMPILED[expression] = jmespath.compile(expression)
    return found

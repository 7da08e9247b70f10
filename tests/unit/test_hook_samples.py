"""The sample webhook routes (functions/routes/*.json) and their signed sample events (events/hook-*.json):
each route file is a valid relay.hook_models.Route whose JMESPath compiles, and each sample event
passes its route's `when` and fills the number, the media and every placeholder of its texts.

The expressions are evaluated here with jmespath directly over the envelope the API builds
({"body": …, "headers": {lower-case name: value}}); the API's own evaluation is relay's hook code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jmespath
import pytest

from relay.hook_models import Route
from relay_local.dev.hooks_local import LOCAL_HOOK_SECRETS, ROUTES_DIR, SAMPLE_MEDIA_KEYS, SAMPLE_MEDIA_URLS, route_names
from relay_local.ops.sign_hook import body_bytes

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLE_ROUTES = {"stripe-invoice", "shopify-fulfilled", "standard"}
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")


def placeholders(text: str) -> list[str]:
    return [m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(1)]


def route(name: str) -> Route:
    return Route.model_validate_json((ROUTES_DIR / f"{name}.json").read_bytes())


def expressions(r: Route) -> list[str]:
    """Every JMESPath expression a route holds, placeholders of its texts included."""
    push = r.push
    found = [push.number, *(e for e in (r.when, r.delivery_id.expression, push.media_url, push.media_key, push.reference) if e)]
    texts = [push.message or ""]
    if push.template:
        texts += [*push.template.values, push.template.header or ""]
    return found + [e for text in texts for e in placeholders(text)]


def envelope(name: str) -> dict:
    event = json.loads((EVENTS / f"hook-{name}.json").read_text())
    return {"body": json.loads(body_bytes(event)), "headers": {k.lower(): v for k, v in event["headers"].items()}}


def test_given_the_routes_folder_then_it_holds_the_three_samples_each_with_a_local_secret():
    assert SAMPLE_ROUTES <= set(route_names())
    assert SAMPLE_ROUTES <= set(LOCAL_HOOK_SECRETS)


@pytest.mark.parametrize("name", route_names())
def test_given_a_route_file_then_it_is_a_valid_route_whose_expressions_all_compile(name):
    # Given the file as deployed; When it is read as the API reads it (strict: no extra keys)
    r = route(name)
    # Then every expression, placeholders of its texts included, is JMESPath that compiles
    for expression in expressions(r):
        jmespath.compile(expression)
    assert (r.delivery_id.header is None) != (r.delivery_id.expression is None)
    # a media URL is only fetched from the hosts the route names
    assert not r.push.media_url or r.push.media_hosts
    # and no secret is in it: only the SSM parameter's name
    text = (ROUTES_DIR / f"{name}.json").read_text()
    assert r.verify.secret_parameter.startswith("/picky-relay/hooks/")
    assert not any(secret in text for secret in LOCAL_HOOK_SECRETS.values())


@pytest.mark.parametrize("name", sorted(SAMPLE_ROUTES))
def test_given_a_sample_event_when_its_route_maps_it_then_when_holds_and_number_media_and_texts_are_filled(name):
    # Given the sample event's envelope and its route
    r, env = route(name), envelope(name)
    # When the condition and each field are evaluated
    # Then the event is one the route acts on
    assert jmespath.search(r.when, env) is True if r.when else True
    # the number has the digits of a real number, the media is there
    assert re.sub(r"\D", "", str(jmespath.search(r.push.number, env))).startswith("447700900")
    media_url = jmespath.search(r.push.media_url, env) if r.push.media_url else None
    media_key = jmespath.search(r.push.media_key, env) if r.push.media_key else None
    assert media_url or media_key
    if media_url:  # on a host the route allows, and one the local stack serves
        assert media_url.startswith("https://") and media_url.split("/")[2] in r.push.media_hosts
        assert media_url in SAMPLE_MEDIA_URLS
    if media_key:  # under the prefix the API takes keys from, and one the local stack puts there
        assert media_key.startswith("media/") and media_key in SAMPLE_MEDIA_KEYS
    # the delivery id is there, and every placeholder of every text has a value
    delivery = env["headers"].get(r.delivery_id.header.lower()) if r.delivery_id.header else jmespath.search(r.delivery_id.expression, env)
    assert delivery
    assert r.push.reference is None or jmespath.search(r.push.reference, env)
    for expression in expressions(r)[1:]:
        assert jmespath.search(expression, env) not in (None, ""), expression


def test_given_the_stripe_sample_then_it_is_the_invoice_pdf_to_the_customer_phone_with_number_and_sender():
    r, env = route("stripe-invoice"), envelope("stripe-invoice")
    invoice = env["body"]["data"]["object"]
    assert jmespath.search(r.push.number, env) == invoice["customer_phone"] == "+447700900123"
    assert jmespath.search(r.push.media_url, env) == invoice["invoice_pdf"]
    assert jmespath.search(r.push.reference, env) == invoice["id"]
    assert jmespath.search(r.delivery_id.expression, env) == env["body"]["id"] and env["body"]["id"].startswith("evt_")
    filled = [str(jmespath.search(e, env)) for e in placeholders(r.push.message or "")]
    assert invoice["number"] in filled and invoice["account_name"] in filled


def test_given_a_stripe_invoice_without_customer_phone_then_the_shipping_phone_is_used():
    r = route("stripe-invoice")
    env = {"body": {"data": {"object": {"customer_phone": None, "customer_shipping": {"phone": "+447700900999"}}}}, "headers": {}}
    assert jmespath.search(r.push.number, env) == "+447700900999"


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("stripe-invoice", lambda env: env["body"].update(type="invoice.paid")),
        ("shopify-fulfilled", lambda env: env["headers"].update({"x-shopify-topic": "orders/create"})),
        ("standard", lambda env: env["body"].update(type="document.deleted")),
    ],
)
def test_given_another_event_type_then_the_route_condition_is_false(name, change):
    # Given a sample event of another type
    r, env = route(name), envelope(name)
    change(env)
    # Then its route ignores it
    assert jmespath.search(r.when, env) is not True

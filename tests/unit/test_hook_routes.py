"""Webhook route files (relay.hook_routes): every shipped route validates; names, placeholders and the
checks the models alone do not make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.hook_routes import HOOK_SECRETS_PREFIX, ROUTES_DIR, InvalidRoute, RouteBook, TemplateError, load_route, placeholders, read_route

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "routes"
SHIPPED = sorted(ROUTES_DIR.glob("*.json"))


def test_given_the_bundle_then_the_routes_directory_is_functions_routes_wherever_the_process_runs(monkeypatch, tmp_path):
    # Given a working directory that is not the project's
    monkeypatch.chdir(tmp_path)
    # Then the routes are still looked for beside the relay package, in the bundle
    assert ROUTES_DIR == Path(__file__).resolve().parents[2] / "functions" / "routes"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_given_a_route_file_in_functions_routes_then_it_validates_and_its_name_is_a_route_name(path):
    # a file that does not validate is a deploy-time mistake: this test is where it shows
    route = read_route(path)
    assert load_route(path.stem) == route, f"{path.name}: its name is not a route name ([a-z0-9][a-z0-9_-]{{0,63}})"
    assert route.verify.secret_parameter.startswith(HOOK_SECRETS_PREFIX)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_given_the_test_route_files_then_they_validate(path):
    assert read_route(path).verify.secret_parameter.startswith(HOOK_SECRETS_PREFIX)


@pytest.mark.parametrize("name", ["", "Stripe", "../test-stripe", "test-stripe.json", "-x", "a" * 65, "test stripe", "test-stripe/"])
def test_given_a_name_that_is_not_a_route_name_then_no_route(name):
    assert load_route(name, FIXTURES) is None


def test_given_a_route_name_with_no_file_then_no_route():
    assert load_route("test-nothing-here", FIXTURES) is None


def test_given_a_route_book_then_a_route_is_read_once(tmp_path):
    # Given a route read through a book
    (tmp_path / "r1.json").write_bytes((FIXTURES / "test-github.json").read_bytes())
    book = RouteBook(tmp_path)
    first = book.get("r1")
    # When the file changes on disk (it does not, in a deployed bundle)
    (tmp_path / "r1.json").write_text("{}")
    # Then the container keeps what it read
    assert book.get("r1") is first is not None


def _route(**changes) -> dict:
    route = json.loads((FIXTURES / "test-stripe.json").read_text())
    for dotted, value in changes.items():
        node = route
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[p]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return route


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"when": "body.type =="}, "when: not a JMESPath expression"),
        ({"delivery_id__expression": "body.[id"}, "delivery_id.expression: not a JMESPath expression"),
        ({"delivery_id__header": "Stripe-Id"}, "delivery_id: give exactly one of header, expression"),
        ({"push__number": "body..phone"}, "push.number: not a JMESPath expression"),
        ({"push__message": "Hi {body.[name}"}, "push.message{1}: not a JMESPath expression"),
        ({"push__message": "Hi {body.name"}, "push.message: a '{' at character 4 is never closed"),
        ({"push__message": "Hi } there"}, "push.message: a lone '}'"),
        ({"push__media_hosts": []}, "push.media_hosts"),
        ({"push__media_key": "body.key"}, "push: give at most one of media_url, media_key"),
        ({"verify__secret_parameter": "/elsewhere/stripe"}, f"must be under {HOOK_SECRETS_PREFIX}"),
        ({"verify__hmac": {"header": "X-Sig"}}, "verify.hmac: give it with scheme hmac-sha256"),
        ({"verify__scheme": "paypal"}, "verify.scheme"),
        ({"push__number": None}, "push.number: Field required"),
        ({"push__colour": "red"}, "push.colour: Extra inputs are not permitted"),
    ],
)
def test_given_a_route_file_with_a_mistake_then_it_is_refused_naming_the_field(tmp_path, changes, says):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_route(**changes)))
    with pytest.raises(InvalidRoute) as caught:
        read_route(path)
    assert str(caught.value).startswith("bad.json: ") and says in str(caught.value), str(caught.value)


def test_given_a_generic_route_signing_a_timestamp_without_naming_its_header_then_refused(tmp_path):
    route = json.loads((FIXTURES / "test-generic.json").read_text())
    del route["verify"]["hmac"]["timestamp_header"]
    (tmp_path / "g.json").write_text(json.dumps(route))
    with pytest.raises(InvalidRoute, match="timestamp_header"):
        read_route(tmp_path / "g.json")


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("Hi {body.name}!", [(False, "Hi "), (True, "body.name"), (False, "!")]),
        ("{{literal}} {a}", [(False, "{literal} "), (True, "a")]),
        ("{join(', ', body.tags)}", [(True, "join(', ', body.tags)")]),
        ("{body.{n: name}}", [(True, "body.{n: name}")]),
        ('{body."we}ird"}', [(True, 'body."we}ird"')]),
        ("plain", [(False, "plain")]),
    ],
)
def test_given_a_text_template_then_its_literal_parts_and_expressions(text, parts):
    assert placeholders(text) == parts


@pytest.mark.parametrize("text", ["{}", "{ }", "a}b", "{a"])
def test_given_a_broken_text_template_then_template_error(text):
    with pytest.raises(TemplateError):
        placeholders(text)

"""Local webhook routes: the route files (functions/routes/<route>.json), their LOCAL test secrets,
and putting those secrets where ApiFunction reads them (the embedded SSM), so a signed sample event
(events/hook-*.json, `relay sign-hook`) verifies on `relay serve`, `relay invoke` and in tests.

Every secret here is a made-up local constant, never a real one: a deployed stack reads each route's
secret from the SSM SecureString its file names (`verify.secret_parameter`), put there by whoever
connects the sender (README, "Webhooks from other services")."""

from __future__ import annotations

import base64
from typing import Any

from relay.hook_models import Route
from relay_local.template import FUNCTIONS, ROOT

ROUTES_DIR = FUNCTIONS / "routes"
SAMPLES = ROOT / "samples" / "media"

#: the sample routes' local secrets. Standard Webhooks secrets are `whsec_` + base64 of the key
#: bytes; Stripe's is used as is (`whsec_…` included); Shopify's/GitHub's are plain strings.
LOCAL_HOOK_SECRETS = {
    "stripe-invoice": "whsec_local_stripe_invoice_test_secret",
    "shopify-fulfilled": "local-shopify-fulfilled-client-secret",
    "standard": "whsec_" + base64.b64encode(b"local-standard-webhooks-secret-0").decode(),
}

#: what the local stack must serve for each sample event's media, so the relay's fetcher can download
#: it: the sample media URL → the file with its bytes. The fetcher refuses loopback addresses, so these
#: hosts are reachable locally only through a local-only mapping of host → local HTTPS server (wired
#: by `relay serve`/the demo, never in a deployed stack).
SAMPLE_MEDIA_URLS = {
    "https://pay.stripe.com/invoice/acct_1PzLocalRelay00001/test_YWNjdF8xUHpMb2NhbFJlbGF5MDAwMDEsX1JlbGF5SW52b2ljZTAwNDI/pdf?s=ap": (
        SAMPLES / "invoice.pdf"
    ),
    "https://files.example.com/documents/doc_2Lx9QeV7/statement-2026-11.pdf": SAMPLES / "invoice.pdf",
}
#: bucket objects the sample events name by key (Shopify's packing slip for order 1001)
SAMPLE_MEDIA_KEYS = {"media/packing-slips/1001.pdf": SAMPLES / "invoice.pdf"}


def route_names() -> list[str]:
    return sorted(p.stem for p in ROUTES_DIR.glob("*.json"))


def load_route(name: str) -> Route:
    """The route file `functions/routes/<name>.json` (KeyError naming the routes there if none)."""
    path = ROUTES_DIR / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"no route {name!r} in functions/routes/ (there: {', '.join(route_names()) or 'none'})")
    return Route.model_validate_json(path.read_bytes())


def local_hook_secret(name: str, route: Route | None = None) -> str:
    """The local secret of a route: the sample's constant, else one derived from the route's name (in
    the shape its scheme expects), so a route file someone adds works locally without a step."""
    if name in LOCAL_HOOK_SECRETS:
        return LOCAL_HOOK_SECRETS[name]
    route = route or load_route(name)
    derived = f"local-{name}-secret"
    if route.verify.scheme == "standard-webhooks":
        return "whsec_" + base64.b64encode(derived.encode()).decode()
    return derived


def put_route_secrets(ssm: Any) -> dict[str, str]:
    """Every route file's `secret_parameter` gets its route's local secret as an SecureString in the
    (embedded) SSM `ssm`. Two routes naming one parameter must share a secret: refused otherwise.
    Returns {parameter: route}."""
    written: dict[str, str] = {}
    values: dict[str, str] = {}
    for name in route_names():
        route = load_route(name)
        parameter, secret = route.verify.secret_parameter, local_hook_secret(name, route)
        if parameter in values and values[parameter] != secret:
            raise ValueError(
                f"routes {written[parameter]!r} and {name!r} name one secret parameter {parameter} with different local secrets"
            )
        ssm.put_parameter(Name=parameter, Value=secret, Type="SecureString", Overwrite=True)
        written[parameter], values[parameter] = name, secret
    return written


def put_sample_media(s3: Any, bucket: str) -> list[str]:
    """The bucket objects the sample events name by key (SAMPLE_MEDIA_KEYS), so they work locally."""
    for key, path in SAMPLE_MEDIA_KEYS.items():
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="application/pdf")
    return sorted(SAMPLE_MEDIA_KEYS)


def resign_if_hook(event: dict[str, Any]) -> dict[str, Any] | None:
    """A `POST /hooks/<route>` event signed now with its route's local secret; None for other events."""
    from relay_local.ops.sign_hook import resign_hook

    name = str((event.get("pathParameters") or {}).get("route") or "")
    if event.get("resource") != "/hooks/{route}" or not name or not (ROUTES_DIR / f"{name}.json").is_file():
        return None
    route = load_route(name)
    return resign_hook(event, name, route, local_hook_secret(name, route))

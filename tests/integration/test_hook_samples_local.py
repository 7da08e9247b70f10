"""The sample webhook routes on the local stack: their secrets in the embedded SSM (as on AWS, where
ApiFunction reads each route's `verify.secret_parameter`), and the signed samples through `relay
serve` over real HTTP once POST /hooks/{route} exists."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from relay_local.dev.hooks_local import load_route, local_hook_secret, put_sample_media, resign_if_hook, route_names
from relay_local.dev.serve import ApiServer
from relay_local.ops.sign_hook import body_bytes, curl_command

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_given_a_local_stack_then_every_route_files_secret_parameter_is_a_securestring_holding_its_local_secret(relay):
    # Given a local stack (LocalRelay.start, as relay serve/local/invoke/demo make it)
    ssm = relay.client("ssm")
    # Then each route file's parameter is in its SSM, encrypted, with the secret the samples are signed with
    for name in route_names():
        route = load_route(name)
        found = ssm.get_parameter(Name=route.verify.secret_parameter, WithDecryption=True)["Parameter"]
        assert found["Type"] == "SecureString"
        assert found["Value"] == local_hook_secret(name, route)


def test_given_a_local_stack_when_sample_media_is_put_then_the_shopify_packing_slip_is_in_the_bucket(relay, sample):
    keys = put_sample_media(relay.client("s3"), relay.bucket)
    assert keys == ["media/packing-slips/1001.pdf"]
    got = relay.client("s3").get_object(Bucket=relay.bucket, Key=keys[0])["Body"].read()
    assert got == sample("invoice.pdf") and got.startswith(b"%PDF")


def send(http: httpx.Client, name: str, tmp_path: Path) -> httpx.Response:
    """Post a sample as `relay sign-hook --curl` would send it: its headers, its body byte for byte."""
    event = resign_if_hook(json.loads((EVENTS / f"hook-{name}.json").read_text()))
    assert event is not None
    curl_command(event, f"{http.base_url}/hooks/{name}", tmp_path / name)  # writes the body file
    headers = {k: v for k, v in event["headers"].items() if k.lower() not in {"host", "content-length"}}
    return http.post(f"/hooks/{name}", content=(tmp_path / name).read_bytes(), headers=headers)


def test_given_relay_serve_when_the_signed_samples_arrive_twice_then_each_is_accepted_once(relay, tmp_path):
    """Runs once POST /hooks/{route} is served (the API's hook routes, relay.hook_routes)."""
    pytest.importorskip("relay.hook_routes")
    put_sample_media(relay.client("s3"), relay.bucket)
    with ApiServer(relay, pump=False) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        for name in ("stripe-invoice", "shopify-fulfilled", "standard"):
            # When the sample is sent, then sent again (the sender's retry of one delivery)
            first = send(http, name, tmp_path)
            again = send(http, name, tmp_path)
            # Then it is verified and queued (202 with the push id), and the retry gets the first answer
            assert first.status_code == 202, (name, first.text)
            assert first.json().get("id")
            assert (again.status_code, again.json()) == (first.status_code, first.json())
        # and the sample file as committed (its signature long stale) is refused
        event = json.loads((EVENTS / "hook-standard.json").read_text())
        assert body_bytes(event)
        stale = http.post(
            "/hooks/standard",
            content=body_bytes(event),
            headers={"Content-Type": "application/json", **{k: v for k, v in event["headers"].items() if k.lower().startswith("webhook-")}},
        )
        assert stale.status_code == 401

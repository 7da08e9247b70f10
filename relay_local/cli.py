"""`relay`: the project's local tool (demo, local stack, Docker-free invoke)."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

STATE_FILE = Path(".relay-local.json")


def _demo(args: argparse.Namespace) -> int:
    from relay_local.demo import main

    return main()


def _local(args: argparse.Namespace) -> int:
    from relay_local.session import LocalRelay

    relay = LocalRelay(aws_port=args.aws_port, api_port=args.api_port).start()
    assert relay.aws and relay.api and relay.stack
    STATE_FILE.write_text(json.dumps({"endpoint": relay.aws.endpoint, "api_url": relay.api.url, "stack": relay.stack.name}))
    print("# embedded AWS and Push API stand-in are up; paste these into another shell:")
    for name, value in relay.aws.env().items():
        print(f"export {name}={value}")
    print(f"export MEDIA_BUCKET={relay.bucket}")
    print(f"export PUSH_LOG_TABLE={relay.table}")
    print(f"export SEND_QUEUE_URL={relay.stack.ref('SendQueue')}")
    print(f"export PICKY_API_URL={relay.api.url}")
    print("# then e.g.: aws s3 cp photo.jpg s3://$MEDIA_BUCKET/outbox/447700900123/photo.jpg")
    print(f"# what the stand-in received: curl -s {relay.api.base_url}/_requests")
    print("# uploads are processed as they arrive; Ctrl-C stops everything.", flush=True)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop:
            if not sum(p.poll_once() for p in relay.pollers.values()):
                time.sleep(0.5)
    finally:
        STATE_FILE.unlink(missing_ok=True)
        relay.stop()
    return 0


def _invoke(args: argparse.Namespace) -> int:
    from relay_local.demo import upload_samples
    from relay_local.embedded import EmbeddedAws
    from relay_local.session import LocalRelay

    from relay_local.template import functions

    if args.function not in functions():
        print(f"relay: template.yaml has no function {args.function!r} (it has: {', '.join(sorted(functions()))})", file=sys.stderr)
        return 2
    try:
        event = json.loads(Path(args.event).read_text()) if args.event else {}
    except (OSError, ValueError) as exc:
        print(f"relay: cannot read the event {args.event}: {exc}", file=sys.stderr)
        return 2
    if any(k.lower() == "x-relay-signature" for k in (event.get("headers") or {})):
        event = resign(event)
        print("# signed the event's body afresh with the local signing secret", file=sys.stderr)
    extra = dict(pair.split("=", 1) for pair in args.env or [])
    relay = LocalRelay(env=extra)
    if STATE_FILE.exists():  # a `relay local` is running: use its stack
        state = json.loads(STATE_FILE.read_text())
        relay.stack_name = state["stack"]
        aws = EmbeddedAws(port=int(state["endpoint"].rsplit(":", 1)[1]))
        relay.start(aws=aws, create=False)
        relay.api.stop()
        relay.invoker.extra_env["PICKY_API_URL"] = state["api_url"]
        print(f"# using the running local stack at {state['endpoint']}", file=sys.stderr)
    else:
        relay.start()
        upload_samples(relay)
        print("# a fresh embedded stack with the sample media uploaded (start `relay local` to keep one)", file=sys.stderr)
        post_first(relay, args.function, event)
    try:
        result = relay.invoker.invoke(args.function, event)
        print(json.dumps(result, indent=2, default=str))
        if not STATE_FILE.exists() and relay.api.requests:
            print(f"# the Push API stand-in received {len(relay.api.requests)} request(s):", file=sys.stderr)
            for req in relay.api.requests:
                print(json.dumps({"request": req.body_without_token(), "answer": req.response_body}, indent=2), file=sys.stderr)
        return 0
    finally:
        relay.stop()


def _openapi(args: argparse.Namespace) -> int:
    from relay_local.openapi import document

    sys.stdout.write(document())
    return 0


def _serve(args: argparse.Namespace) -> int:
    from relay_local.serve import ApiServer
    from relay_local.session import LOCAL_EVENTS_SECRET, LOCAL_SIGNING_SECRET, LocalRelay

    relay = LocalRelay(aws_port=args.aws_port, api_port=args.api_port).start()
    server = ApiServer(relay, port=args.port).start()
    assert relay.aws and relay.api
    print(f"# relay API on {server.url} (template.yaml's Api events), embedded AWS on {relay.aws.endpoint},"
          f" Push API stand-in on {relay.api.url}")
    print(f"export RELAY_URL={server.url}")
    print(f"export RELAY_SIGNING_SECRET={LOCAL_SIGNING_SECRET}")
    print(f"# vendor Event Webhook: {server.url}/events/{LOCAL_EVENTS_SECRET}")
    for name, value in relay.aws.env().items():
        print(f"export {name}={value}")
    print(f"export MEDIA_BUCKET={relay.bucket}")
    print("# sign and send a push: see README, 'Signing requests'. Ctrl-C stops.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        server.stop()
        relay.stop()
    return 0


def resign(event: dict, secret: str | None = None) -> dict:
    """An API Gateway event whose X-Relay-Signature is made now (event files go stale in 5 minutes):
    over the body for a POST, over `GET /pushes/<id>` for a status read (relay.signing)."""
    from relay.signing import sign, sign_status
    from relay_local.session import LOCAL_SIGNING_SECRET

    secret = secret or LOCAL_SIGNING_SECRET
    headers = {k: v for k, v in (event.get("headers") or {}).items() if not k.lower().startswith("x-relay-")}
    if event.get("httpMethod") == "GET":
        headers.update(sign_status(secret, str((event.get("pathParameters") or {}).get("id") or "")))
    else:
        body = event.get("body") or ""
        headers.update(sign(secret, base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()))
    return {**event, "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()}}


def post_first(relay: object, function: str, event: dict) -> None:
    """On a fresh stack, a status read (`events/api-get-push.json`) would only ever find nothing: post
    `events/api-post-pushes.json` first, so the GET answers the push that file creates (its id is
    derived from the file's Idempotency-Key and the local signing secret)."""
    if function != "ApiFunction" or event.get("httpMethod") != "GET" or event.get("resource") != "/pushes/{id}":
        return
    post = resign(json.loads((Path(__file__).resolve().parents[1] / "events" / "api-post-pushes.json").read_text()))
    created = relay.invoker.invoke("ApiFunction", post)  # type: ignore[attr-defined]
    print(f"# posted events/api-post-pushes.json first (a fresh stack has no push): {created['statusCode']} {created['body']}",
          file=sys.stderr)


def _sign_event(args: argparse.Namespace) -> int:
    """`relay sign-event FILE`: the event, signed now; one clear line and exit 2 when it cannot be."""
    try:
        event = json.loads(Path(args.event).read_text())
    except OSError as exc:
        print(f"relay: cannot read {args.event}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"relay: {args.event} is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(event, dict) or not isinstance(event.get("httpMethod"), str):
        print(f"relay: {args.event} is not an API Gateway REST (v1) proxy event (no httpMethod)", file=sys.stderr)
        return 2
    try:
        print(json.dumps(resign(event, args.secret), indent=2))
    except (ValueError, TypeError) as exc:  # a base64 body that is not base64, a body that is not text
        print(f"relay: cannot sign {args.event}: {exc}", file=sys.stderr)
        return 2
    return 0


def _redrive(args: argparse.Namespace) -> int:
    """Dead-lettered jobs (or S3 notifications, with --ingest) back to their queue."""
    import boto3

    from relay.ledger import Ledger
    from relay.redrive import redrive

    source, target = ("IngestDeadLetterQueue", "IngestQueue") if args.ingest else ("SendDeadLetterQueue", "SendQueue")
    if args.stack:  # a deployed stack: its resources by logical id
        cfn = boto3.client("cloudformation")

        def physical(logical_id: str) -> str:
            return cfn.describe_stack_resource(StackName=args.stack, LogicalResourceId=logical_id)[
                "StackResourceDetail"]["PhysicalResourceId"]

        sqs, ddb = boto3.client("sqs"), boto3.client("dynamodb")
    elif STATE_FILE.exists():  # a running `relay local`
        from relay_local.stack import create_stack

        state = json.loads(STATE_FILE.read_text())
        stack = create_stack(state["endpoint"], name=state["stack"], create=False)
        sqs = boto3.client("sqs", endpoint_url=state["endpoint"], region_name=stack.region)
        ddb = boto3.client("dynamodb", endpoint_url=state["endpoint"], region_name=stack.region)

        def physical(logical_id: str) -> str:
            return stack.ref(logical_id)
    else:
        print("relay: give --stack NAME (deployed), or run `relay local` first", file=sys.stderr)
        return 2
    report = redrive(sqs, physical(source), physical(target), Ledger(ddb, physical("PushLogTable")), limit=args.limit)
    print(f"moved {report.moved} message(s) from {source} to {target}; {report.jobs_reset} push job(s) reset to retry")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="relay", description="Picky Assist media relay: local tools")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the main job on the embedded stack and show the ledger").set_defaults(func=_demo)
    local = sub.add_parser("local", help="run the embedded AWS + Push API stand-in in the foreground")
    local.add_argument("--aws-port", type=int, default=4566)
    local.add_argument("--api-port", type=int, default=8089)
    local.set_defaults(func=_local)
    inv = sub.add_parser("invoke", help="run one function of template.yaml in-process (Docker-free `sam local invoke`)")
    inv.add_argument("function", help="logical id, e.g. IngestFunction")
    inv.add_argument("-e", "--event", help="event JSON file (e.g. events/s3-put-outbox.json)")
    inv.add_argument("--env", action="append", metavar="NAME=VALUE", help="extra function environment (repeatable)")
    inv.set_defaults(func=_invoke)
    serve = sub.add_parser("serve", help="serve template.yaml's API on 127.0.0.1 (Docker-free `sam local start-api`)")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--aws-port", type=int, default=0)
    serve.add_argument("--api-port", type=int, default=0, help="Push API stand-in port")
    serve.set_defaults(func=_serve)
    sub.add_parser("soak", help="the guarantees under injected faults, with figures (`relay soak -n 500`, make soak)")
    red = sub.add_parser("redrive", help="move dead-lettered jobs back to the send queue once the cause is fixed")
    red.add_argument("--stack", help="a deployed stack's name (else the running `relay local`)")
    red.add_argument("--ingest", action="store_true", help="the ingest dead-letter queue instead of the send one")
    red.add_argument("--limit", type=int, help="move at most this many")
    red.set_defaults(func=_redrive)
    sub.add_parser("openapi", help="print the API's OpenAPI document (docs/openapi.json)").set_defaults(func=_openapi)
    sign = sub.add_parser("sign-event", help="print an API Gateway event with a fresh X-Relay-Signature"
                                             " (over the body for POST, over `GET /pushes/<id>` for GET)")
    sign.add_argument("event", help="API Gateway REST (v1) proxy event JSON file, e.g. events/api-get-push.json")
    sign.add_argument("--secret", help="signing secret (default: the local one, as `relay serve`/`relay local` use)")
    sign.set_defaults(func=_sign_event)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["soak"]:  # its own options
        from relay_local.soak import main as soak_main

        return soak_main(argv[1:])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""`relay`: the one command in front of the local tools (relay_local.dev, .ops, .bench).

Errors a user can meet (a busy port, a missing file, no AWS credentials, a stale state file) end
the command with ONE line on stderr, `relay: <what went wrong and what to do>`, and a non-zero exit
(2 for a usage or environment problem, 1 for anything unexpected). `RELAY_DEBUG=1` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from relay.version import __version__
from relay_local.dev.ports import PortBusy, answers, ensure_free
from relay_local.ops.sign_event import resign

if TYPE_CHECKING:  # importing the dev stack costs every `relay` command (moto): only where it runs
    from relay_local.dev.session import LocalRelay

STATE_FILE = Path(".relay-local.json")
#: `relay serve --session-window`: the stand-in's delivery reports reach the relay this long after the push
REPORT_DELAY_SECONDS = 1.0


class CliError(Exception):
    """A problem the user can fix: printed as one line, exit status 2."""


def _read_event(path: str) -> dict[str, Any]:
    try:
        event = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CliError(f"no event file {path}") from None
    except OSError as exc:
        raise CliError(f"cannot read the event file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliError(f"the event file {path} is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise CliError(f"the event file {path} holds a JSON {type(event).__name__}, not an event object")
    return event


def _local_state() -> dict[str, str] | None:
    """The running `relay local`'s endpoints, from STATE_FILE in this directory, or None.

    A stale file (its `relay local` was killed, so nothing answers at its endpoint) or a damaged one
    is removed with a one-line note, and the command goes on as if there were none."""
    if not STATE_FILE.exists():
        return None
    try:
        state = json.loads(STATE_FILE.read_text())
        endpoint = str(state["endpoint"])
        state["api_url"], state["stack"]  # noqa: B018 - all three must be there
    except (OSError, ValueError, KeyError, TypeError):
        why = "it is damaged"
    else:
        if answers(endpoint):
            return state
        why = f"nothing answers at {endpoint} (its `relay local` is gone)"
    STATE_FILE.unlink(missing_ok=True)
    print(f"relay: note: removed the stale {STATE_FILE}: {why}", file=sys.stderr)
    return None


def _demo(args: argparse.Namespace) -> int:
    from relay_local.dev.demo import main

    return main()


def _local(args: argparse.Namespace) -> int:
    from relay_local.dev.session import LocalRelay

    running = _local_state()
    if running:
        raise CliError(f"a `relay local` is already running from this directory ({running['endpoint']}); stop it first")
    ensure_free(args.aws_port, flag="--aws-port")
    ensure_free(args.api_port, flag="--api-port")
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
            if not sum(p.poll_once() for p in relay.all_pollers()):
                time.sleep(0.5)
    finally:
        STATE_FILE.unlink(missing_ok=True)
        relay.stop()
    return 0


def _invoke(args: argparse.Namespace) -> int:
    from relay_local.dev.demo import upload_samples
    from relay_local.dev.embedded import EmbeddedAws
    from relay_local.dev.hooks_local import put_sample_media, resign_if_hook
    from relay_local.dev.session import LocalRelay
    from relay_local.template import functions

    if args.function not in functions():
        print(f"relay: template.yaml has no function {args.function!r} (it has: {', '.join(sorted(functions()))})", file=sys.stderr)
        return 2
    event = _read_event(args.event) if args.event else {}
    if any(k.lower() == "x-relay-signature" for k in (event.get("headers") or {})):
        event = resign(event)
        print("# signed the event's body afresh with the local signing secret", file=sys.stderr)
    elif (hook := resign_if_hook(event)) is not None:
        event = hook
        print(f"# signed the webhook afresh with route {event['pathParameters']['route']}'s local secret", file=sys.stderr)
    bad = [pair for pair in args.env or [] if "=" not in pair]
    if bad:
        raise CliError(f"--env takes NAME=VALUE, got {bad[0]!r}")
    extra = dict(pair.split("=", 1) for pair in args.env or [])
    relay = LocalRelay(env=extra)
    state = _local_state()
    if state:  # a `relay local` is running: use its stack
        relay.stack_name = state["stack"]
        aws = EmbeddedAws(port=int(state["endpoint"].rsplit(":", 1)[1]))
        relay.start(aws=aws, create=False)
        relay.api.stop()
        relay.invoker.extra_env["PICKY_API_URL"] = state["api_url"]
        print(f"# using the running local stack at {state['endpoint']}", file=sys.stderr)
    else:
        relay.start()
        upload_samples(relay)
        put_sample_media(relay.client("s3"), relay.bucket)
        print("# a fresh embedded stack with the sample media uploaded (start `relay local` to keep one)", file=sys.stderr)
        post_first(relay, args.function, event)
    try:
        result = relay.invoker.invoke(args.function, event)
        print(json.dumps(result, indent=2, default=str))
        if not state and relay.api.requests:
            print(f"# the Push API stand-in received {len(relay.api.requests)} request(s):", file=sys.stderr)
            for req in relay.api.requests:
                print(json.dumps({"request": req.body_without_token(), "answer": req.response_body}, indent=2), file=sys.stderr)
        return 0
    finally:
        relay.stop()


def _openapi(args: argparse.Namespace) -> int:
    from relay_local.ops.openapi import document

    sys.stdout.write(document())
    return 0


def _serve(args: argparse.Namespace) -> int:
    from relay_local.dev.hooks_local import put_sample_media, route_names
    from relay_local.dev.serve import ApiServer
    from relay_local.dev.session import LOCAL_EVENTS_SECRET, LOCAL_SIGNING_SECRET, LocalRelay

    ensure_free(args.port, flag="--port")
    ensure_free(args.aws_port, flag="--aws-port")
    ensure_free(args.api_port, flag="--api-port")
    window = {"session_window": True, "report_delay": REPORT_DELAY_SECONDS} if args.session_window else {}
    relay = LocalRelay(aws_port=args.aws_port, api_port=args.api_port, standin_options=window, media_host=True).start()
    try:
        server = ApiServer(relay, port=args.port).start()
    except OSError as exc:  # taken between the check and now
        relay.stop()
        raise PortBusy(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc}); choose another with --port") from None
    assert relay.aws and relay.api
    # the stand-in posts inbound messages (POST /_inbound) and its delivery reports here
    relay.api.connect_relay(server.url, LOCAL_EVENTS_SECRET)
    print(
        f"# relay API on {server.url} (template.yaml's Api events), embedded AWS on {relay.aws.endpoint},"
        f" Push API stand-in on {relay.api.url}"
    )
    print(f"export RELAY_URL={server.url}")
    print(f"export RELAY_SIGNING_SECRET={LOCAL_SIGNING_SECRET}")
    print(f"# vendor Event Webhook: {server.url}/events/{LOCAL_EVENTS_SECRET}")
    print(f"# vendor Global Webhook (incoming messages): {server.url}/inbound/{LOCAL_EVENTS_SECRET}")
    inbound = """'{"number": "447700900123"}'"""
    print(f"# a customer writes (the stand-in posts it to the relay): curl -s -d {inbound} {relay.api.base_url}/_inbound")
    for name, value in relay.aws.env().items():
        print(f"export {name}={value}")
    print(f"export MEDIA_BUCKET={relay.bucket}")
    hook_media = put_sample_media(relay.client("s3"), relay.bucket)
    print(f"# webhook routes (functions/routes/, their local secrets in the embedded SSM): {', '.join(route_names())}")
    print(f"# sample media for them in the bucket: {', '.join(hook_media)}")
    if relay.media is not None:
        print(
            f"# their media URLs ({', '.join(relay.media.hosts)}) are served by a local HTTPS host on 127.0.0.1:{relay.media.port};"
            " the functions connect those names to it (RELAY_LOCAL_FETCH_HOSTS, local only)"
        )
    print(f"# send one: relay sign-hook events/hook-stripe-invoice.json --curl {server.url}/hooks/stripe-invoice | sh")
    print(f"# then see the invoice PDF reach the stand-in as a presigned S3 URL: curl -s {relay.api.base_url}/_requests")
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


def post_first(relay: LocalRelay, function: str, event: dict) -> None:
    """On a fresh stack, a status read (`events/api-get-push.json`) would only ever find nothing: post
    `events/api-post-pushes.json` first, so the GET answers the push that file creates (its id is
    derived from the file's Idempotency-Key and the local signing secret)."""
    if function != "ApiFunction" or event.get("httpMethod") != "GET" or event.get("resource") != "/pushes/{id}":
        return
    post = resign(json.loads((Path(__file__).resolve().parents[1] / "events" / "api-post-pushes.json").read_text()))
    created = relay.invoker.invoke("ApiFunction", post)
    print(
        f"# posted events/api-post-pushes.json first (a fresh stack has no push): {created['statusCode']} {created['body']}",
        file=sys.stderr,
    )


def _sign_event(args: argparse.Namespace) -> int:
    """`relay sign-event FILE`: the event, signed now; one clear line and exit 2 when it cannot be."""
    event = _read_event(args.event)
    if not isinstance(event.get("httpMethod"), str):
        raise CliError(f"{args.event} is not an API Gateway REST (v1) proxy event (no httpMethod)")
    try:
        print(json.dumps(resign(event, args.secret), indent=2))
    except (ValueError, TypeError) as exc:  # a base64 body that is not base64, a body that is not text
        raise CliError(f"cannot sign {args.event}: {exc}") from None
    return 0


def _sign_hook(args: argparse.Namespace) -> int:
    """`relay sign-hook FILE --route R`: a webhook delivery for POST /hooks/R signed now as R's sender
    signs (relay_local/ops/sign_hook.py); with --curl URL, a curl command that sends it instead."""
    import tempfile

    from pydantic import ValidationError

    from relay_local.dev.hooks_local import load_route, local_hook_secret
    from relay_local.ops.sign_hook import curl_command, read_input, resign_hook

    path = Path(args.event)
    if not path.is_file():
        raise CliError(f"no event or body file {args.event}")
    event = read_input(path)
    name = args.route or str((event.get("pathParameters") or {}).get("route") or "")
    if not name:
        raise CliError(f"{args.event} names no route (pathParameters.route): give --route NAME (a file in functions/routes/)")
    try:
        route = load_route(name)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None
    except ValidationError as exc:
        raise CliError(f"functions/routes/{name}.json is not a valid route: {' '.join(str(exc).split())}") from None
    extra: dict[str, str] = {}
    for pair in args.header or []:
        header, sep, value = pair.partition(":")
        if not sep or not header.strip():
            raise CliError(f"--header takes 'Name: value', got {pair!r}")
        extra[header.strip()] = value.strip()
    try:
        signed = resign_hook(event, name, route, args.secret or local_hook_secret(name, route), extra_headers=extra)
    except (ValueError, TypeError) as exc:  # a body that is not base64 or not text where the scheme needs text
        raise CliError(f"cannot sign {args.event} for route {name}: {exc}") from None
    if args.curl:
        body_file = Path(args.body_out) if args.body_out else Path(tempfile.gettempdir()) / f"relay-hook-{name}.body"
        print(curl_command(signed, args.curl, body_file))
        timed = route.verify.scheme in ("stripe", "standard-webhooks") or (
            route.verify.hmac is not None and route.verify.hmac.signed == "timestamp.body"
        )
        lasts = "good for 5 minutes (it carries a timestamp)" if timed else "good as long as the body and secret stay the same"
        print(f"# the body, byte for byte, is in {body_file}; the signature is {lasts}", file=sys.stderr)
    else:
        print(json.dumps(signed, indent=2))
    return 0


def _redrive(args: argparse.Namespace) -> int:
    """Dead-lettered jobs (or S3 notifications, with --ingest) back to their queue."""
    import boto3

    from relay.ledger import Ledger
    from relay_local.ops.redrive import redrive

    source, target = ("IngestDeadLetterQueue", "IngestQueue") if args.ingest else ("SendDeadLetterQueue", "SendQueue")
    if args.stack:  # a deployed stack: its resources by logical id
        cfn = boto3.client("cloudformation")

        def physical(logical_id: str) -> str:
            return cfn.describe_stack_resource(StackName=args.stack, LogicalResourceId=logical_id)["StackResourceDetail"][
                "PhysicalResourceId"
            ]

        sqs, ddb = boto3.client("sqs"), boto3.client("dynamodb")
    elif (state := _local_state()) is not None:  # a running `relay local`
        from relay_local.dev.stack import create_stack

        stack = create_stack(state["endpoint"], name=state["stack"], create=False)
        sqs = boto3.client("sqs", endpoint_url=state["endpoint"], region_name=stack.region)
        ddb = boto3.client("dynamodb", endpoint_url=state["endpoint"], region_name=stack.region)

        def physical(logical_id: str) -> str:
            return stack.ref(logical_id)
    else:
        raise CliError("give --stack NAME (deployed), or run `relay local` first (in this directory)")
    report = redrive(sqs, physical(source), physical(target), Ledger(ddb, physical("PushLogTable")), limit=args.limit)
    print(f"moved {report.moved} message(s) from {source} to {target}; {report.jobs_reset} push job(s) reset to retry")
    return 0


def _status(args: argparse.Namespace) -> int:
    """`relay status`: the ledger's recipients for a push id, an S3 key, a number or a reference
    (relay_local/ops/status.py), as a table with counts (relay_local/ops/ledger_table.py) or JSON.
    Where it reads: --stack (a deployed stack, by CloudFormation), --endpoint/--table (an explicit
    DynamoDB endpoint and table, e.g. tests), else the `relay local` running from this directory."""
    import boto3

    from relay.ledger import Ledger
    from relay_local.ops import ledger_table
    from relay_local.ops.status import Query, find, watch

    given = [x for x in (args.target, args.number, args.reference) if x is not None]
    if len(given) != 1:
        raise CliError("give one of: a push id, an S3 key (outbox/…, manifests/…), --number NUMBER, --reference REF")
    bucket, table = args.bucket, args.table
    if args.stack:
        cfn = boto3.client("cloudformation")

        def physical(logical_id: str) -> str:
            detail = cfn.describe_stack_resource(StackName=args.stack, LogicalResourceId=logical_id)["StackResourceDetail"]
            return str(detail["PhysicalResourceId"])

        ddb = boto3.client("dynamodb")
        table = table or physical("PushLogTable")
        if args.target is not None and bucket is None and not args.target.startswith("s3://"):
            bucket = physical("MediaBucket")
    elif args.endpoint:
        if not table:
            raise CliError("--endpoint needs --table (the PushLog table's name)")
        ddb = boto3.client("dynamodb", endpoint_url=args.endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    elif (state := _local_state()) is not None:
        from relay_local.dev.stack import create_stack

        stack = create_stack(state["endpoint"], name=state["stack"], create=False)
        ddb = boto3.client("dynamodb", endpoint_url=state["endpoint"], region_name=stack.region)
        table, bucket = table or stack.ref("PushLogTable"), bucket or stack.ref("MediaBucket")
    else:
        raise CliError("give --stack NAME (deployed), or run `relay local` first (in this directory)")
    query = Query(target=args.target, number=args.number, reference=args.reference)
    try:
        where = query.describe(bucket)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    ledger = Ledger(ddb, str(table))
    what = ", ".join(f"{k} {v}" for k, v in where.items())

    def read() -> Any:
        return find(ledger, query, bucket)

    if args.watch:
        shown: list[str] = []

        def progress(found: Any) -> None:
            """On a terminal, one line redrawn in place; elsewhere (a log), a new line when it changes."""
            line = ledger_table.progress_bar(found.recipients) if found.recipients else f"waiting for {what} to reach the ledger"
            if sys.stderr.isatty():
                print(f"\r{line}\x1b[K", end="", file=sys.stderr, flush=True)
            elif shown[-1:] != [line]:
                print(line, file=sys.stderr, flush=True)
            shown.append(line)

        found, done = watch(read, progress, interval=args.interval, timeout=args.timeout)
        if sys.stderr.isatty():
            print(file=sys.stderr)
    else:
        found, done = read(), False
    if not found.recipients and not args.json:
        raise CliError(f"the ledger has no recipient for {what} (planning an upload takes a few seconds; --watch waits)")
    if args.json:
        print(ledger_table.as_json(found.recipients, where))
    else:
        print(ledger_table.render(found.recipients))
        print(ledger_table.summary(found.recipients))
    if args.watch and not done:
        raise CliError(f"--timeout: not every recipient of {what} was final after {args.timeout:g} s")
    return 0


def _templates_pull(args: argparse.Namespace) -> int:
    """`relay templates pull`: the vendor's template-status answer → `templates/<id>.json` in the
    media bucket (relay_local/ops/templates_pull.py). Where each input comes from, first found wins:

    - the push URL: --api-url, PICKY_API_URL, the --stack's PickyApiUrl parameter, the running
      `relay local`'s stand-in, else the default (relay.settings.DEFAULT_PUSH_URL);
    - the token (never printed): PICKY_TOKEN (as the functions read it locally), the running
      `relay local`'s token, else the SSM SecureString --token-parameter (the --stack's
      PickyTokenParameter, else /picky-relay/token), as the functions read it on AWS;
    - the bucket: --bucket, the --stack's MediaBucket, MEDIA_BUCKET, the running `relay local`'s.

    Exit 0 when every template was written, 1 when some row could not be read (the rest are written)."""
    import boto3

    from relay.settings import DEFAULT_PUSH_URL
    from relay_local.ops.templates_pull import PullError, pull, status_url

    state = None if args.stack else _local_state()
    parameters: dict[str, str] = {}
    bucket = args.bucket
    s3 = boto3.client("s3")
    if args.stack:
        cfn = boto3.client("cloudformation")
        stacks = cfn.describe_stacks(StackName=args.stack)["Stacks"]
        parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])}
        bucket = (
            bucket
            or cfn.describe_stack_resource(StackName=args.stack, LogicalResourceId="MediaBucket")["StackResourceDetail"][
                "PhysicalResourceId"
            ]
        )
    elif state is not None:
        from relay_local.dev.stack import create_stack

        stack = create_stack(state["endpoint"], name=state["stack"], create=False)
        s3 = boto3.client("s3", endpoint_url=state["endpoint"], region_name=stack.region)
        bucket = bucket or os.environ.get("MEDIA_BUCKET") or stack.ref("MediaBucket")
    bucket = bucket or os.environ.get("MEDIA_BUCKET")
    if not bucket:
        raise CliError("no bucket: give --bucket NAME or --stack NAME, set MEDIA_BUCKET, or run `relay local` first (in this directory)")
    push_url = (
        args.api_url
        or os.environ.get("PICKY_API_URL")
        or parameters.get("PickyApiUrl")
        or (state["api_url"] if state else None)
        or DEFAULT_PUSH_URL
    )
    token = os.environ.get("PICKY_TOKEN") or None
    if token is None and state is not None:
        from relay_local.dev.session import LOCAL_TOKEN

        token = LOCAL_TOKEN
    if token is None:
        name = args.token_parameter or parameters.get("PickyTokenParameter") or "/picky-relay/token"
        token = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    try:
        parsed = pull(status_url(push_url), str(token), s3, bucket, say=print)
    except PullError as exc:
        raise CliError(str(exc)) from None
    return 1 if parsed.skipped else 0


def _describe(exc: BaseException) -> tuple[str, int]:
    """One line for an error, and the exit status."""
    from botocore import exceptions as boto

    if isinstance(exc, (CliError, PortBusy)):
        return str(exc), 2
    if isinstance(exc, boto.NoRegionError):
        return "no AWS region: set AWS_DEFAULT_REGION (or a region in your AWS profile)", 2
    if isinstance(exc, (boto.NoCredentialsError, boto.PartialCredentialsError)):
        return "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (see `aws configure`)", 2
    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        return f"AWS refused {exc.operation_name}: {error.get('Code', '?')}: {error.get('Message', '')}", 2
    if isinstance(exc, boto.EndpointConnectionError):
        return f"cannot reach AWS: {exc}", 2
    return f"{type(exc).__name__}: {exc} (RELAY_DEBUG=1 shows the traceback)", 1


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every flag's help shows its default: "(default: 4566)"; a flag without one (None, or a switch
    that is off) says in its help what leaving it out does."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action) or ""


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line too (argparse prints the whole usage first), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    fmt = {"formatter_class": _Formatter}
    parser = OneLineParser(prog="relay", description="Picky Assist media relay: local tools", **fmt)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("demo", help="run the main job on the embedded stack and show the ledger", **fmt).set_defaults(func=_demo)
    local = sub.add_parser("local", help="run the embedded AWS + Push API stand-in in the foreground", **fmt)
    local.add_argument("--aws-port", type=int, default=4566, help="port of the embedded AWS (moto server)")
    local.add_argument("--api-port", type=int, default=8089, help="port of the Push API stand-in")
    local.set_defaults(func=_local)
    inv = sub.add_parser("invoke", help="run one function of template.yaml in-process (Docker-free `sam local invoke`)", **fmt)
    inv.add_argument("function", help="logical id, e.g. IngestFunction")
    inv.add_argument("-e", "--event", help="event JSON file (e.g. events/s3-put-outbox.json); none: an empty event")
    inv.add_argument("--env", action="append", metavar="NAME=VALUE", help="extra function environment (repeatable)")
    inv.set_defaults(func=_invoke)
    serve = sub.add_parser("serve", help="serve template.yaml's API on 127.0.0.1 (Docker-free `sam local start-api`)", **fmt)
    serve.add_argument("--port", type=int, default=3000, help="port of the relay API")
    serve.add_argument("--aws-port", type=int, default=0, help="port of the embedded AWS (0: any free port)")
    serve.add_argument("--api-port", type=int, default=0, help="port of the Push API stand-in (0: any free port)")
    serve.add_argument(
        "--session-window",
        action="store_true",
        help="the stand-in fails free-form WhatsApp messages to numbers that did not write in 24 h (131047),"
        ' reporting it to the relay 1 s later; `curl -d \'{"number": "447700900123"}\' <stand-in>/_inbound` makes one write',
    )
    serve.set_defaults(func=_serve)
    sub.add_parser(
        "soak",
        help="the guarantees under injected faults, with figures (`relay soak -n 500`, make soak; `relay soak --help` for its options)",
        add_help=False,
    )
    sub.add_parser(
        "bench", help="speed and cost figures, each beside its floor (make bench; `relay bench --help` for its options)", add_help=False
    )
    red = sub.add_parser("redrive", help="move dead-lettered jobs back to the send queue once the cause is fixed", **fmt)
    red.add_argument("--stack", help="a deployed stack's name (none: the `relay local` running from this directory)")
    red.add_argument("--ingest", action="store_true", help="the ingest dead-letter queue instead of the send one")
    red.add_argument("--limit", type=int, help="move at most this many (none: all)")
    red.set_defaults(func=_redrive)
    st = sub.add_parser(
        "status", help="what became of a push, an upload, a number or a reference: a table with full reasons and counts", **fmt
    )
    st.add_argument("target", nargs="?", help="a push id (POST /pushes or /hooks answered it) or an S3 key: outbox/…, manifests/…")
    st.add_argument("--number", help="every recipient of this number (ByNumber)")
    st.add_argument("--reference", help="every recipient sent with this reference (ByReference)")
    st.add_argument("--json", action="store_true", help="one JSON document (query, counts, recipients) instead of the table")
    st.add_argument("--watch", action="store_true", help="re-read until every recipient is final, with a progress bar on stderr")
    st.add_argument("--interval", type=float, default=3.0, help="seconds between reads with --watch")
    st.add_argument("--timeout", type=float, help="with --watch: give up after this many seconds, exit 2 (none: wait)")
    st.add_argument("--stack", help="a deployed stack's name (none: the `relay local` running from this directory)")
    st.add_argument("--endpoint", help="a DynamoDB endpoint URL to read instead of a stack's (with --table)")
    st.add_argument("--table", help="the PushLog table's name (none: the stack's)")
    st.add_argument("--bucket", help="the media bucket S3 keys are in (none: the stack's)")
    st.set_defaults(func=_status)
    templates = sub.add_parser("templates", help="the template catalogue (templates/<id>.json in the media bucket)", **fmt)
    templates_sub = templates.add_subparsers(dest="templates_command", required=True, metavar="ACTION")
    tpull = templates_sub.add_parser(
        "pull", help="fill the catalogue from the vendor's template-status endpoint (one line per template)", **fmt
    )
    tpull.add_argument("--stack", help="a deployed stack's name (none: MEDIA_BUCKET, or the `relay local` running from this directory)")
    tpull.add_argument("--bucket", help="the media bucket (none: the stack's, MEDIA_BUCKET, or the running `relay local`'s)")
    tpull.add_argument("--api-url", help="the Push API URL, …/api/v2/push (none: PICKY_API_URL, the stack's PickyApiUrl, the default)")
    tpull.add_argument(
        "--token-parameter", help="SSM SecureString holding the token, when PICKY_TOKEN is not set (none: the stack's, /picky-relay/token)"
    )
    tpull.set_defaults(func=_templates_pull)
    sub.add_parser("openapi", help="print the API's OpenAPI document (docs/openapi.json)", **fmt).set_defaults(func=_openapi)
    sign = sub.add_parser(
        "sign-event",
        help="print an API Gateway event with a fresh X-Relay-Signature (over the body for POST, over `GET /pushes/<id>` for GET)",
        **fmt,
    )
    sign.add_argument("event", help="API Gateway REST (v1) proxy event JSON file, e.g. events/api-get-push.json")
    sign.add_argument("--secret", help="signing secret (none: the local one, as `relay serve`/`relay local` use)")
    sign.set_defaults(func=_sign_event)
    hook = sub.add_parser(
        "sign-hook",
        help="sign a webhook delivery for POST /hooks/<route> now, as its sender signs (Stripe, Shopify, GitHub, Standard Webhooks, HMAC)",
        **fmt,
    )
    hook.add_argument("event", help="hook event file (e.g. events/hook-stripe-invoice.json) or a raw body file (built into an event)")
    hook.add_argument("--route", help="route name, a file in functions/routes/ (none: the event's pathParameters.route)")
    hook.add_argument("--secret", help="the route's secret (none: its local one, as `relay serve` puts in the embedded SSM)")
    hook.add_argument(
        "--header",
        action="append",
        metavar="'NAME: VALUE'",
        help="add or replace a header, e.g. 'X-Shopify-Topic: orders/fulfilled' (repeatable)",
    )
    hook.add_argument("--curl", metavar="URL", help="print a curl command that posts it to URL (e.g. $RELAY_URL/hooks/stripe-invoice)")
    hook.add_argument(
        "--body-out", metavar="PATH", help="with --curl: where to write the body (none: relay-hook-<route>.body in the temp dir)"
    )
    hook.set_defaults(func=_sign_hook)
    return parser


def _version() -> str:
    """relay.version, the one place the version is written (the package metadata reads it too)."""
    return __version__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["soak"]:  # its own options
            from relay_local.bench.soak import main as soak_main

            return soak_main(argv[1:])
        if argv[:1] == ["bench"]:  # its own options
            from relay_local.bench.figures import main as bench_main

            return bench_main(argv[1:], prog="relay bench")
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns any error into one line
        if os.environ.get("RELAY_DEBUG"):
            raise
        message, status = _describe(exc)
        print("relay: " + " ".join(message.split()), file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())

"""`relay soak` / `make soak`: the guarantees under faults, with figures.

The real handlers run against moto server and the Push API stand-in at a compressed clock (a rate
limit of 900 requests/minute instead of 90). Recipients arrive three ways: per-recipient files,
manifests and signed webhook pushes. Meanwhile the stand-in injects faults (HTTP 500, timeouts —
some after it accepted the push —, 429s, vendor 101s) and drops what is over its rate limit, as the
vendor does; 10% of the S3 notifications and send jobs are delivered twice; webhook calls are
retried with their Idempotency-Key; and one sender invocation, in a process of its own, is killed
mid-batch. Then it counts, from the ledger and from what the stand-in accepted:

    soak: recipients=N terminal=N lost=0 duplicated=0 ambiguous=K over_limit=0 wall_over_floor=X

WhatsApp's 24-hour window is in play too: half of the webhook pushes carry a template (session
auto), the stand-in fails free-form messages to customers outside its window (131047 reports it
posts to the relay's Event Webhook), and while the run goes on customers write in through the
vendor's Global Webhook: some recently, some (a late webhook retry) more than 24 hours ago by the
vendor's clock, so that the relay's free-form choice fails and earns its one template fallback.

`terminal`: recipients whose last attempt (the first, or its one template fallback) is their only
open ledger entry and is in a final state; `lost` = recipients − terminal; `duplicated`: messages
(a recipient's attempt, by the reference it was sent with) the stand-in accepted more than once; `ambiguous`: recipients whose request
left but whose answer never came (not re-sent; counted apart); `over_limit`: requests the stand-in
dropped for the rate limit; `wall_over_floor`: the whole run's wall time over the time the rate
limit alone needs for the requests the stand-in saw.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from relay.ledger import Ledger
from relay.lifecycle import RECIPIENT_FINAL_STATES
from relay.signing import sign
from relay_local.dev.embedded import EmbeddedAws
from relay_local.dev.ledger_reads import scan_all
from relay_local.dev.poller import SqsPoller, pump
from relay_local.dev.session import LOCAL_SIGNING_SECRET, LOCAL_TOKEN, LocalRelay
from relay_local.dev.standin import Faults, PushApiStandIn
from relay_local.template import ROOT

SAMPLES = ROOT / "samples" / "media"


class DuplicatingPoller(SqsPoller):
    """Delivers a share of the messages twice, as SQS (and S3's notifications) may."""

    def __init__(self, base: SqsPoller, rng: random.Random, share: float) -> None:
        self.__dict__.update(base.__dict__)
        self.rng = rng
        self.share = share
        self.duplicated = 0

    def _receive(self) -> list[dict[str, Any]]:
        messages = super()._receive()
        for m in messages:
            if int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")) == 1 and self.rng.random() < self.share:
                self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=m["Body"])
                self.duplicated += 1
        return messages


class Progress:
    """While a soak runs: every `interval` seconds, and once more when stopped, one line with the
    counts so far: recipients in the ledger (planned), taken by the stand-in (sent), in a final
    state (terminal). A long `make soak` otherwise prints nothing for minutes.

    To stderr, so the final `soak: recipients=…` lines on stdout stay machine-readable; on a
    terminal the line is rewritten in place (\\r) instead of scrolling."""

    def __init__(
        self, relay: LocalRelay, recipients: int, started: float, write: Callable[[str], None] | None = None, interval: float = 10.0
    ) -> None:
        self.relay = relay
        self.recipients = recipients
        self.started = started
        self.interval = interval
        self.tty = write is None and sys.stderr.isatty()
        self.write = write or self._stderr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-progress", daemon=True)

    def _stderr(self, line: str) -> None:
        sys.stderr.write(("\r\033[K" + line) if self.tty else line + "\n")
        sys.stderr.flush()

    def counts(self) -> dict[str, int]:
        planned = terminal = 0
        ddb = self.relay.client("dynamodb")
        kwargs: dict[str, Any] = {
            "TableName": self.relay.table,
            "ProjectionExpression": "#k, #s, fallback_for, fallback_rid",
            "ExpressionAttributeNames": {"#k": "kind", "#s": "state"},
        }
        while True:
            page = ddb.scan(**kwargs)
            for item in page.get("Items", []):
                if item.get("kind", {}).get("S") == "recipient":
                    # a recipient is its first attempt; a template fallback settles it in its place
                    first = "fallback_for" not in item
                    planned += first
                    final = item.get("state", {}).get("S") in RECIPIENT_FINAL_STATES
                    terminal += final and (not first or "fallback_rid" not in item)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        assert self.relay.api is not None
        stats = self.relay.api.stats()
        return {"planned": planned, "sent": stats["accepted_entries"], "terminal": terminal, "requests": stats["requests"]}

    def line(self) -> str:
        c = self.counts()
        return (
            f"soak: progress {time.monotonic() - self.started:.0f}s: of {self.recipients} recipients "
            f"planned={c['planned']} sent={c['sent']} terminal={c['terminal']} (vendor requests={c['requests']})"
        )

    def _tick(self) -> None:
        try:
            self.write(self.line())
        except Exception as exc:  # noqa: BLE001 - progress must never break the soak
            self.write(f"soak: progress unavailable ({type(exc).__name__})")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._tick()

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._tick()  # the counts at the end, always
        if self.tty:
            sys.stderr.write("\n")


def _number(i: int) -> str:
    return f"4477{i:08d}"


def _soak_env(rate: int) -> dict[str, str]:
    return {
        "RATE_LIMIT_PER_MINUTE": str(rate),
        "RATE_WINDOW_SECONDS": "61",
        "RETRY_BASE_SECONDS": "1",
        "PUSH_TIMEOUT_SECONDS": "1",
        "MAX_SEND_ATTEMPTS": "12",
        "SEND_LEASE_SECONDS": "4",
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        # small requests, so that there are many of them to fail, retry and rate-limit
        "RECIPIENTS_PER_PUSH": "10",
    }


def run(
    recipients: int = 10_000,
    rate: int = 900,
    seed: int = 7,
    kill: bool = True,
    out=print,
    aws: EmbeddedAws | None = None,
    progress: Callable[[str], None] | None = None,
    progress_interval: float = 10.0,
) -> dict[str, Any]:
    """Run a soak (on `aws`, an already running embedded AWS, if given) and return its figures.

    `progress` gets a line every `progress_interval` seconds and one at the end (default: stderr)."""
    rng = random.Random(seed)
    env = _soak_env(rate)
    relay = LocalRelay(
        stack_name=f"soak{seed}x{int(time.time() * 1000) % 10**8}",
        env=env,
        queue_attributes={"SendQueue": {"VisibilityTimeout": "5"}, "IngestQueue": {"VisibilityTimeout": "20"}},
    )
    # the stand-in drops what is over the rate limit, as the vendor does, misbehaves at random, and
    # fails free-form messages outside WhatsApp's 24-hour window (reports posted to the relay)
    vendor = PushApiStandIn(
        token=LOCAL_TOKEN,
        rate_limit_per_minute=rate,
        faults=Faults(http_500=0.05, timeout=0.02, timeout_after_accept=0.5, http_429=0.01, vendor_101=0.02, hang_seconds=1.5, seed=seed),
        session_window=True,
    )
    relay.start(aws=aws, api=vendor.start())
    assert relay.api is not None and relay.aws is not None and relay.stack is not None
    pollers = {k: DuplicatingPoller(p, rng, 0.10) for k, p in relay.pollers.items()}
    relay.pollers.update(pollers)
    s3 = relay.client("s3")
    photo = (SAMPLES / "photo.jpg").read_bytes()
    s3.put_object(Bucket=relay.bucket, Key="media/chart.png", Body=(SAMPLES / "chart.png").read_bytes())
    s3.put_object(Bucket=relay.bucket, Key="media/photo.jpg", Body=photo)

    files = int(recipients * 0.4)
    manifest_rows = int(recipients * 0.4)
    webhook = recipients - files - manifest_rows
    started = time.monotonic()
    out(
        f"soak: {recipients} recipients ({files} files, {manifest_rows} manifest rows, {webhook} webhook, half of it with a"
        f" template), rate {rate}/min, faults on, 10% duplicate deliveries, customers writing in, seed {seed}"
    )
    server = relay.serve_api()  # the stand-in posts inbound messages and delivery reports to it
    customers = Customers(relay, rng)
    # the customers of the files and manifests (no template: always free-form) wrote in recently, as
    # the vendor knows; the relay need not (nothing for it to decide)
    for i in range(files + manifest_rows):
        relay.api.customer_writes(_number(i), minutes_ago=5, post=False)

    with Progress(relay, recipients, started, progress, progress_interval):
        # 1. per-recipient files, in waves that ingest takes as they come (as on AWS; it also keeps
        #    moto's queues short: moto recounts a whole queue on every message sent to it)
        ingest = relay.pollers["IngestFunction"]
        for i in range(files):
            s3.put_object(Bucket=relay.bucket, Key=f"outbox/{_number(i)}/p.jpg", Body=photo, Metadata={"message": f"hi {i}"})
            if i % 250 == 249:
                pump([ingest], timeout=300)
        # 2. manifests of up to 1,000 rows, every row its own media key
        for start in range(0, manifest_rows, 1000):
            rows = [
                {"number": _number(files + i), "media": "media/chart.png", "name": str(i)}
                for i in range(start, min(start + 1000, manifest_rows))
            ]
            body = json.dumps({"message": "Hello {name}", "recipients": rows}).encode()
            s3.put_object(Bucket=relay.bucket, Key=f"manifests/m{start}.json", Body=body)
        # 3. signed webhook pushes, 100 recipients each, 10% retried with the same Idempotency-Key;
        #    every other one with a template (session auto), whose customers write in meanwhile
        with httpx.Client(base_url=server.url, timeout=60) as http:
            offset = files + manifest_rows
            for n, start in enumerate(range(0, webhook, 100)):
                numbers = [_number(offset + i) for i in range(start, min(start + 100, webhook))]
                push: dict[str, Any] = {
                    "message": "webhook",
                    "media": {"key": "media/photo.jpg"},
                    "recipients": [{"number": x} for x in numbers],
                }
                if n % 2 == 0:
                    push["template"] = {"id": "ticket_image", "language": "en", "values": [f"ticket {n}"]}
                    customers.add(numbers)
                else:  # no template: free-form to customers inside their windows (as files and manifests)
                    for x in numbers:
                        relay.api.customer_writes(x, minutes_ago=5, post=False)
                body = json.dumps(push).encode()
                key = f"soak-{seed}-{start}"
                for _try in range(2 if rng.random() < 0.10 else 1):
                    answer = http.post(
                        "/pushes",
                        content=body,
                        headers={"Content-Type": "application/json", "Idempotency-Key": key, **sign(LOCAL_SIGNING_SECRET, body)},
                    )
                    if answer.status_code != 202:
                        raise RuntimeError(f"webhook push refused: {answer.status_code} {answer.text}")
        out(f"soak: inputs in after {time.monotonic() - started:.0f}s; planning and sending…")

        # plan everything, then kill one sender invocation mid-batch (in a process of its own)
        pump([ingest], timeout=600)
        killed = _kill_one_sender(relay, env) if kill else 0
        with customers:  # customers write in, and the vendor posts its reports, while the relay sends
            if not pump(list(relay.pollers.values()), timeout=3600):
                out("soak: the queues did not drain within an hour")
        # the last reports (and the fallbacks they earn, sent in turn) after the queues drained
        while True:
            relay.api.post_reports()
            pump(list(relay.pollers.values()), timeout=600)
            if not relay.api.pending_reports:
                break
        wall = time.monotonic() - started  # before the last progress line's ledger scan
    figures = _figures(relay, recipients, wall, rate)
    figures["killed_jobs"] = killed
    figures["duplicate_deliveries"] = sum(p.duplicated for p in pollers.values())
    figures["inbound_posted"] = customers.posted
    relay.stop()
    return figures


class Customers:
    """Customers of the template pushes writing in while the relay sends, through the vendor's
    Global Webhook (the stand-in posts it to POST /inbound/<secret>), half of them before the
    sending starts and half during it: a third recently, a third
    more than 24 hours ago by the vendor's clock (a late webhook retry: the relay believes the
    window open, WhatsApp does not, so its free-form message fails and earns a template fallback),
    a third never. Meanwhile the stand-in's delivery reports are posted every half second."""

    def __init__(self, relay: LocalRelay, rng: random.Random) -> None:
        self.relay = relay
        self.rng = rng
        self.writes: list[tuple[str, float]] = []
        self.posted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-customers", daemon=True)

    def add(self, numbers: list[str]) -> None:
        for number in numbers:
            kind = self.rng.randrange(3)
            if kind < 2:
                self.writes.append((number, 5.0 if kind == 0 else 24 * 60 + 30.0))
        self.rng.shuffle(self.writes)

    def _write(self, writes: list[tuple[str, float]]) -> None:
        assert self.relay.api is not None
        for number, minutes in writes:
            self.posted += self.relay.api.customer_writes(number, minutes_ago=minutes) is not None

    def _run(self) -> None:
        assert self.relay.api is not None
        pending = self.writes[len(self.writes) // 2 :]
        while not self._stop.wait(0.5):
            self._write(pending[:20])
            del pending[:20]
            self.relay.api.post_reports()

    def __enter__(self) -> Customers:
        self._write(self.writes[: len(self.writes) // 2])  # half wrote before the sending starts, half during
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _kill_one_sender(relay: LocalRelay, env: dict[str, str]) -> int:
    """Hand one batch of send jobs to a sender in another process and SIGKILL it once it has sent
    its first request (or after 3 s). Its messages come back after their visibility timeout."""
    assert relay.api is not None and relay.aws is not None and relay.stack is not None
    poller = relay.pollers["SenderFunction"]
    messages = SqsPoller._receive(poller)  # noqa: SLF001 - a plain receive, no duplicates here
    if not messages:
        return 0
    work = Path(tempfile.mkdtemp(prefix="relay-soak-"))
    (work / "event.json").write_text(json.dumps(poller.event_for(messages)))
    (work / ".relay-local.json").write_text(
        json.dumps({"endpoint": relay.aws.endpoint, "api_url": relay.api.url, "stack": relay.stack.name})
    )
    before = len(relay.api.requests)
    relay_cmd = Path(sys.executable).with_name("relay")
    args = [str(relay_cmd), "invoke", "SenderFunction", "-e", "event.json", *sum((["--env", f"{k}={v}"] for k, v in env.items()), [])]
    proc = subprocess.Popen(
        args, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "POWERTOOLS_LOG_LEVEL": "CRITICAL"}
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None and len(relay.api.requests) == before:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return len(messages)


def _figures(relay: LocalRelay, recipients: int, wall: float, rate: int) -> dict[str, Any]:
    assert relay.api is not None
    items = scan_all(Ledger(relay.client("dynamodb"), relay.table))
    # a recipient's open entries: its first attempt, or (once planned) its one template fallback instead
    per_number: dict[str, list[str]] = {}
    fallbacks = 0
    for item in items:
        if item.get("kind") != "recipient":
            continue
        fallbacks += bool(item.get("fallback_for"))
        if item.get("fallback_rid"):
            continue  # settled by its fallback
        per_number.setdefault(item["number"], []).append(item["state"])
    terminal = sum(1 for states in per_number.values() if len(states) == 1 and states[0] in RECIPIENT_FINAL_STATES)
    ambiguous = sum(1 for states in per_number.values() if states == ["ambiguous"])
    # one message is one attempt of one recipient: what it was sent with as reference_number
    accepted = Counter(str(e.get("reference_number") or e.get("number")) for e in relay.api.accepted_entries)
    forms = Counter("template" if "template_id" in (r.body or {}) else "freeform" for r in relay.api.requests if r.accepted)
    stats = relay.api.stats()
    floor = max(1.0, stats["requests"] * 60.0 / rate)  # the rate limit alone, for every request the vendor saw
    return {
        "recipients": recipients,
        "terminal": terminal,
        "lost": recipients - terminal,
        "duplicated": sum(1 for n in accepted.values() if n > 1),
        "ambiguous": ambiguous,
        "over_limit": stats["over_limit"],
        "wall_over_floor": round(wall / floor, 2),
        "wall_seconds": round(wall, 1),
        "requests": stats["requests"],
        "states": dict(Counter(s for states in per_number.values() for s in states)),
        "template_fallbacks": fallbacks,
        "accepted_requests_by_form": dict(forms),
        "faults": {k: v for k, v in stats.items() if k not in ("requests", "over_limit")},
    }


def build_parser() -> argparse.ArgumentParser:
    from relay_local.cli import OneLineParser

    parser = OneLineParser(
        prog="relay soak",
        description="The guarantees under injected faults, with figures.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("-n", "--recipients", type=int, default=10_000, help="recipients to plan and send")
    parser.add_argument("--rate", type=int, default=900, help="rate limit per minute (compressed clock)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the injected faults and duplicates")
    parser.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS", help="seconds between progress lines on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    f = run(args.recipients, args.rate, args.seed, progress_interval=args.progress_every)
    print(
        f"soak: {f['requests']} vendor requests in {f['wall_seconds']}s; states {f['states']}; stand-in {f['faults']}; "
        f"{f['duplicate_deliveries']} duplicate deliveries; killed a sender holding {f['killed_jobs']} job(s); "
        f"{f['inbound_posted']} inbound messages; accepted requests by form {f['accepted_requests_by_form']}; "
        f"{f['template_fallbacks']} template fallbacks"
    )
    print(
        f"soak: recipients={f['recipients']} terminal={f['terminal']} lost={f['lost']} duplicated={f['duplicated']} "
        f"ambiguous={f['ambiguous']} over_limit={f['over_limit']} wall_over_floor={f['wall_over_floor']}"
    )
    return 0 if f["lost"] == 0 and f["duplicated"] == 0 and f["over_limit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""`python -m relay_local.bench [--quick]`: performance figures, each beside its floor.

Benchmarks print figures; they are not tests. Measured in one run:

1. cold start of each handler module (fresh process: import + what the handler builds per
   container) over a floor (fresh process: import boto3 + the same clients), in a Lambda-like
   layout (relay_local.bundle.lambda_layout): the bundle as `make build` ships it, beside the same
   third-party modules alone and the bundle with no bytecode (as a plain `sam build` ships it);
2. plan throughput of IngestFunction on a manifest of N rows, each with its own media object,
   against moto server, over a floor script making only the AWS calls planning cannot avoid
   (ranged GETs, BatchWriteItem of the same items, SendMessageBatch of the same bodies); AWS
   requests per recipient counted with botocore event hooks on the handler's own clients;
3. delivery time through SenderFunction and the Push API stand-in at the vendor's limit with its
   window compressed (90 requests per 12 s, not per 60 s), over the time the rate limit alone needs;
4. peak RSS of IngestFunction (the N-row manifest) and SenderFunction (10 jobs of 100 recipients),
   each in a process of its own;
5. cost per 1,000 recipients on AWS from the measured counts and durations.

Human-readable lines first, then `.bench/results-<timestamp>.json`, then one `bench: name=value`
line per figure (the last lines).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from relay_local.template import FUNCTIONS, ROOT

SAMPLES = ROOT / "samples" / "media"
OUT_DIR = ROOT / ".bench"

# -- prices (us-east-1, on-demand) ---------------------------------------------------------------
LAMBDA_GB_S = 0.0000133334  # arm64
LAMBDA_REQUEST = 0.20 / 1e6
DDB_WRU = 0.625 / 1e6
DDB_RRU = 0.125 / 1e6
SQS_REQUEST = 0.40 / 1e6  # per 64 KB chunk
S3_GET = 0.0004 / 1000
S3_PUT = 0.005 / 1000

# -- 1. cold start -------------------------------------------------------------------------------
COLD_ENV = {  # as template.yaml configures the functions on AWS: secrets named in SSM, not given
    "MEDIA_BUCKET": "bench-media-bucket",
    "PUSH_LOG_TABLE": "bench-push-log",
    "SEND_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
    "SEND_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    "PICKY_TOKEN_PARAMETER": "/picky-relay/token",
    "SIGNING_SECRET_PARAMETER": "/picky-relay/signing-secret",
    "EVENTS_SECRET_PARAMETER": "/picky-relay/events-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "IDEMPOTENCY_TABLE": "bench-idempotency",
    "RATE_LIMIT_TABLE": "bench-rate-limit",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "PickyRelay",
    "POWERTOOLS_SERVICE_NAME": "picky-media-relay",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}

_T0 = "import time\n_t0 = time.perf_counter()\n"
_PRINT = "print(repr(time.perf_counter() - _t0))\n"
#: each handler module and what it builds once per container (nothing is fetched: no network)
COLD_INIT = {
    "ingest": "import ingest.app\ningest.app.build_intake()\n",
    "sender": "import sender.app\nsender.app.sender()\n",
    "api": "import api.app\napi.app._service(); api.app._idempotent_create(); api.app._signing_secret(); api.app._events_secret()\n",
}
COLD_SCRIPTS = {name: _T0 + init + _PRINT for name, init in COLD_INIT.items()}
#: the floor: boto3 and the clients each handler needs, and nothing else
_PRESIGN = "boto3.client('s3', config=Config(signature_version='s3v4', s3={'addressing_style': 'virtual'}))\n"
_CLIENTS = {
    "ingest": "boto3.client('s3')\nboto3.client('dynamodb')\nboto3.client('sqs')\n",
    "sender": _PRESIGN + "boto3.client('dynamodb')\nboto3.client('sqs')\nboto3.client('ssm')\n",
    "api": "boto3.client('s3')\nboto3.client('dynamodb')\nboto3.client('sqs')\nboto3.client('ssm')\n",
}
FLOOR_SCRIPTS = {name: _T0 + "import boto3\nfrom botocore.config import Config\n" + clients + _PRINT
                 for name, clients in _CLIENTS.items()}
_OUR_PACKAGES = ("relay", "ingest", "sender", "api")
#: after a handler's init, the third-party modules it loaded (from the bundle or the runtime), in import order
_MODULES_SCRIPT = (
    "import json, sys\n{init}"
    "roots = {roots!r}\n"
    "print(json.dumps([n for n, m in list(sys.modules.items()) if n.split('.')[0] not in {ours!r}\n"
    "    and any(str(getattr(m, '__file__', None) or '').startswith(r) for r in roots)]))\n"
)


#: variables the relay's settings read: never inherited from the bench's own environment
_SETTING_NAMES = {"MEDIA_BUCKET", "PUSH_LOG_TABLE", "SEND_QUEUE_URL", "PICKY_TOKEN", "PICKY_API_URL", "SIGNING_SECRET",
                  "EVENTS_SECRET", "IDEMPOTENCY_TABLE", "RATE_LIMIT_TABLE", "SEND_DLQ_URL", "PICKY_TOKEN_PARAMETER",
                  "SIGNING_SECRET_PARAMETER", "EVENTS_SECRET_PARAMETER"}


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "POWERTOOLS_", "PYTHON")) and k not in _SETTING_NAMES}
    env.update(extra)
    env["PYTHONPATH"] = str(FUNCTIONS)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-S", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"cold-start script failed:\n{out.stderr[-2000:]}")
    return out


def _run_timed(script: str, env: dict[str, str], cwd: Path) -> float:
    return float(_run(["-c", script], env, cwd).stdout.strip().splitlines()[-1])


def _import_self_ms(script: str, env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Self import time per top-level package (python -X importtime)."""
    out = subprocess.run([sys.executable, "-S", "-X", "importtime", "-c", script], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=120)
    per: dict[str, float] = defaultdict(float)
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cum, name = (part.strip() for part in line[len("import time:"):].split("|"))
        top = name.split(".")[0]
        # the project's own modules one by one, other packages as a whole
        per[name if top in _OUR_PACKAGES else top] += int(self_us) / 1000
    return per


def _extra_imports(name: str, floor_env: dict[str, str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Packages (by self import time) the handler imports and the floor does not."""
    floor = _import_self_ms(FLOOR_SCRIPTS[name], floor_env, cwd)
    script = COLD_SCRIPTS[name]
    ours = _import_self_ms(script, env, cwd)
    extra = {pkg: ms - floor.get(pkg, 0.0) for pkg, ms in ours.items()}
    return {pkg: round(ms, 1) for pkg, ms in sorted(extra.items(), key=lambda kv: -kv[1]) if ms >= 1.0}


def _libraries_script(name: str, env: dict[str, str], layout: Any) -> str:
    """The floor plus every third-party module the handler loads, and nothing of ours."""
    script = _MODULES_SCRIPT.format(init=COLD_INIT[name], roots=(str(layout.task), str(layout.runtime)),
                                    ours=set(_OUR_PACKAGES))
    modules = json.loads(_run(["-c", script], env, layout.root).stdout.strip().splitlines()[-1])
    return FLOOR_SCRIPTS[name].replace(_PRINT, "") + f"import importlib\nfor _m in {modules!r}:\n    importlib.import_module(_m)\n" + _PRINT


def bench_coldstart(runs: int, out=print) -> dict[str, Any]:
    """Cold starts as Lambda pays them: in a Lambda-like layout (relay_local.bundle.lambda_layout), each
    variant beside the floor, interleaved so that machine noise hits them alike."""
    from relay_local.bundle.lambda_layout import build_layout

    layout = build_layout(OUT_DIR / "lambda")
    base = _clean_env(COLD_ENV)
    floor_env = layout.env(base)
    env = layout.env(base, layout.task)
    source_env = layout.env(base, layout.task_source)
    out(f"coldstart: layout {layout.root.relative_to(ROOT)}: runtime provides {', '.join(layout.provided)}; "
        f"the bundle holds {', '.join(layout.bundled)} and the functions' packages")
    if layout.unwanted:
        out(f"coldstart: WARNING: the bundle holds {', '.join(layout.unwanted)}, which slow every cold start")
    libraries = {name: _libraries_script(name, env, layout) for name in COLD_INIT}
    variants = {  # name -> (script, env): what is measured for each handler, floor first
        "floor": lambda name: (FLOOR_SCRIPTS[name], floor_env),
        "handler": lambda name: (COLD_SCRIPTS[name], env),
        "libraries": lambda name: (libraries[name], env),
        "without_bytecode": lambda name: (COLD_SCRIPTS[name], source_env),
    }
    for name in COLD_INIT:  # one unmeasured round: the page cache warm
        for variant in variants.values():
            _run_timed(*variant(name), layout.root)
    samples: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in COLD_INIT}
    for _ in range(runs):
        for name in COLD_INIT:
            for key, variant in variants.items():
                samples[name][key].append(_run_timed(*variant(name), layout.root))
    result: dict[str, Any] = {"runs": runs, "layout": {"runtime": list(layout.provided), "bundle": list(layout.bundled),
                                                       "unwanted_in_bundle": layout.unwanted}}
    for name in COLD_INIT:
        med = {key: statistics.median(values) for key, values in samples[name].items()}
        floor = med["floor"]
        result[name] = {
            **{f"{key}_ms": round(ms * 1000, 1) for key, ms in med.items()},
            "over_floor": round(med["handler"] / floor, 3),
            "libraries_over_floor": round(med["libraries"] / floor, 3),
            "without_bytecode_over_floor": round(med["without_bytecode"] / floor, 3),
            "samples_ms": {key: [round(v * 1000, 1) for v in values] for key, values in samples[name].items()},
            "import_ms_beyond_floor": _extra_imports(name, floor_env, env, layout.root),
        }
        r = result[name]
        out(f"coldstart {name:6s}: floor (boto3 + {_CLIENTS[name].count('boto3.client')} clients) {r['floor_ms']:4.0f} ms | handler as `make build` ships it "
            f"{r['handler_ms']:4.0f} ms = {r['over_floor']:.2f} | the same third-party modules alone {r['libraries_ms']:4.0f} ms "
            f"= {r['libraries_over_floor']:.2f} | with no bytecode (plain `sam build`) {r['without_bytecode_ms']:4.0f} ms "
            f"= {r['without_bytecode_over_floor']:.2f} (medians of {runs})")
        top = ", ".join(f"{pkg} {ms:.0f}" for pkg, ms in list(r["import_ms_beyond_floor"].items())[:8])
        out(f"coldstart {name:6s}: imports beyond the floor's, ms (self time, -X importtime, one run): {top}")
    return result


# -- request counting with botocore event hooks ---------------------------------------------------
class AwsCounter:
    """Counts the requests (HTTP attempts, retries included), operations and billable units of the
    clients it is attached to. Thread-safe (the media checks run on 16 threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.http: Counter[str] = Counter()  # service → HTTP requests sent
        self.ops: Counter[str] = Counter()  # "service.Operation" → API calls
        self.wru = 0
        self.rru = 0
        self.sqs_chunks = 0
        self.batch_items = 0  # items written with BatchWriteItem
        self.sample_item: dict[str, Any] | None = None
        self.sqs_bodies: list[int] = []
        self.visibility: list[int] = []  # VisibilityTimeout of each ChangeMessageVisibility

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register("before-parameter-build", self._params)
        client.meta.events.register("before-send", lambda **kw: self._sent(service))

    def _sent(self, service: str) -> None:
        with self.lock:
            self.http[service] += 1

    def _params(self, params: dict[str, Any], model: Any, event_name: str = "", **_: Any) -> None:
        service = event_name.split(".")[1] if event_name.count(".") >= 2 else "?"
        op = model.name
        with self.lock:
            self.ops[f"{service}.{op}"] += 1
            if op == "BatchWriteItem":
                for reqs in params.get("RequestItems", {}).values():
                    self.wru += len(reqs)
                    self.batch_items += len(reqs)
                    for r in reqs:
                        item = (r.get("PutRequest") or {}).get("Item")
                        if item and self.sample_item is None and str(item.get("sk", {}).get("S", "")).startswith("RCP#"):
                            self.sample_item = item
            elif op in ("PutItem", "UpdateItem", "DeleteItem"):
                self.wru += 1
            elif op in ("GetItem", "Query", "Scan"):
                self.rru += 1
            elif op == "BatchGetItem":
                self.rru += sum(len(v.get("Keys", [])) for v in params.get("RequestItems", {}).values())
            if op == "SendMessageBatch":
                size = sum(len(e.get("MessageBody", "").encode()) for e in params.get("Entries", []))
                self.sqs_bodies += [len(e.get("MessageBody", "").encode()) for e in params.get("Entries", [])]
                self.sqs_chunks += max(1, math.ceil(size / 65536))
            if op == "ChangeMessageVisibility":
                self.visibility.append(int(params.get("VisibilityTimeout", 0)))
            if op == "SendMessage":
                self.sqs_chunks += max(1, math.ceil(len(params.get("MessageBody", "").encode()) / 65536))
            elif service == "sqs":
                self.sqs_chunks += 1

    def summary(self) -> dict[str, Any]:
        return {"http": dict(self.http), "ops": dict(self.ops), "wru": self.wru, "rru": self.rru,
                "sqs_chunks": self.sqs_chunks, "batch_items": self.batch_items}


# -- 2. plan throughput ---------------------------------------------------------------------------
def _s3_event(bucket: str, key: str, size: int, tag: str) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "s3-put-manifest.json").read_text())
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["s3"]["object"].update({"key": key, "size": size, "eTag": tag.ljust(32, "0")[:32], "sequencer": tag.upper()})
    return event


def _manifest(n: int) -> bytes:
    rows = [{"number": f"4477{i:08d}", "media": f"media/m{i}.png", "name": f"n{i}"} for i in range(n)]
    return json.dumps({"message": "Hello {name}", "recipients": rows}).encode()


def bench_plan(relay: Any, n_media: int, out=print) -> dict[str, Any]:
    from relay import aws as relay_aws

    s3 = relay.client("s3")
    from botocore.config import Config
    import boto3

    up = boto3.client("s3", endpoint_url=relay.aws.endpoint, region_name="us-east-1",
                      config=Config(max_pool_connections=16))
    png = (SAMPLES / "chart.png").read_bytes()
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: up.put_object(Bucket=relay.bucket, Key=f"media/m{i}.png", Body=png), range(n_media)))
    out(f"plan: uploaded {n_media} media objects in {time.perf_counter() - started:.1f}s (16 threads)")

    # warm-up through the same invoker: applies the function env, creates the container's clients
    warm = json.dumps({"recipients": [{"number": "447799999999", "media": "media/m0.png"}]}).encode()
    s3.put_object(Bucket=relay.bucket, Key="manifests/warm.json", Body=warm)
    relay.invoker.invoke("IngestFunction", _s3_event(relay.bucket, "manifests/warm.json", len(warm), "warm"))

    counter = AwsCounter()
    for service in ("dynamodb", "s3", "sqs"):
        counter.attach(relay_aws.client(service))
    body = _manifest(n_media)
    s3.put_object(Bucket=relay.bucket, Key="manifests/bench.json", Body=body)
    event = _s3_event(relay.bucket, "manifests/bench.json", len(body), "bench")
    started = time.perf_counter()
    result = relay.invoker.invoke("IngestFunction", event)
    seconds = time.perf_counter() - started
    recipients = int(result["recipients"])
    jobs = int(result["jobs"])
    if recipients != n_media or result.get("rejected"):
        out(f"plan: WARNING: {result}")
    counts = counter.summary()
    out(f"plan: IngestFunction planned {recipients} recipients into {jobs} jobs in {seconds:.2f}s "
        f"({recipients / seconds:.0f} recipients/s); requests {counts['http']}")

    floor = _plan_floor(relay, n_media, counter)
    ours_rate = recipients / seconds
    floor_rate = recipients / floor["seconds"]
    ddb = counts["http"].get("dynamodb", 0) / recipients
    s3r = counts["http"].get("s3", 0) / recipients
    out(f"plan: floor (ranged GETs x{n_media} on 16 threads, {floor['items']} items in BatchWriteItem of 25, "
        f"{floor['messages']} messages in SendMessageBatch of 10) {floor['seconds']:.2f}s "
        f"(GET {floor['get_s']:.2f}s + DDB {floor['ddb_s']:.2f}s + SQS {floor['sqs_s']:.2f}s) = {floor_rate:.0f} recipients/s")
    out(f"plan: throughput ours/floor {ours_rate / floor_rate:.2f}; DynamoDB requests/recipient {ddb:.3f}; "
        f"S3 requests/recipient {s3r:.3f}; SQS requests/recipient {counts['http'].get('sqs', 0) / recipients:.3f}")
    return {"rows": n_media, "recipients": recipients, "jobs": jobs, "seconds": round(seconds, 3),
            "recipients_per_s": round(ours_rate, 1), "floor": floor, "floor_recipients_per_s": round(floor_rate, 1),
            "throughput_vs_floor": round(ours_rate / floor_rate, 3), "ddb_requests_per_recipient": round(ddb, 4),
            "s3_requests_per_recipient": round(s3r, 4), "counts": counts}


def _plan_floor(relay: Any, n_media: int, counter: AwsCounter) -> dict[str, Any]:
    """Only what planning cannot avoid, with clients of its own: read each object's first 4 KiB,
    write the same number of ledger items, send the same number of queue messages."""
    import boto3
    from botocore.config import Config

    cfg = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=20)
    kw = {"endpoint_url": relay.aws.endpoint, "region_name": "us-east-1", "config": cfg}
    s3, ddb, sqs = boto3.client("s3", **kw), boto3.client("dynamodb", **kw), boto3.client("sqs", **kw)
    n_items = counter.batch_items
    bodies = counter.sqs_bodies
    sample = dict(counter.sample_item or {"state": {"S": "planned"}, "message": {"S": "x" * 200}})
    queue = sqs.create_queue(QueueName=f"bench-floor-{int(time.time() * 1000) % 10**9}")["QueueUrl"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: s3.get_object(Bucket=relay.bucket, Key=f"media/m{i}.png", Range="bytes=0-4095")["Body"].read(),
                      range(n_media)))
    t1 = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for i in range(n_items):
        item = {**sample, "pk": {"S": "BENCHFLOOR#0"}, "sk": {"S": f"RCP#{i:08d}"}}
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25 or i == n_items - 1:
            pending = {relay.table: batch}
            while pending:
                pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            batch = []
    t2 = time.perf_counter()
    for start in range(0, len(bodies), 10):
        ddb_entries = [{"Id": str(j), "MessageBody": "x" * size} for j, size in enumerate(bodies[start:start + 10])]
        sqs.send_message_batch(QueueUrl=queue, Entries=ddb_entries)
    t3 = time.perf_counter()
    sqs.delete_queue(QueueUrl=queue)
    return {"seconds": round(t3 - t0, 3), "get_s": round(t1 - t0, 3), "ddb_s": round(t2 - t1, 3), "sqs_s": round(t3 - t2, 3),
            "items": n_items, "messages": len(bodies)}


# -- 3. delivery time -----------------------------------------------------------------------------
# The vendor's own limit, 90 requests per window, with the window compressed from 60 s to 12 s. The
# compression must leave the limit binding, as it is on AWS (a request costs the sender tens of ms;
# the vendor allows one every 667 ms): at 20 per 1 s the sender's own work per request on the
# embedded stack (60-95 ms on a 2-core machine) is slower than the limit, and the figure would time
# the machine, not the rate limiting. The sender's time per request is printed beside it.
DELIVERY_RATE = 90  # requests per window
DELIVERY_WINDOW = 12.0  # seconds


def bench_delivery(aws: Any, recipients: int, stamp: str, out=print) -> dict[str, Any]:
    from relay import aws as relay_aws
    from relay_local.dev.poller import pump
    from relay_local.dev.session import LOCAL_TOKEN, LocalRelay
    from relay_local.dev.standin import PushApiStandIn

    # the relay's window keeps production's margin over the vendor's (61 s for 60 s), compressed
    env = {"RATE_LIMIT_PER_MINUTE": str(DELIVERY_RATE), "RATE_WINDOW_SECONDS": str(round(DELIVERY_WINDOW * 61 / 60, 4)),
           "RECIPIENTS_PER_PUSH": "10", "RETRY_BASE_SECONDS": "0", "POWERTOOLS_LOG_LEVEL": "CRITICAL"}
    vendor = PushApiStandIn(token=LOCAL_TOKEN, rate_limit_per_minute=DELIVERY_RATE, clock_scale=60.0 / DELIVERY_WINDOW).start()
    relay = LocalRelay(stack_name=f"benchd{stamp}", env=env).start(aws=aws, api=vendor)
    try:
        s3 = relay.client("s3")
        s3.put_object(Bucket=relay.bucket, Key="media/chart.png", Body=(SAMPLES / "chart.png").read_bytes())
        rows = [{"number": f"4478{i:08d}", "media": "media/chart.png"} for i in range(recipients)]
        s3.put_object(Bucket=relay.bucket, Key="manifests/delivery.json",
                      Body=json.dumps({"message": "Hello", "recipients": rows}).encode())
        if not pump([relay.pollers["IngestFunction"]], timeout=300):
            raise RuntimeError("ingest did not drain")
        sender = relay.pollers["SenderFunction"]
        relay.invoker.invoke("SenderFunction", {"Records": []})  # the sender's env and clients, before counting
        counter = AwsCounter()
        for service in ("dynamodb", "sqs", "s3"):
            counter.attach(relay_aws.client(service))
        # instrumentation only (this process's Sender object): when slots were granted, and how
        # long the limiter said a deferred job had to wait
        import sender.app as sender_app

        limiter = sender_app.sender().limiter
        grants: list[float] = []
        waits: list[float] = []
        acquire = limiter.acquire

        def timed_acquire() -> float:
            wait = acquire()
            (waits.append(wait) if wait > 0 else grants.append(limiter.last_grant))
            return wait

        limiter.acquire = timed_acquire  # type: ignore[method-assign]
        # the same loop as relay_local.dev.poller.pump, timing where the wall time goes
        busy = idle = 0.0
        invocations = 0
        started, started_epoch = time.monotonic(), time.time()
        ok = False
        deadline = started + 300
        while time.monotonic() < deadline:
            t = time.monotonic()
            handled = sender.poll_once()
            busy += time.monotonic() - t
            if handled:
                invocations += 1
                continue
            if sender.pending() == 0:
                ok = True
                break
            t = time.monotonic()
            time.sleep(0.1)
            idle += time.monotonic() - t
        wall = time.monotonic() - started
        stats = vendor.stats()
        reqs = sorted(r.at for r in vendor.requests)
        accepted = stats["accepted_requests"]
        floor = max(DELIVERY_WINDOW, stats["requests"] * DELIVERY_WINDOW / DELIVERY_RATE)
        deferrals = counter.ops.get("sqs.ChangeMessageVisibility", 0)
        first = reqs[0] - started_epoch if reqs else 0.0
        span = reqs[-1] - reqs[0] if reqs else 0.0
        # requests per whole window, counted from the first request
        per_window = Counter(int((r - reqs[0]) // DELIVERY_WINDOW) for r in reqs) if reqs else Counter()
        arrivals = reqs  # every request the relay sent, over the limit or not
        spans = [arrivals[i + DELIVERY_RATE] - arrivals[i] for i in range(len(arrivals) - DELIVERY_RATE)]
        late = [a - g for a, g in zip(sorted(r.at for r in vendor.requests), grants)] if len(grants) == len(reqs) else []
        vis = counter.visibility
        # retries (RETRY_BASE_SECONDS=0) put their job back with visibility 0: sums compare the deferrals
        lost = sum(vis) - sum(waits)
        analysis = {
            "min_span_of_rate_plus_1_arrivals_s": round(min(spans), 4) if spans else None,
            "slot_to_arrival_ms": {"min": round(min(late) * 1000, 1), "median": round(statistics.median(late) * 1000, 1),
                                   "max": round(max(late) * 1000, 1)} if late else None,
            "deferral_wait_asked_s_mean": round(statistics.mean(waits), 3) if waits else 0.0,
            "deferral_visibility_given_s_mean": round(sum(vis) / len(waits), 3) if waits else 0.0,
            "deferral_seconds_lost_to_whole_second_visibility": round(lost, 2),
            "busy_seconds_per_request": round(busy / max(1, stats["requests"]), 4),
            "busy_seconds_per_job_handled": round(busy / max(1, stats["requests"] + len(waits)), 4),
            "busy_share_of_wall": round(busy / wall, 3),
        }
        out(f"delivery: {recipients} recipients, {stats['requests']} requests ({accepted} accepted) at "
            f"{DELIVERY_RATE}/{DELIVERY_WINDOW:g}s in {wall:.2f}s; floor {floor:.2f}s; ratio {wall / floor:.2f}; "
            f"over limit {stats['over_limit']}; drained={ok}")
        out(f"delivery: {invocations} sender invocations, {deferrals} rate-limit deferrals (ChangeMessageVisibility); "
            f"busy {busy:.2f}s in poll/invoke, idle {idle:.2f}s sleeping; first request at +{first:.2f}s, "
            f"first→last request {span:.2f}s; requests per window {[per_window[k] for k in sorted(per_window)]}")
        out(f"delivery: why: deferred jobs asked to wait {analysis['deferral_wait_asked_s_mean']:.2f}s on average but "
            f"SQS visibility is whole seconds (given {analysis['deferral_visibility_given_s_mean']:.2f}s; "
            f"{analysis['deferral_seconds_lost_to_whole_second_visibility']}s of job-waiting in total beyond what the limiter asked); "
            f"slot taken → request at the stand-in {analysis['slot_to_arrival_ms']} ms; shortest span of "
            f"{DELIVERY_RATE + 1} consecutive arrivals {analysis['min_span_of_rate_plus_1_arrivals_s']}s "
            f"(< {DELIVERY_WINDOW:g}s means over the vendor's limit); sender busy {analysis['busy_seconds_per_request'] * 1000:.0f} ms "
            f"per request sent, {analysis['busy_seconds_per_job_handled'] * 1000:.0f} ms per job handled (sent or deferred), "
            f"{analysis['busy_share_of_wall']:.0%} of the wall time")
        return {"recipients": recipients, "requests": stats["requests"], "accepted_requests": accepted,
                "wall_seconds": round(wall, 3), "floor_seconds": round(floor, 3), "wall_over_floor": round(wall / floor, 3),
                "over_limit": stats["over_limit"], "drained": ok, "invocations": invocations, "deferrals": deferrals,
                "busy_seconds": round(busy, 3), "idle_seconds": round(idle, 3), "first_request_after_s": round(first, 3),
                "first_to_last_request_s": round(span, 3),
                "requests_per_window": [per_window[k] for k in sorted(per_window)], "analysis": analysis,
                "counts": counter.summary()}
    finally:
        relay.stop()


# -- 4. peak memory (and the counts the cost needs), in a process of its own -----------------------
CHILD = r"""
import json, resource, sys, time, importlib
args = json.loads(sys.argv[1])
from relay import aws
from relay_local.bench.figures import AwsCounter
counter = AwsCounter()
for s in ("dynamodb", "s3", "sqs"):
    counter.attach(aws.client(s))
module_name, func = args["handler"].rsplit(".", 1)
handler = getattr(importlib.import_module(module_name), func)
from relay_local.dev.invoker import LocalContext
event = json.load(open(args["event"]))
ctx = LocalContext(function_name=args["name"], memory_limit_in_mb=args["memory"], timeout_seconds=args["timeout"],
                   invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + args["name"])
t = time.perf_counter()
result = handler(event, ctx)
seconds = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
hwm_mb = int(hwm[0].split()[1]) / 1024 if hwm else None
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "vmhwm_mb": hwm_mb, "seconds": seconds,
                  "result": result, "counts": counter.summary()}, default=str))
"""


def _run_child(relay: Any, logical_id: str, event: dict[str, Any], work: Path) -> dict[str, Any]:
    from relay_local.template import functions

    spec = functions()[logical_id]
    path = work / f"{logical_id}.json"
    path.write_text(json.dumps(event))
    env = _clean_env({**relay.invoker.environment(logical_id), "POWERTOOLS_LOG_LEVEL": "CRITICAL"})
    args = json.dumps({"handler": spec.handler, "event": str(path), "name": logical_id, "memory": spec.memory,
                       "timeout": spec.timeout})
    # Linux carries a process's peak RSS across fork+exec (ru_maxrss of a child of this big process
    # would start at the parent's peak): a small shell in between forks the child from itself.
    cmd = ["/bin/sh", "-c", '"$0" "$@"; rc=$?; exit $rc', sys.executable, "-c", CHILD, args]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{logical_id} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_memory(relay: Any, n_media: int, out=print) -> dict[str, Any]:
    from relay_local.dev.poller import SqsPoller

    work = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    s3 = relay.client("s3")
    body = _manifest(n_media)
    # a second manifest with the same rows: a new upload, so it is planned (not a duplicate)
    s3.put_object(Bucket=relay.bucket, Key="manifests/bench-rss.json", Body=body)
    ingest = _run_child(relay, "IngestFunction", _s3_event(relay.bucket, "manifests/bench-rss.json", len(body), "rss"), work)
    out(f"memory: IngestFunction on the {n_media}-row manifest: peak RSS {ingest['rss_mb']:.0f} MB (VmHWM {ingest['vmhwm_mb']:.0f}) "
        f"({ingest['seconds']:.2f}s, {ingest['result']})")
    # one full sender batch: 10 jobs of 100 recipients off the send queue the plans filled
    poller = relay.pollers["SenderFunction"]
    messages: list[dict[str, Any]] = []
    for _ in range(30):  # full jobs only (the warm-up's one-recipient job stays behind)
        got = SqsPoller._receive(poller)  # noqa: SLF001 - a plain receive
        if not got:
            break
        messages += [m for m in got if len(json.loads(m["Body"]).get("entries", [])) >= 100]
        if len(messages) >= 10:
            break
    messages = messages[:10]
    jobs = [json.loads(m["Body"]) for m in messages]
    n_rcp = sum(len(j.get("entries", [])) for j in jobs)
    sender = _run_child(relay, "SenderFunction", poller.event_for(messages), work)
    out(f"memory: SenderFunction on {len(messages)} jobs / {n_rcp} recipients: peak RSS {sender['rss_mb']:.0f} MB (VmHWM {sender['vmhwm_mb']:.0f}) "
        f"({sender['seconds']:.2f}s, failures {len((sender['result'] or {}).get('batchItemFailures') or [])}, "
        f"vendor requests {len(relay.api.requests)})")
    return {"ingest": ingest, "sender": {**sender, "jobs": len(messages), "recipients": n_rcp}}


def _manifest_at_limits() -> bytes:
    """A JSON manifest at every documented limit: 50,000 rows, 32 columns, just under 20 MB (JSON:
    the format that costs the most memory per byte; compact, so that as many values as possible
    fit, each its own string of at least 2 characters), one campaign media object for everyone
    and a message filled from the row."""
    from relay.manifest import MAX_MANIFEST_BYTES, MAX_ROWS

    columns = 32  # number, name and 30 more

    def row(i: int, width: int) -> dict[str, str]:
        return {"number": f"4477{i:08d}", "name": f"n{i}", **{f"c{j:02d}": f"{i + j:0{width}d}"[-width:] for j in range(columns - 2)}}

    def dump(doc: object) -> bytes:
        return json.dumps(doc, separators=(",", ":")).encode()

    empty = len(dump(row(MAX_ROWS, 0))) + 1
    width = max(2, (MAX_MANIFEST_BYTES - 4_096 - empty * MAX_ROWS) // (MAX_ROWS * (columns - 2)))
    body = dump({"message": "Hello {name}, your code is {c07}", "media": "media/bench-limits.png",
                 "recipients": [row(i, width) for i in range(MAX_ROWS)]})
    assert len(body) <= MAX_MANIFEST_BYTES, len(body)
    return body


def bench_ingest_at_limits(relay: Any, sample_png: bytes, out=print) -> dict[str, Any]:
    """Peak RSS of IngestFunction planning a manifest at the documented limits (issue 9): it must
    fit the function's MemorySize in template.yaml."""
    from relay_local.template import functions

    work = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    s3 = relay.client("s3")
    s3.put_object(Bucket=relay.bucket, Key="media/bench-limits.png", Body=sample_png)
    body = _manifest_at_limits()
    s3.put_object(Bucket=relay.bucket, Key="manifests/bench-limits.json", Body=body)
    memory = functions()["IngestFunction"].memory
    run = _run_child(relay, "IngestFunction", _s3_event(relay.bucket, "manifests/bench-limits.json", len(body), "limits"), work)
    out(f"memory: IngestFunction on a manifest at the limits ({len(body):,} bytes, 50,000 rows, 32 columns): peak RSS "
        f"{run['rss_mb']:.0f} MB of its {memory} MB ({run['seconds']:.1f}s, {run['result']})")
    return {**run, "memory_mb": memory, "manifest_bytes": len(body)}


def print_ingest_at_limits(r: dict[str, Any]) -> None:
    print(f"bench: peak_rss_mb.ingest_at_limits={r['rss_mb']:.0f}")
    if r["rss_mb"] > r["memory_mb"]:
        print(f"bench: MISSED peak_rss_mb.ingest_at_limits: {r['rss_mb']:.0f} MB is over IngestFunction's MemorySize "
              f"{r['memory_mb']} MB in template.yaml: a manifest at the documented limits would run out of memory on AWS")


# -- 5. cost ------------------------------------------------------------------------------------
def cost(plan: dict[str, Any], memory: dict[str, Any], out=print) -> dict[str, Any]:
    from relay_local.template import functions

    specs = functions()
    gb = {k: specs[k].memory / 1024 for k in ("IngestFunction", "SenderFunction")}
    per = 1000.0
    pc, sc = plan["counts"], memory["sender"]["counts"]
    pr, sr = plan["recipients"], max(1, memory["sender"]["recipients"])
    # the event source mapping's own SQS calls (receive + delete) for the sender's messages,
    # and the IngestQueue's (S3 notification send + receive + delete) for the manifest
    sender_msgs = memory["sender"]["jobs"]
    esm_sender = 2 * math.ceil(sender_msgs / 10)
    rows = [
        ("Lambda GB-s ingest", plan["seconds"] * gb["IngestFunction"] * LAMBDA_GB_S * per / pr),
        ("Lambda GB-s sender", memory["sender"]["seconds"] * gb["SenderFunction"] * LAMBDA_GB_S * per / sr),
        ("Lambda requests", (1 / pr + 1 / sr) * LAMBDA_REQUEST * per),
        ("DynamoDB writes", (pc["wru"] / pr + sc["wru"] / sr) * DDB_WRU * per),
        ("DynamoDB reads", (pc["rru"] / pr + sc["rru"] / sr) * DDB_RRU * per),
        ("SQS", ((pc["sqs_chunks"] + 3) / pr + (sc["sqs_chunks"] + esm_sender) / sr) * SQS_REQUEST * per),
    ]
    total = sum(v for _, v in rows)
    s3_gets = (pc["ops"].get("s3.GetObject", 0) / pr) * S3_GET * per
    out(f"cost per 1,000 recipients (arm64 Lambda at {specs['IngestFunction'].memory}/{specs['SenderFunction'].memory} MB, "
        f"durations measured locally on moto):")
    for name, value in rows:
        out(f"  {name:22s} ${value:.6f}")
    out(f"  {'total':22s} ${total:.6f}")
    out(f"  (not in the total: S3 GETs at planning ${s3_gets:.6f}, and the vendor's GET of each presigned URL)")
    units = {"ingest_wru_per_rcp": pc["wru"] / pr, "ingest_rru_per_rcp": pc["rru"] / pr,
             "sender_wru_per_rcp": sc["wru"] / sr, "sender_rru_per_rcp": sc["rru"] / sr}
    return {"rows": {k: round(v, 8) for k, v in rows}, "total_usd_per_1000": round(total, 6),
            "s3_get_usd_per_1000_not_in_total": round(s3_gets, 6), "units": {k: round(v, 4) for k, v in units.items()}}


# -- main -------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relay_local.bench")
    parser.add_argument("--quick", action="store_true", help="fewer runs and rows: a smoke check in about a minute")
    parser.add_argument("--only", choices=["coldstart", "delivery", "ingest_at_limits"],
                        help="run one part alone (no results file; default: every part)")
    args = parser.parse_args(argv)
    if args.only == "coldstart":
        print(json.dumps(bench_coldstart(3 if args.quick else 9), default=str))
        return 0
    if args.only == "delivery":
        from relay_local.dev.embedded import EmbeddedAws

        if str(FUNCTIONS) not in sys.path:
            sys.path.insert(0, str(FUNCTIONS))
        with EmbeddedAws() as aws:
            print(json.dumps(bench_delivery(aws, 1_000 if args.quick else 2_000, time.strftime("%H%M%S")), default=str))
        return 0
    if args.only == "ingest_at_limits":
        return _only_ingest_at_limits()
    quick = args.quick
    runs = 3 if quick else 9
    n_media = 2_000 if quick else 10_000
    n_delivery = 1_000 if quick else 2_000
    stamp = time.strftime("%Y%m%dT%H%M%S")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    if str(FUNCTIONS) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS))
    started = time.monotonic()
    print(f"bench: {'quick' if quick else 'full'} run, {os.cpu_count()} cores, python {sys.version.split()[0]}")

    results: dict[str, Any] = {"quick": quick, "stamp": stamp}
    results["coldstart"] = bench_coldstart(runs)

    from relay_local.dev.embedded import EmbeddedAws
    from relay_local.dev.session import LocalRelay

    aws = EmbeddedAws().start()
    try:
        relay = LocalRelay(stack_name=f"benchp{stamp}", env={"POWERTOOLS_LOG_LEVEL": "CRITICAL"}).start(aws=aws)
        try:
            results["plan"] = bench_plan(relay, n_media)
            results["memory"] = bench_memory(relay, n_media)
            results["ingest_at_limits"] = bench_ingest_at_limits(relay, (ROOT / "samples" / "media" / "chart.png").read_bytes())
        finally:
            relay.stop()
        results["delivery"] = bench_delivery(aws, n_delivery, stamp)
    finally:
        aws.stop()
    results["cost"] = cost(results["plan"], results["memory"])
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    print(f"bench: done in {results['wall_seconds']:.0f}s")

    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / f"results-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"bench: results written to {path.relative_to(ROOT)}")
    c, p, d, m = results["coldstart"], results["plan"], results["delivery"], results["memory"]
    for name in COLD_INIT:
        print(f"bench: coldstart.{name}_over_floor={c[name]['over_floor']:.2f}")
    for name in COLD_INIT:
        print(f"bench: coldstart.{name}_libraries_over_floor={c[name]['libraries_over_floor']:.2f}")
    for name in COLD_INIT:
        print(f"bench: coldstart.{name}_without_bytecode_over_floor={c[name]['without_bytecode_over_floor']:.2f}")
    print(f"bench: plan.throughput_vs_floor={p['throughput_vs_floor']:.2f}")
    print(f"bench: plan.ddb_requests_per_recipient={p['ddb_requests_per_recipient']:.3f}")
    print(f"bench: plan.s3_requests_per_recipient={p['s3_requests_per_recipient']:.2f}")
    print(f"bench: delivery.wall_over_floor={d['wall_over_floor']:.2f}")
    print(f"bench: delivery.over_limit={d['over_limit']}")
    print(f"bench: peak_rss_mb.ingest={m['ingest']['rss_mb']:.0f}")
    print(f"bench: peak_rss_mb.sender={m['sender']['rss_mb']:.0f}")
    print_ingest_at_limits(results["ingest_at_limits"])
    print(f"bench: cost_usd_per_1000={results['cost']['total_usd_per_1000']:.4f}")
    return 0


def _only_ingest_at_limits() -> int:
    from relay_local.dev.embedded import EmbeddedAws
    from relay_local.dev.session import LocalRelay

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    if str(FUNCTIONS) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS))
    with EmbeddedAws() as aws:
        relay = LocalRelay(stack_name=f"benchl{time.strftime('%H%M%S')}", env={"POWERTOOLS_LOG_LEVEL": "CRITICAL"}).start(aws=aws)
        try:
            r = bench_ingest_at_limits(relay, (ROOT / "samples" / "media" / "chart.png").read_bytes())
        finally:
            relay.stop()
    print_ingest_at_limits(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())

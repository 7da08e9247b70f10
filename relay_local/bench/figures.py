"""`python -m relay_local.bench [--quick]`: performance figures, each beside its floor (one module per figure).

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

import json
import os
import sys
import time
from typing import Any

from relay_local.bench import OUT_DIR
from relay_local.bench.coldstart import COLD_INIT, bench_coldstart
from relay_local.bench.cost import cost
from relay_local.bench.delivery import bench_delivery
from relay_local.bench.memory import bench_ingest_at_limits, bench_memory, print_ingest_at_limits
from relay_local.bench.plan import bench_plan
from relay_local.bench.results import bench_results
from relay_local.template import FUNCTIONS, ROOT


def main(argv: list[str] | None = None, prog: str = "python -m relay_local.bench") -> int:
    from relay_local.cli import OneLineParser

    parser = OneLineParser(prog=prog, description="Speed and cost figures, each beside its floor (not tests).")
    parser.add_argument("--quick", action="store_true", help="fewer runs and rows: a smoke check in about a minute")
    parser.add_argument(
        "--only", choices=["coldstart", "delivery", "ingest_at_limits"], help="run one part alone (no results file; default: every part)"
    )
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
        relay = LocalRelay(stack_name=f"benchr{stamp}", env={"POWERTOOLS_LOG_LEVEL": "CRITICAL"}).start(aws=aws)
        try:  # on a stack of its own: the stream holds this one campaign's changes only
            results["results"] = bench_results(relay, 1_000 if quick else 5_000)
        finally:
            relay.stop()
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
    print(f"bench: results.writes_per_1000_events={results['results']['writes_per_1000_events']:.2f}")
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

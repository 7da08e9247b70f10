"""Figure 4, peak memory: IngestFunction (an N-row manifest, and one at the documented limits) and
SenderFunction (10 jobs of 100 recipients), each in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from relay_local.bench.coldstart import _clean_env
from relay_local.bench.plan import _manifest, _s3_event
from relay_local.template import ROOT

CHILD = r"""
import json, resource, sys, time, importlib
args = json.loads(sys.argv[1])
from relay import aws
from relay_local.bench.aws_counter import AwsCounter
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
    args = json.dumps({"handler": spec.handler, "event": str(path), "name": logical_id, "memory": spec.memory, "timeout": spec.timeout})
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
    out(
        f"memory: IngestFunction on the {n_media}-row manifest: peak RSS {ingest['rss_mb']:.0f} MB (VmHWM {ingest['vmhwm_mb']:.0f}) "
        f"({ingest['seconds']:.2f}s, {ingest['result']})"
    )
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
    out(
        f"memory: SenderFunction on {len(messages)} jobs / {n_rcp} recipients: peak RSS {sender['rss_mb']:.0f} MB"
        f" (VmHWM {sender['vmhwm_mb']:.0f}) "
        f"({sender['seconds']:.2f}s, failures {len((sender['result'] or {}).get('batchItemFailures') or [])}, "
        f"vendor requests {len(relay.api.requests)})"
    )
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
    body = dump(
        {
            "message": "Hello {name}, your code is {c07}",
            "media": "media/bench-limits.png",
            "recipients": [row(i, width) for i in range(MAX_ROWS)],
        }
    )
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
    out(
        f"memory: IngestFunction on a manifest at the limits ({len(body):,} bytes, 50,000 rows, 32 columns): peak RSS "
        f"{run['rss_mb']:.0f} MB of its {memory} MB ({run['seconds']:.1f}s, {run['result']})"
    )
    return {**run, "memory_mb": memory, "manifest_bytes": len(body)}


def print_ingest_at_limits(r: dict[str, Any]) -> None:
    print(f"bench: peak_rss_mb.ingest_at_limits={r['rss_mb']:.0f}")
    if r["rss_mb"] > r["memory_mb"]:
        print(
            f"bench: MISSED peak_rss_mb.ingest_at_limits: {r['rss_mb']:.0f} MB is over IngestFunction's MemorySize "
            f"{r['memory_mb']} MB in template.yaml: a manifest at the documented limits would run out of memory on AWS"
        )

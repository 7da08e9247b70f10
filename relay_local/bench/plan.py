"""Figure 2, plan throughput: IngestFunction on an N-row manifest against moto server, beside a
floor making only the AWS calls planning cannot avoid."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from relay.ledger_keys import recipient_sk
from relay_local.bench import SAMPLES
from relay_local.bench.aws_counter import AwsCounter
from relay_local.template import ROOT


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
    import boto3
    from botocore.config import Config

    up = boto3.client("s3", endpoint_url=relay.aws.endpoint, region_name="us-east-1", config=Config(max_pool_connections=16))
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
    out(
        f"plan: IngestFunction planned {recipients} recipients into {jobs} jobs in {seconds:.2f}s "
        f"({recipients / seconds:.0f} recipients/s); requests {counts['http']}"
    )

    floor = _plan_floor(relay, n_media, counter)
    ours_rate = recipients / seconds
    floor_rate = recipients / floor["seconds"]
    ddb = counts["http"].get("dynamodb", 0) / recipients
    s3r = counts["http"].get("s3", 0) / recipients
    out(
        f"plan: floor (ranged GETs x{n_media} on 16 threads, {floor['items']} items in BatchWriteItem of 25, "
        f"{floor['messages']} messages in SendMessageBatch of 10) {floor['seconds']:.2f}s "
        f"(GET {floor['get_s']:.2f}s + DDB {floor['ddb_s']:.2f}s + SQS {floor['sqs_s']:.2f}s) = {floor_rate:.0f} recipients/s"
    )
    out(
        f"plan: throughput ours/floor {ours_rate / floor_rate:.2f}; DynamoDB requests/recipient {ddb:.3f}; "
        f"S3 requests/recipient {s3r:.3f}; SQS requests/recipient {counts['http'].get('sqs', 0) / recipients:.3f}"
    )
    return {
        "rows": n_media,
        "recipients": recipients,
        "jobs": jobs,
        "seconds": round(seconds, 3),
        "recipients_per_s": round(ours_rate, 1),
        "floor": floor,
        "floor_recipients_per_s": round(floor_rate, 1),
        "throughput_vs_floor": round(ours_rate / floor_rate, 3),
        "ddb_requests_per_recipient": round(ddb, 4),
        "s3_requests_per_recipient": round(s3r, 4),
        "counts": counts,
    }


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
        list(
            pool.map(
                lambda i: s3.get_object(Bucket=relay.bucket, Key=f"media/m{i}.png", Range="bytes=0-4095")["Body"].read(), range(n_media)
            )
        )
    t1 = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for i in range(n_items):
        item = {**sample, "pk": {"S": "BENCHFLOOR#0"}, "sk": {"S": recipient_sk(f"{i:08d}")}}
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25 or i == n_items - 1:
            pending = {relay.table: batch}
            while pending:
                pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            batch = []
    t2 = time.perf_counter()
    for start in range(0, len(bodies), 10):
        ddb_entries = [{"Id": str(j), "MessageBody": "x" * size} for j, size in enumerate(bodies[start : start + 10])]
        sqs.send_message_batch(QueueUrl=queue, Entries=ddb_entries)
    t3 = time.perf_counter()
    sqs.delete_queue(QueueUrl=queue)
    return {
        "seconds": round(t3 - t0, 3),
        "get_s": round(t1 - t0, 3),
        "ddb_s": round(t2 - t1, 3),
        "sqs_s": round(t3 - t2, 3),
        "items": n_items,
        "messages": len(bodies),
    }

"""Results files' coalescing (ResultsFunction): a campaign's ledger changes → results file writes.
Reads the whole change stream of one sent campaign the way Lambda's mapping does (BatchSize from
template.yaml) and counts the rewrites of its results file per 1,000 stream events."""

from __future__ import annotations

from typing import Any


def bench_results(relay: Any, recipients: int) -> dict[str, Any]:
    from relay import results_stream
    from relay_local.dev.poller import pump

    body = "# application: 8\nnumber,message\n" + "".join(f"4479{i:08d},Hello {i}\n" for i in range(recipients))
    relay.client("s3").put_object(Bucket=relay.bucket, Key="manifests/results-bench.csv", Body=body.encode())
    if not pump(list(relay.pollers.values()), timeout=600):  # planned and sent; the stream not read yet
        raise RuntimeError("the campaign did not drain")
    writes = 0
    real = results_stream.ResultsWriter.write

    def counted(self: Any, bucket: str, key: str, images: Any = ()) -> None:
        nonlocal writes
        writes += 1
        real(self, bucket, key, images)

    results_stream.ResultsWriter.write = counted  # type: ignore[method-assign]
    try:
        [stream] = relay.stream_pollers.values()
        events = 0
        while handled := stream.poll_once():
            events += handled
    finally:
        results_stream.ResultsWriter.write = real  # type: ignore[method-assign]
    return {
        "recipients": recipients,
        "events": events,
        "writes": writes,
        "batch_size": stream.batch_size,
        "writes_per_1000_events": round(writes * 1000 / events, 2) if events else 0.0,
    }

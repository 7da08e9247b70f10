"""make bench's memory check at the documented manifest limits: within the template's MemorySize, or a clear miss."""

from __future__ import annotations

import json

from relay.manifest import MAX_MANIFEST_BYTES, MAX_ROWS
from relay_local.bench.memory import _manifest_at_limits, print_ingest_at_limits


def test_given_a_peak_over_the_functions_memory_when_printed_then_the_bench_names_the_miss(capsys):
    print_ingest_at_limits({"rss_mb": 276.4, "memory_mb": 256})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "bench: peak_rss_mb.ingest_at_limits=276"
    assert out[1].startswith("bench: MISSED peak_rss_mb.ingest_at_limits: 276 MB is over IngestFunction's MemorySize 256 MB")
    print_ingest_at_limits({"rss_mb": 276.4, "memory_mb": 512})
    assert capsys.readouterr().out.splitlines() == ["bench: peak_rss_mb.ingest_at_limits=276"]


def test_the_bench_manifest_is_at_every_documented_limit():
    body = _manifest_at_limits()
    doc = json.loads(body)
    assert len(body) <= MAX_MANIFEST_BYTES and len(body) > 0.85 * MAX_MANIFEST_BYTES
    assert len(doc["recipients"]) == MAX_ROWS and {len(r) for r in doc["recipients"]} == {32}

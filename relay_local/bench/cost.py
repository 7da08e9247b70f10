"""Figure 5, cost per 1,000 recipients on AWS, from the measured counts and durations."""

from __future__ import annotations

import math
from typing import Any

# -- prices (us-east-1, on-demand) ---------------------------------------------------------------
LAMBDA_GB_S = 0.0000133334  # arm64
LAMBDA_REQUEST = 0.20 / 1e6
DDB_WRU = 0.625 / 1e6
DDB_RRU = 0.125 / 1e6
SQS_REQUEST = 0.40 / 1e6  # per 64 KB chunk
S3_GET = 0.0004 / 1000
S3_PUT = 0.005 / 1000


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
    out(
        f"cost per 1,000 recipients (arm64 Lambda at {specs['IngestFunction'].memory}/{specs['SenderFunction'].memory} MB, "
        f"durations measured locally on moto):"
    )
    for name, value in rows:
        out(f"  {name:22s} ${value:.6f}")
    out(f"  {'total':22s} ${total:.6f}")
    out(f"  (not in the total: S3 GETs at planning ${s3_gets:.6f}, and the vendor's GET of each presigned URL)")
    units = {
        "ingest_wru_per_rcp": pc["wru"] / pr,
        "ingest_rru_per_rcp": pc["rru"] / pr,
        "sender_wru_per_rcp": sc["wru"] / sr,
        "sender_rru_per_rcp": sc["rru"] / sr,
    }
    return {
        "rows": {k: round(v, 8) for k, v in rows},
        "total_usd_per_1000": round(total, 6),
        "s3_get_usd_per_1000_not_in_total": round(s3_gets, 6),
        "units": {k: round(v, 4) for k, v in units.items()},
    }

"""The PushLog table's keys: every prefix (`PUSH#`, `RCP#` …) is written here and nowhere else.

Items (README, "The ledger"):
  push       pk=PUSH#<job_id>      sk=PUSH          state, push_id, vendor_status, recipients …
  recipient  pk=PUSH#<job_id>      sk=RCP#<rid>     number, state, media_key, msg_id, credit, reason …
  rejected   pk=REJ#<source_id>    sk=RCP#<rid>     number, state=rejected, reason …
  source     pk=SRC#<source_id>    sk=SRC           state=planning|planned, counts
  window     pk=WIN#<channel>#<number> sk=WIN       last_inbound (unix s), last_inbound_at: the customer's last message; TTL: a week after
  inbound    pk=IN#<project>#<unique-id> sk=IN      one incoming message seen (the vendor re-posts on retry); expires by TTL
  hook       pk=HOOK#<route>#<delivery id> sk=HOOK  one third-party delivery (POST /hooks): its push id and answer; expires by TTL
  event      pk=EVENT#<handle>     sk=EVENT#<at>#<n>  a delivery report entry that matched no recipient
             pk=EVENT#other        sk=<at>#<uuid>     an event that is not a delivery report
Indexes: ByNumber (number_pk=NUM#<number>, at), ByObject (object_pk=OBJ#<bucket>/<key> for an
upload, REQ#<push request id> for an API request; at), ByVendorId (vendor_pk=MSG#<msg_id> on
recipients, PID#<push_id> on pushes; keys only), ByReference (reference_pk=REF#<reference>, at;
keys only).

Design: pure functions with no imports from the relay, so that models (Source.object_pk, which the
send queue carries on every entry) can use them without a cycle; relay.ledger is the only other
module that names an attribute holding a key.
"""

from __future__ import annotations

import hashlib

#: longest caller or vendor text used inside a key (DynamoDB keys stop at 2,048 bytes)
MAX_KEY_TEXT = 200

PUSH_SK = "PUSH"
SOURCE_SK = "SRC"
WINDOW_SK = "WIN"
INBOUND_SK = "IN"
HOOK_SK = "HOOK"
_OBJECT = "OBJ#"
_REQUEST = "REQ#"


def index_key(prefix: str, value: str | None) -> str | None:
    """An index key, or none for a value too long to be one (it stays on the item, unindexed)."""
    return f"{prefix}{value}" if value and len(value) <= MAX_KEY_TEXT else None


def push_pk(job_id: str) -> str:
    return f"PUSH#{job_id}"


def recipient_sk(rid: str) -> str:
    return f"RCP#{rid}"


def rejection_pk(source_id: str) -> str:
    return f"REJ#{source_id}"


def source_pk(source_id: str) -> str:
    return f"SRC#{source_id}"


def number_pk(number: str | None) -> str | None:
    return index_key("NUM#", number)


def reference_pk(reference: str | None) -> str | None:
    return index_key("REF#", reference)


def msg_pk(msg_id: str | None) -> str | None:
    """vendor_pk of a recipient the vendor accepted (none without a msg_id, or a msg_id too long)."""
    return index_key("MSG#", msg_id)


def push_id_pk(push_id: str | None) -> str | None:
    """vendor_pk of a push item the vendor accepted."""
    return index_key("PID#", push_id)


def object_pk(bucket: str, key: str) -> str:
    """ByObject: everything from one S3 object."""
    return f"{_OBJECT}{bucket}/{key}"


def object_of(pk: str | None) -> tuple[str, str] | None:
    """(bucket, key) of the S3 object an object_pk names; None for an API request's (REQ#) or none."""
    if not pk or not pk.startswith(_OBJECT):
        return None
    bucket, _, key = pk[len(_OBJECT) :].partition("/")
    return (bucket, key) if bucket and key else None


def request_pk(request_id: str) -> str:
    """ByObject: everything from one API push request."""
    return f"{_REQUEST}{request_id}"


def object_name(pk: str) -> str:
    """`bucket/key` (or the request id) an object_pk names: for logs."""
    for prefix in (_OBJECT, _REQUEST):
        if pk.startswith(prefix):
            return pk[len(prefix) :]
    return pk


def is_recipient(pk: str, sk: str) -> bool:
    """A recipient message of a push (not a push item, a rejection or a kept event)."""
    return pk.startswith("PUSH#") and sk.startswith("RCP#")


def unmatched_event_key(handle: str, at: str, n: int) -> tuple[str, str]:
    return f"EVENT#{handle}", f"EVENT#{at}#{n}"


def other_event_key(at: str, unique: str) -> tuple[str, str]:
    return "EVENT#other", f"{at}#{unique}"


def window_pk(channel: int, number: str) -> str:
    """The customer's 24-hour window on one channel (relay.templates): one item per number."""
    return f"WIN#{channel}#{number}"


def inbound_pk(project: str, unique_id: str) -> str:
    """One incoming message, by the vendor's `unique-id` (within its project)."""
    return f"IN#{project}#{unique_id}"


def hook_pk(route: str, delivery_id: str) -> str:
    """One delivery of a third-party webhook route, by the sender's delivery id (a long id is hashed)."""
    if len(delivery_id) > MAX_KEY_TEXT:
        delivery_id = "sha256:" + hashlib.sha256(delivery_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"HOOK#{route}#{delivery_id}"

"""The PushLog table's keys have one owner (relay.ledger_keys): no other module of the functions
writes a key prefix, and the builders give the shapes the indexes and the README document."""

from __future__ import annotations

import re
from pathlib import Path

from relay import ledger_keys as keys
from relay.models import Source

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
PREFIX = re.compile(r"""["'](PUSH|RCP|REJ|SRC|NUM|OBJ|REQ|REF|MSG|PID|EVENT)#""")


def test_no_module_of_the_functions_but_ledger_keys_writes_a_key_prefix():
    found = [
        f"{path.relative_to(FUNCTIONS)}:{n}: {line.strip()}"
        for path in sorted(FUNCTIONS.rglob("*.py"))
        if path.name != "ledger_keys.py"
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if PREFIX.search(line)
    ]
    assert found == []


def test_the_keys_have_the_documented_shapes():
    assert (keys.push_pk("j"), keys.PUSH_SK, keys.recipient_sk("r")) == ("PUSH#j", "PUSH", "RCP#r")
    assert (keys.rejection_pk("s"), keys.source_pk("s"), keys.SOURCE_SK) == ("REJ#s", "SRC#s", "SRC")
    assert Source(kind="outbox", bucket="b", key="outbox/1/a.jpg").object_pk == "OBJ#b/outbox/1/a.jpg"
    assert Source(kind="api", bucket="b", key="abc").object_pk == "REQ#abc"
    assert keys.object_name("OBJ#b/outbox/1/a.jpg") == "b/outbox/1/a.jpg" and keys.object_name("REQ#abc") == "abc"
    assert keys.is_recipient("PUSH#j", "RCP#r") and not keys.is_recipient("REJ#s", "RCP#r")
    assert not keys.is_recipient("PUSH#j", "PUSH")


def test_text_too_long_for_a_key_is_not_indexed():
    assert keys.number_pk("4" * keys.MAX_KEY_TEXT) == "NUM#" + "4" * keys.MAX_KEY_TEXT
    assert keys.number_pk("4" * (keys.MAX_KEY_TEXT + 1)) is None
    assert keys.reference_pk("") is None and keys.msg_pk(None) is None and keys.push_id_pk("7") == "PID#7"


def test_an_object_pk_gives_back_its_bucket_and_key_and_a_request_pk_none():
    assert keys.object_of(keys.object_pk("b", "manifests/a/b.csv")) == ("b", "manifests/a/b.csv")
    assert keys.object_of(keys.request_pk("r1")) is None and keys.object_of(None) is None

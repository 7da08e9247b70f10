"""A small soak: the guarantees hold under injected faults, duplicate deliveries and a killed sender."""

from __future__ import annotations

import re

import pytest

from relay_local.bench.soak import run

pytestmark = pytest.mark.integration

PROGRESS = re.compile(r"^soak: progress \d+s: of 400 recipients planned=(\d+) sent=(\d+) terminal=(\d+) \(vendor requests=\d+\)$")


def test_given_faults_duplicates_and_a_killed_sender_when_400_recipients_flow_then_none_is_lost_or_sent_twice(embedded_aws):
    lines: list[str] = []
    progress: list[str] = []
    figures = run(recipients=400, rate=900, seed=11, out=lines.append, aws=embedded_aws, progress=progress.append)
    # every recipient ends in exactly one final ledger state
    assert figures["terminal"] == figures["recipients"] == 400 and figures["lost"] == 0
    # the vendor never got one twice (ambiguous ones are never re-sent), nor more than the limit
    assert figures["duplicated"] == 0
    assert figures["over_limit"] == 0
    # and the run really was hostile
    assert figures["duplicate_deliveries"] > 0 and figures["killed_jobs"] > 0
    assert sum(v for k, v in figures["faults"].items() if k not in ("accepted_requests", "accepted_entries")) > 0
    assert figures["states"].get("accepted", 0) >= 300
    # and WhatsApp's window was in play: customers wrote in, templates went out, free-form messages the
    # vendor failed for the window earned their one fallback (never a second: duplicated == 0 above)
    assert figures["inbound_posted"] > 0 and figures["accepted_requests_by_form"].get("template", 0) > 0
    assert figures["template_fallbacks"] > 0
    # and it told how far it was while it ran (a line every 10 s, and one at the end, with the final counts)
    assert progress and all(PROGRESS.match(line) for line in progress), progress
    planned, sent, terminal = map(int, PROGRESS.match(progress[-1]).groups())
    assert planned == terminal == 400 and sent >= 300

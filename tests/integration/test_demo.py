"""`make demo`'s program (`relay demo`) end to end, as a new user runs it: its own embedded AWS and
stand-in, four acts, and its own checks (exit 0 only when every act did what it says)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_given_a_fresh_process_when_relay_demo_runs_then_every_act_passes_its_checks():
    relay = Path(sys.executable).with_name("relay")
    done = subprocess.run([str(relay), "demo"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.rstrip().endswith("demo: OK")
    # the third act: one customer got the invoice free-form, the other the template with the PDF as header
    assert "Push API request: template invoice_doc (header 'Invoice INV-2001.pdf') to 447700900502" in out
    assert "Push API request: free-form, the invoice with its caption to 447700900501" in out
    assert "Push API request: free-form text: the caption, after its document to 447700900501" in out
    assert "delivery reports the stand-in posted: 0" in out
    # the fourth act: a Stripe-shaped signed event through POST /hooks/stripe-invoice becomes the
    # invoice PDF, downloaded from the (local) pay.stripe.com into hook-media/, sent presigned
    assert 'POST /hooks/stripe-invoice → 202 {"id":' in out
    assert "Push API request: template invoice_doc to 447700900123 with a presigned URL of hook-media/" in out
    assert "the presigned URL downloads 1156 bytes: the same as samples/media/invoice.pdf" in out
    assert "the invoice to 447700900123 accepted reference=in_1QkR9dLocalRelay0042" in out
    assert "(the first answer; 0 more request(s) sent)" in out
    # the handlers' logs stay out of the demo's output (it sets them to errors only)
    assert '"level":"INFO"' not in out + done.stderr

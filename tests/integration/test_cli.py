"""The `relay` console script, as a user runs it (a separate process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RELAY = Path(sys.executable).with_name("relay")

pytestmark = pytest.mark.integration


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(RELAY), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_given_an_event_file_when_relay_invoke_runs_then_it_prints_the_functions_result(tmp_path):
    result = run("invoke", "SenderFunction", "-e", str(ROOT / "events" / "sqs-send-jobs.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"batchItemFailures": []}
    # and it shows what the stand-in received, with the token masked
    assert '"token": "***"' in result.stderr and '"status": 100' in result.stderr


def test_given_an_unknown_function_when_relay_invoke_runs_then_it_names_the_ones_that_exist(tmp_path):
    result = run("invoke", "NoSuchFunction", "-e", str(ROOT / "events" / "s3-put-outbox.json"), cwd=tmp_path)
    assert result.returncode != 0
    assert "IngestFunction" in result.stderr and "SenderFunction" in result.stderr

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


# --- errors as a new user meets them: one line on stderr, a non-zero exit, never a traceback --------


def run_env(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(RELAY), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relay: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def busy_port():
    """A port some other program listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def without_aws(**extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
    return {**env, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true", **extra}


def test_given_the_aws_port_is_taken_when_relay_local_starts_then_it_says_so_in_one_line_instead_of_hanging(tmp_path, busy_port):
    result = run_env("local", "--aws-port", str(busy_port), cwd=tmp_path, timeout=30)
    assert_one_line_error(result, str(busy_port), "in use", "--aws-port")
    assert result.returncode == 2 and not (tmp_path / ".relay-local.json").exists()


def test_given_the_port_is_taken_when_relay_serve_starts_then_it_says_so_in_one_line(tmp_path, busy_port):
    result = run_env("serve", "--port", str(busy_port), cwd=tmp_path, timeout=30)
    assert_one_line_error(result, str(busy_port), "in use", "--port")


def test_given_a_stale_state_file_when_relay_invoke_runs_then_it_removes_it_and_runs_on_a_fresh_stack(tmp_path):
    # Given a .relay-local.json left by a `relay local` that was killed (nothing answers there)
    state = tmp_path / ".relay-local.json"
    state.write_text(json.dumps({"endpoint": "http://127.0.0.1:9", "api_url": "http://127.0.0.1:9", "stack": "gone"}))
    # When
    result = run("invoke", "SenderFunction", "-e", str(ROOT / "events" / "sqs-send-jobs.json"), cwd=tmp_path)
    # Then
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert json.loads(result.stdout) == {"batchItemFailures": []}
    assert "removed the stale .relay-local.json: nothing answers at http://127.0.0.1:9" in result.stderr
    assert not state.exists()


def test_given_a_damaged_state_file_when_relay_redrive_runs_then_it_is_removed_and_the_usage_error_is_one_line(tmp_path):
    (tmp_path / ".relay-local.json").write_text("{not json")
    result = run_env("redrive", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    note, error = result.stderr.strip().splitlines()
    assert note == "relay: note: removed the stale .relay-local.json: it is damaged"
    assert error.startswith("relay: give --stack NAME")
    assert not (tmp_path / ".relay-local.json").exists()


def test_given_no_aws_region_when_relay_redrive_names_a_stack_then_it_asks_for_a_region_in_one_line(tmp_path):
    result = run_env("redrive", "--stack", "picky-relay", cwd=tmp_path, env=without_aws())
    assert_one_line_error(result, "no AWS region", "AWS_DEFAULT_REGION")
    assert result.returncode == 2


def test_given_no_aws_credentials_when_relay_redrive_names_a_stack_then_it_asks_for_credentials_in_one_line(tmp_path):
    result = run_env("redrive", "--stack", "picky-relay", cwd=tmp_path, env=without_aws(AWS_DEFAULT_REGION="eu-west-1"))
    assert_one_line_error(result, "no AWS credentials", "AWS_PROFILE")
    assert result.returncode == 2


def test_given_a_missing_event_file_when_relay_sign_event_runs_then_it_names_the_file_in_one_line(tmp_path):
    result = run_env("sign-event", "no-such-event.json", cwd=tmp_path)
    assert_one_line_error(result, "no-such-event.json")
    assert result.returncode == 2 and result.stdout == ""


def test_given_an_event_file_that_is_not_json_when_relay_invoke_runs_then_it_says_so_in_one_line(tmp_path):
    (tmp_path / "event.json").write_text("{oops")
    result = run_env("invoke", "ApiFunction", "-e", "event.json", cwd=tmp_path)
    assert_one_line_error(result, "event.json", "not JSON")


def test_given_relay_version_then_it_prints_the_installed_package_version(tmp_path):
    from importlib.metadata import version

    from relay.version import __version__

    result = run_env("--version", cwd=tmp_path)
    # relay/version.py, which the package metadata reads too
    assert result.returncode == 0 and result.stdout.strip() == f"relay {__version__}" == f"relay {version('picky-media-relay')}"


def test_given_any_command_then_every_flag_has_help_and_shows_its_default():
    import argparse

    from relay_local.bench.soak import build_parser as soak_parser
    from relay_local.cli import build_parser

    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001 - argparse keeps its actions private
    parsers = {
        "relay": parser,
        "relay soak": soak_parser(),
        **{f"relay {name}": p for name, p in commands.choices.items() if name != "soak"},
    }
    for name, p in parsers.items():
        text = p.format_help()
        for action in p._actions:  # noqa: SLF001 - argparse keeps its actions private
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):  # noqa: SLF001 - argparse's own classes
                continue
            assert action.help, f"{name} {action.dest} has no help"
            if action.option_strings and action.default not in (None, False):
                assert f"(default: {action.default})" in " ".join(text.split()), f"{name} {action.option_strings} hides its default"


def test_given_relay_local_help_then_the_default_ports_show(tmp_path):
    result = run_env("local", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "(default: 4566)" in result.stdout and "(default: 8089)" in result.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (("local", "--aws-port", "x"), ("--aws-port", "invalid int value", "relay local --help")),
        (("soak", "-n", "many"), ("--recipients", "invalid int value", "relay soak --help")),
        ((), ("required: COMMAND", "relay --help")),
    ],
)
def test_given_a_usage_error_then_it_is_one_line_pointing_at_help(tmp_path, args, words):
    result = run_env(*args, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert all(word in line for word in words), line

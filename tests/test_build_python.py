"""`make build` finds the Lambda runtime's Python (relay_local/bundle/runtime_python.py) and puts it first on
PATH for `sam build` and the bytecode step. Run here with stand-in interpreters, a stand-in pyenv and a
stand-in `sam` (no Python 3.12 nor aws-sam-cli is needed to run these tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FINDER = ROOT / "relay_local" / "bundle" / "runtime_python.py"


def executable(path: Path, script: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


def fake_python(path: Path, version: str = "3.12") -> Path:
    """Answers the version question (and 'runs' anything else) as that Python would."""
    return executable(path, f'echo {version}; echo "$0 $*" >> "$(dirname "$0")/ran.log"')


@pytest.fixture
def machine(tmp_path) -> dict:
    """A machine where `python3.12` on PATH is a pyenv shim that refuses (no PYENV_VERSION), `pyenv`
    is on PATH, and pyenv has 3.12.1 and 3.12.7 installed."""
    shims = tmp_path / "pyenv" / "shims"
    root = tmp_path / "pyenv" / "root"
    executable(shims / "python3.12", 'echo "pyenv: python3.12: command not found" >&2; exit 127')
    executable(shims / "pyenv", f'[ "$1" = root ] && echo {root}')
    fake_python(root / "versions" / "3.12.1" / "bin" / "python3.12")
    fake_python(root / "versions" / "3.12.7" / "bin" / "python3.12")
    fake_python(root / "versions" / "3.11.9" / "bin" / "python3.11", "3.11")
    path = os.pathsep.join([str(shims), "/usr/bin", "/bin"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYENV")}
    return {"env": {**env, "PATH": path, "HOME": str(tmp_path)}, "root": root, "tmp": tmp_path}


def find(machine: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(FINDER), "python3.12", "--shim-dir", str(machine["tmp"] / "shim"), *args],
        env=machine["env"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_given_a_refusing_pyenv_shim_on_path_then_the_newest_pyenv_312_is_chosen(machine):
    result = find(machine)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(machine["root"] / "versions" / "3.12.7" / "bin")


def test_given_lambda_python_not_named_python312_then_a_python312_link_to_it_is_made(machine):
    mine = fake_python(machine["tmp"] / "opt" / "bin" / "python3")
    result = find(machine, "--prefer", str(mine))
    assert result.returncode == 0, result.stderr
    shim = Path(result.stdout.strip())
    assert shim == machine["tmp"] / "shim" and (shim / "python3.12").resolve() == mine.resolve()


def test_given_lambda_python_of_another_version_then_one_line_says_so(machine):
    other = machine["root"] / "versions" / "3.11.9" / "bin" / "python3.11"
    result = find(machine, "--prefer", str(other))
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "LAMBDA_PYTHON" in line and "must be Python 3.12" in line and "3.11" in line


def test_given_no_python312_anywhere_then_one_line_says_how_to_get_one(machine):
    shutil.rmtree(machine["root"] / "versions" / "3.12.1")
    shutil.rmtree(machine["root"] / "versions" / "3.12.7")
    result = find(machine)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "no Python 3.12" in line and "pyenv install 3.12" in line and "LAMBDA_PYTHON" in line


@pytest.fixture
def fake_sam(tmp_path) -> dict:
    """A tools venv that is 'ready', whose `sam` records which python3.12 it would build with."""
    tools = tmp_path / "tools"
    (tools).mkdir()
    (tools / ".ready").touch()
    log = tmp_path / "sam.log"
    sam = executable(tools / "bin" / "sam", f'echo "args=$*" > {log}; echo "python3.12=$(command -v python3.12)" >> {log}')
    return {"tools": tools, "sam": sam, "log": log, "build": tmp_path / "build"}


def make_build(machine: dict, fake_sam: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT),
            "build",
            f"TOOLS={fake_sam['tools']}",
            f"SAM={fake_sam['sam']}",
            f"BUILD_DIR={fake_sam['build']}",
            f"PYTHON={sys.executable}",
            "VERIFY_BUNDLE=true",  # a fake sam builds nothing to check (tests/test_bundle_verify.py checks the check)
            *extra,
        ],
        env=machine["env"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_given_a_refusing_shim_when_make_build_runs_then_sam_and_the_bytecode_step_get_pyenvs_312(machine, fake_sam):
    result = make_build(machine, fake_sam)
    assert result.returncode == 0, result.stdout + result.stderr
    chosen = machine["root"] / "versions" / "3.12.7" / "bin"
    log = fake_sam["log"].read_text()
    assert f"python3.12={chosen / 'python3.12'}" in log and f"args=build --build-dir {fake_sam['build']}" in log
    # the bytecode step ran under that same interpreter
    assert f"relay_local/bundle/bytecode.py --runtime python3.12 {fake_sam['build']}" in (chosen / "ran.log").read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_given_lambda_python_when_make_build_runs_then_sam_builds_with_it(machine, fake_sam):
    mine = fake_python(machine["tmp"] / "opt" / "bin" / "python3")
    result = make_build(machine, fake_sam, f"LAMBDA_PYTHON={mine}")
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [x for x in fake_sam["log"].read_text().splitlines() if x.startswith("python3.12=")]
    assert Path(line.split("=", 1)[1]).resolve() == mine.resolve()

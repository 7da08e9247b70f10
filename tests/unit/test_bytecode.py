"""Bytecode shipped in the Lambda package (relay_local/bundle/bytecode.py, run by `make build`).

Each case imports in a fresh interpreter that cannot write bytecode (as under read-only /var/task),
with every file dated like a `sam deploy` zip entry, and reads `python -v` to see whether the module
came from its .pyc or was compiled again.
"""

from __future__ import annotations

import compileall
import marshal
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from relay_local.bundle.bytecode import LAMBDA_TASK_ROOT, compile_tree, date_like_a_lambda_zip, function_dirs, main
from relay_local.template import ROOT, load_template

HERE = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _package(root: Path, value: str = "1") -> Path:
    pkg = root / "pkg"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(f"VALUE = {value}\n\ndef boom():\n    raise ValueError('x')\n")
    return root


def _import(root: Path, code: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-S", "-v", "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)


def _from_pyc(stderr: str, module: str) -> bool:
    return re.search(rf"code object from '[^']*{module}\.cpython-\d+\.pyc'", stderr) is not None


def test_given_a_tree_when_compiled_then_every_module_has_a_hash_checked_pyc_naming_var_task(tmp_path):
    _package(tmp_path)

    count = compile_tree(tmp_path)

    pycs = sorted(tmp_path.rglob("*.pyc"))
    assert count == len(pycs) == 2
    for pyc in pycs:
        data = pyc.read_bytes()
        flags = int.from_bytes(data[4:8], "little")
        assert flags == 0b11, f"{pyc.name}: not hash-checked (flags {flags})"
        # the build folder is not baked in: the same sources give the same bytes wherever they are built
        assert marshal.loads(data[16:]).co_filename.startswith(f"{LAMBDA_TASK_ROOT}/pkg/")


def test_given_files_dated_like_a_lambda_zip_when_imported_then_hash_checked_bytecode_is_used(tmp_path):
    _package(tmp_path)
    compile_tree(tmp_path)
    date_like_a_lambda_zip(tmp_path)

    run = _import(tmp_path, "import pkg.mod; print(pkg.mod.VALUE)")

    assert run.returncode == 0 and run.stdout.strip() == "1"
    assert _from_pyc(run.stderr, "mod"), run.stderr[-2000:]


def test_given_timestamp_bytecode_dated_like_a_lambda_zip_when_imported_then_it_is_compiled_again(tmp_path):
    # the reason for hash-checked bytecode: a plain .pyc is stale once the zip resets the dates
    _package(tmp_path)
    compileall.compile_dir(str(tmp_path), quiet=1)
    date_like_a_lambda_zip(tmp_path)

    run = _import(tmp_path, "import pkg.mod")

    assert run.returncode == 0
    assert not _from_pyc(run.stderr, "mod")
    assert "bytecode is stale for 'pkg.mod'" in run.stderr


def test_given_a_source_changed_after_compiling_when_imported_then_the_new_source_runs(tmp_path):
    _package(tmp_path)
    compile_tree(tmp_path)
    _package(tmp_path, value="2")  # same length, same date: only the hash tells them apart
    date_like_a_lambda_zip(tmp_path)

    run = _import(tmp_path, "import pkg.mod; print(pkg.mod.VALUE)")

    assert run.stdout.strip() == "2"


def test_given_a_sam_build_folder_when_main_runs_then_each_function_folder_is_compiled(tmp_path, capsys):
    for name in ("IngestFunction", "SenderFunction"):
        _package(tmp_path / name)
    (tmp_path / "template.yaml").write_text("Resources: {}\n")

    assert main(["--runtime", HERE, str(tmp_path)]) == 0

    assert [p.name for p in function_dirs(tmp_path)] == ["IngestFunction", "SenderFunction"]
    for name in ("IngestFunction", "SenderFunction"):
        assert len(list((tmp_path / name).rglob("*.pyc"))) == 2
    assert "SenderFunction: 2 hash-checked .pyc files" in capsys.readouterr().out


@pytest.mark.parametrize("runtime", ["python3.99", "python2.7"])
def test_given_another_interpreter_than_the_runtime_when_main_runs_then_it_refuses_and_writes_nothing(tmp_path, capsys, runtime):
    _package(tmp_path / "SenderFunction")

    assert main(["--runtime", runtime, str(tmp_path)]) == 2

    assert not list(tmp_path.rglob("*.pyc"))
    assert f"the functions run on {runtime} but this is {HERE}" in capsys.readouterr().err


def test_given_no_build_output_when_main_runs_then_it_says_to_run_sam_build(tmp_path, capsys):
    assert main(["--runtime", HERE, str(tmp_path / "missing")]) == 2
    assert "run `sam build` first" in capsys.readouterr().err


def test_given_the_makefile_when_building_then_bytecode_is_compiled_for_the_templates_runtime():
    runtime = load_template()["Globals"]["Function"]["Runtime"]

    dry = subprocess.run(["make", "-n", "-C", str(ROOT), "build"], capture_output=True, text=True, timeout=60)

    steps = [line.strip().rstrip("\\").strip() for line in dry.stdout.splitlines()]
    path = next(i for i, line in enumerate(steps) if line.startswith('export PATH="$bin:'))
    sam = next(i for i, line in enumerate(steps) if "sam build --build-dir" in line)
    # the runtime's interpreter is first on PATH for sam build; the output is checked against the lock,
    # then the same interpreter compiles the bytecode
    assert path < sam
    assert steps[sam + 1] == ".venv/bin/python -m relay_local.bundle.verify .aws-sam/build &&"
    assert steps[sam + 2] == f"{runtime} relay_local/bundle/bytecode.py --runtime {runtime} .aws-sam/build"

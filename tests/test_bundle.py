"""The Lambda bundle: what functions/requirements.txt pulls in, each handler started from it alone, and
no code in it that only the local tools use.

The layout (relay_local.bundle.lambda_layout) holds only the bundle and the runtime's boto3, runs with no
site-packages and cannot write bytecode, as under /var/task; dated like a `sam deploy` zip.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys

import pytest

from relay_local.bench.coldstart import COLD_ENV, COLD_INIT, _clean_env
from relay_local.bundle.lambda_layout import (
    FUNCTIONS,
    RUNTIME_PROVIDES,
    UNWANTED,
    build_layout,
    canonical_name,
    closure,
    requirement_lines,
)

HANDLERS = ("api.app", "ingest.app", "sender.app", "results.app")


def _source(module: str):
    """functions/<module>.py or functions/<package>/__init__.py, or None (not a module of the bundle)."""
    path = FUNCTIONS.joinpath(*module.split("."))
    return next((p for p in (path / "__init__.py", path.with_suffix(".py")) if p.is_file()), None)


def _imported_by(module: str) -> set[str]:
    """The bundle's modules one module imports, at the top or inside a function (absolute imports)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(_source(module).read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    with_packages = names | {name.rsplit(".", i)[0] for name in names for i in range(1, name.count(".") + 1)}
    return {name for name in with_packages if _source(name)}


def _names(dists) -> set[str]:
    return {canonical_name(d.metadata["Name"]) for d in dists}


def test_given_the_requirements_then_the_bundle_has_no_awscrt_no_cli_packages_and_no_boto3_of_its_own():
    bundled = _names(closure(requirement_lines(FUNCTIONS / "requirements.txt")))
    provided = _names(closure(RUNTIME_PROVIDES))

    assert {"pydantic", "pydantic-core", "aws-lambda-powertools", "httpx"} <= bundled
    assert not bundled & UNWANTED
    # boto3 comes with the runtime; a bundled copy would shadow it and add to every cold start
    assert not bundled & {"boto3", "botocore", "s3transfer"}
    assert {"boto3", "botocore"} <= provided


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return build_layout(tmp_path_factory.mktemp("lambda") / "layout")


@pytest.mark.parametrize("handler", sorted(COLD_INIT))
def test_given_the_bundle_as_make_build_ships_it_when_a_handler_starts_then_it_imports_and_runs_on_bytecode_alone(layout, handler):
    report = (
        "import json, sys\nprint(json.dumps(sorted(m.__file__ for m in list(sys.modules.values())"
        f" if str(getattr(m, '__file__', None) or '').startswith({str(layout.task)!r}) and m.__file__.endswith('.py'))))\n"
    )

    run = subprocess.run(
        [sys.executable, "-S", "-v", "-c", COLD_INIT[handler] + report],
        env=layout.env(_clean_env(COLD_ENV), layout.task),
        cwd=layout.root,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    imported = set(json.loads(run.stdout.strip().splitlines()[-1]))
    from_bytecode = {importlib.util.source_from_cache(pyc) for pyc in re.findall(r"# code object from '([^']+\.pyc)'", run.stderr)}
    assert any(path.endswith(f"/{handler}/app.py") for path in imported)
    assert imported and imported <= from_bytecode, sorted(imported - from_bytecode)[:10]
    assert "bytecode is stale" not in run.stderr


def test_given_the_bundle_then_every_module_in_it_is_one_a_handler_imports_and_tool_only_code_stays_out():
    reached, todo = set(), [*HANDLERS, *(handler.rsplit(".", 1)[0] for handler in HANDLERS)]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += _imported_by(module)
    bundled = {".".join(p.relative_to(FUNCTIONS).with_suffix("").parts).removesuffix(".__init__") for p in FUNCTIONS.rglob("*.py")}

    # code only the local tools use (as `relay redrive` uses relay_local.ops.redrive) lives in relay_local/
    assert bundled - reached == set()
    assert "relay.redrive" not in bundled and _source("relay.redrive") is None


def test_given_the_bundle_as_make_build_ships_it_then_the_webhook_route_files_are_in_it(layout):
    # CodeUri is functions/: sam build ships functions/routes/ beside the packages, and so does the layout
    shipped = sorted(p.name for p in (layout.task / "routes").glob("*.json"))
    assert shipped == sorted(p.name for p in (FUNCTIONS / "routes").glob("*.json"))
    assert {"stripe-invoice.json", "shopify-fulfilled.json", "standard.json"} <= set(shipped)

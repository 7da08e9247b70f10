"""A Lambda-like file layout on this machine, for measuring cold starts the way Lambda pays them.

Built offline from the distributions installed in the project's venv (same versions as the tests):

- `runtime/`: what the Lambda Python runtime provides, boto3 and what it needs, with ordinary
  bytecode (the runtime's own packages carry theirs);
- `task/`: what `make build` ships to /var/task: the functions' packages and the closure of
  functions/requirements.txt, with hash-checked bytecode, every file dated like a `sam deploy` zip;
- `task-source/`: what a plain `sam build` ships: the same files with no bytecode at all.

A process measured here runs with `python -S` (no site-packages: nothing of the dev venv, such as
moto, click or rich, can leak in) and `PYTHONDONTWRITEBYTECODE=1` (/var/task is read-only).
"""

from __future__ import annotations

import compileall
import importlib.metadata as md
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

from relay_local.bundle import lockfile
from relay_local.bundle.bytecode import compile_tree, date_like_a_lambda_zip
from relay_local.template import FUNCTIONS, ROOT

#: what the Lambda Python runtime brings (functions/requirements.txt leaves boto3 to it)
RUNTIME_PROVIDES = list(lockfile.RUNTIME_PROVIDES)
#: present in a bundle, these slow every cold start: botocore imports awscrt when it can, httpx
#: loads its command line (click, rich, pygments) when it can
UNWANTED = {"awscrt", "click", "rich", "pygments"}


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: list[str]) -> list[md.Distribution]:
    """The installed distributions these requirements pull in (no extras), each once."""
    env = {"extra": ""}
    seen: dict[str, md.Distribution] = {}
    todo = [Requirement(line) for line in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        key = canonical_name(req.name)
        if key in seen:
            continue
        dist = md.distribution(req.name)
        seen[key] = dist
        todo += [Requirement(r) for r in dist.requires or []]
    return sorted(seen.values(), key=lambda d: canonical_name(d.metadata["Name"]))


def requirement_lines(path: Path) -> list[str]:
    """`name==version` for each package a generated requirements file pins (lockfile.pinned reads it)."""
    return [f"{name}=={version}" for name, version in lockfile.pinned(path.read_text()).items()]


def _copy_distribution(dist: md.Distribution, dest: Path) -> None:
    for rel in dist.files or []:
        parts = Path(str(rel)).parts
        if parts[0] == ".." or "__pycache__" in parts or str(rel).endswith(".pyc"):
            continue  # console scripts live outside site-packages; bytecode is this layout's own
        src = Path(str(dist.locate_file(rel)))
        if src.is_file():
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


#: folders of functions/ that hold data the handlers read (webhook route files, relay.hook_routes)
DATA_DIRS = ("routes",)


def function_packages() -> list[Path]:
    return sorted(p for p in FUNCTIONS.iterdir() if (p / "__init__.py").is_file() or (p / "app.py").is_file())


@dataclass(frozen=True)
class Layout:
    root: Path
    runtime: Path
    task: Path
    task_source: Path
    bundled: tuple[str, ...]
    provided: tuple[str, ...]

    def env(self, base: dict[str, str], task: Path | None = None) -> dict[str, str]:
        """Environment for `python -S` in this layout: /var/task first, then the runtime's packages."""
        paths = [str(task)] if task is not None else []
        env = {k: v for k, v in base.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update(PYTHONPATH=os.pathsep.join(paths + [str(self.runtime)]), PYTHONDONTWRITEBYTECODE="1")
        return env

    @property
    def unwanted(self) -> list[str]:
        return sorted(UNWANTED & {canonical_name(n) for n in self.bundled})


def build_layout(root: Path) -> Layout:
    if root.exists():
        shutil.rmtree(root)
    runtime, task, task_source = root / "runtime", root / "task", root / "task-source"
    provided = closure(RUNTIME_PROVIDES)
    for dist in provided:
        _copy_distribution(dist, runtime)
    compileall.compile_dir(str(runtime), quiet=1, workers=0)  # timestamp bytecode, valid: dates kept

    bundled = closure(requirement_lines(FUNCTIONS / "requirements.txt"))
    for dist in bundled:
        _copy_distribution(dist, task_source)
    for pkg in function_packages():
        shutil.copytree(pkg, task_source / pkg.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for data in DATA_DIRS:  # not code, but in CodeUri: sam build ships it
        if (FUNCTIONS / data).is_dir():
            shutil.copytree(FUNCTIONS / data, task_source / data)
    shutil.copytree(task_source, task)
    compile_tree(task)
    date_like_a_lambda_zip(task)
    date_like_a_lambda_zip(task_source)
    return Layout(
        root=root,
        runtime=runtime,
        task=task,
        task_source=task_source,
        bundled=tuple(d.metadata["Name"] for d in bundled),
        provided=tuple(d.metadata["Name"] for d in provided),
    )


if __name__ == "__main__":  # python -m relay_local.bundle.lambda_layout DEST: build one to look at
    layout = build_layout(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".bench" / "lambda")
    print(f"runtime: {', '.join(layout.provided)}\ntask: {', '.join(layout.bundled)}\nunwanted: {layout.unwanted or 'none'}")

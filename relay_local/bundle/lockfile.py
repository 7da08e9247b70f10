"""uv.lock, read: the one lock of everything the project installs (pyproject.toml's ranges, resolved).

What is derived from it, and checked against it by tests/test_lock.py:
- `functions/requirements.txt`, what `sam build` bundles: the runtime dependencies (boto3 excepted,
  the Lambda runtime brings it) and everything they need where the template's runtime and
  architecture (python3.12, arm64) evaluate the markers, each pinned with the sha256 of every file
  of that version pip may take with python3.12: the arm64 wheels Lambda runs, and the same version's
  wheels for the machine `sam build` runs on (it downloads those first, to read the dependency tree),
  and the sdist. With a hash on every line pip runs in hash-checking mode, which `sam build` goes
  through (`make build`); a version with no arm64 wheel and no sdist is an error.
- `requirements/uv.txt`: the uv the Makefile bootstraps with pip, with the hashes of all its files;
  uv then installs everything else from the lock (`uv sync --locked`).
- the list of what `make upgrade` changed, package by package.

    python -m relay_local.bundle.lockfile write      # both files from uv.lock (`make lock` runs it)
    python -m relay_local.bundle.lockfile check      # exit 1 naming each file that drifted
    python -m relay_local.bundle.lockfile diff OLD NEW

Only the standard library and `packaging` (a dev dependency): `make upgrade` runs it before and
after a re-lock."""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "uv.lock"
LAMBDA_REQUIREMENTS = ROOT / "functions" / "requirements.txt"
UV_REQUIREMENTS = ROOT / "requirements" / "uv.txt"

#: what the Lambda Python runtime brings: left out of the bundle (a bundled copy would shadow it and
#: add to every cold start); what only it needs is left out with it
RUNTIME_PROVIDES = ("boto3",)
#: Lambda's python3.12 runs on Amazon Linux 2023: glibc 2.34
LAMBDA_GLIBC = (2, 34)
LAMBDA_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}


@dataclass(frozen=True)
class Target:
    """Where the bundle runs: a CPython version and a machine, on Lambda's Linux."""

    python: tuple[int, int]
    machine: str  # aarch64 | x86_64

    @classmethod
    def of_template(cls) -> Target:
        from relay_local.template import template

        globals_ = template()["Globals"]["Function"]
        runtime = str(globals_["Runtime"])  # python3.12
        major, minor = (int(x) for x in runtime.removeprefix("python").split("."))
        [arch] = globals_.get("Architectures", ["x86_64"])
        return cls((major, minor), LAMBDA_MACHINES[str(arch)])

    def describe(self) -> str:
        arch = next(k for k, v in LAMBDA_MACHINES.items() if v == self.machine)
        return f"python{self.python[0]}.{self.python[1]} on {arch}"

    def environment(self) -> dict[str, str]:
        """PEP 508 marker values on Lambda."""
        version = f"{self.python[0]}.{self.python[1]}"
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{version}.0",
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": f"{version}.0",
            "python_version": version,
            "sys_platform": "linux",
            "extra": "",
        }

    @cache  # noqa: B019 - a few frozen targets per run; asked once per wheel of every package
    def tags(self) -> frozenset[Tag]:
        """The wheel tags the target installs: its CPython on Lambda's manylinux (glibc up to 2.34)."""
        platforms = [f"manylinux_{LAMBDA_GLIBC[0]}_{minor}_{self.machine}" for minor in range(LAMBDA_GLIBC[1], 16, -1)]
        platforms += [f"manylinux2014_{self.machine}"]
        python = f"cp{self.python[0]}{self.python[1]}"
        return frozenset(cpython_tags(self.python, platforms=platforms)) | frozenset(compatible_tags(self.python, python, platforms))

    @cache  # noqa: B019 - as tags
    def python_tags(self) -> frozenset[tuple[str, str]]:
        """(interpreter, abi) pairs the target's CPython takes, whatever the platform."""
        return frozenset((t.interpreter, t.abi) for t in self.tags())


@dataclass
class Package:
    name: str
    version: str
    entry: dict[str, Any] = field(repr=False)

    @property
    def files(self) -> list[dict[str, Any]]:
        """Wheels, then the sdist: {url, hash, ...}."""
        return [*self.entry.get("wheels", []), *([self.entry["sdist"]] if "sdist" in self.entry else [])]

    def hashes_for(self, target: Target) -> list[str]:
        """The hashes pip checks when `sam build` installs this version for `target`: its wheels for
        the target's CPython on any platform, and the sdist. `sam build` first downloads the
        requirements for the machine it runs on (to read the dependency tree), then the target's
        wheels: both go through pip's hash check. An error if nothing installs on the target itself."""
        wheels = self.entry.get("wheels", [])
        if not any(set(wheel_tags(w)) & target.tags() for w in wheels) and "sdist" not in self.entry:
            raise LockError(f"{self.name} {self.version}: no file in uv.lock installs on {target.describe()}")
        python = target.python_tags()
        found = [w["hash"] for w in wheels if {(t.interpreter, t.abi) for t in wheel_tags(w)} & python]
        if "sdist" in self.entry:
            found.append(self.entry["sdist"]["hash"])
        return sorted(set(found))


class LockError(ValueError):
    pass


def wheel_tags(wheel: Mapping[str, Any]) -> frozenset[Tag]:
    """The tags a locked wheel's file name declares (which Pythons and platforms install it)."""
    return parse_wheel_filename(file_name(wheel["url"]))[3]


def file_name(url: str) -> str:
    """The file name at the end of a lock's download URL."""
    return url.rsplit("/", 1)[-1].split("#", 1)[0]


class Lock:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.packages: dict[str, list[Package]] = {}
        for entry in doc.get("package", []):
            package = Package(canonicalize_name(entry["name"]), str(entry.get("version", "")), entry)
            self.packages.setdefault(package.name, []).append(package)

    @classmethod
    def read(cls, path: Path = LOCK) -> Lock:
        return cls(tomllib.loads(path.read_text()))

    @property
    def project(self) -> Package:
        """The project itself (`source = { editable = "." }`)."""
        [root] = [p for ps in self.packages.values() for p in ps if p.entry.get("source", {}).get("editable") == "."]
        return root

    def versions(self) -> dict[str, set[str]]:
        """Every locked package (the project excepted): name → its version(s) (a fork per Python may hold two)."""
        root = self.project.name
        return {name: {p.version for p in ps} for name, ps in self.packages.items() if name != root}

    def _resolve(self, ref: Mapping[str, Any], env: Mapping[str, str]) -> Package:
        name = canonicalize_name(ref["name"])
        candidates = self.packages.get(name)
        if not candidates:
            raise LockError(f"uv.lock names {name} but has no entry for it")
        if "version" in ref:
            candidates = [p for p in candidates if p.version == ref["version"]]
        if len(candidates) > 1:  # forks: the one whose resolution markers hold here
            candidates = [p for p in candidates if any(_holds(m, env) for m in p.entry.get("resolution-markers", ["true"]))]
        if len(candidates) != 1:
            raise LockError(f"uv.lock: {name} resolves to {len(candidates)} entries for {dict(env)}")
        return candidates[0]

    def closure(self, refs: Iterable[Mapping[str, Any]], env: Mapping[str, str], stop: Iterable[str] = ()) -> dict[str, Package]:
        """The packages `refs` need where markers evaluate with `env`, extras followed; not past `stop`."""
        stopped = {canonicalize_name(s) for s in stop}
        found: dict[str, Package] = {}
        todo = list(refs)
        while todo:
            ref = todo.pop()
            if "marker" in ref and not _holds(ref["marker"], env):
                continue
            package = self._resolve(ref, env)
            if package.name in stopped:
                continue
            extras = ref.get("extra", [])
            if package.name not in found:
                found[package.name] = package
                todo += package.entry.get("dependencies", [])
            for extra in extras:
                todo += package.entry.get("optional-dependencies", {}).get(extra, [])
        return found

    def runtime(self, target: Target) -> dict[str, Package]:
        """What the Lambda bundle holds on `target`."""
        return self.closure(self.project.entry.get("dependencies", []), target.environment(), stop=RUNTIME_PROVIDES)

    def environment_set(self, env: Mapping[str, str], groups: Iterable[str] = ("dev",)) -> dict[str, Package]:
        """What `uv sync` installs here: the project's dependencies and the groups' (the project excepted)."""
        project = self.project.entry
        refs = [*project.get("dependencies", [])]
        for group in groups:
            refs += project.get("dev-dependencies", {}).get(group, [])
        return self.closure(refs, env)

    def requires_dist(self) -> dict[str, list[str]]:
        """pyproject.toml's requirements as the lock recorded them when it was made: `dependencies`
        and each group's. uv re-locks (and `uv sync --locked` refuses) when these differ."""
        meta = self.project.entry.get("metadata", {})
        recorded = {"dependencies": [_spec(r) for r in meta.get("requires-dist", [])]}
        for group, refs in meta.get("requires-dev", {}).items():
            recorded[group] = [_spec(r) for r in refs]
        return {k: sorted(v) for k, v in recorded.items()}


def _spec(ref: Mapping[str, Any]) -> str:
    named = ref.get("extra") or ref.get("extras") or []  # dependencies say extra, metadata extras
    extras = f"[{','.join(named)}]" if named else ""
    marker = f"; {ref['marker']}" if ref.get("marker") else ""
    return _normal(f"{ref['name']}{extras}{ref.get('specifier', '')}{marker}")


def _normal(line: str) -> str:
    """One requirement in one spelling: canonical name, sorted extras and specifiers."""
    from packaging.requirements import Requirement

    req = Requirement(line)
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    specifier = ",".join(sorted(str(s) for s in req.specifier))
    return f"{canonicalize_name(req.name)}{extras}{specifier}" + (f"; {req.marker}" if req.marker else "")


def declared(pyproject: Mapping[str, Any]) -> dict[str, list[str]]:
    """pyproject.toml's `dependencies` and dependency groups, spelled as `Lock.requires_dist` spells them."""
    found = {"dependencies": sorted(_normal(r) for r in pyproject["project"].get("dependencies", []))}
    for group, lines in pyproject.get("dependency-groups", {}).items():
        found[group] = sorted(_normal(r) for r in lines if isinstance(r, str))
    return found


def _holds(marker: str, env: Mapping[str, str]) -> bool:
    return Marker(marker).evaluate(dict(env))


# ---------------------------------------------------------------------------------------- outputs

_HEADER = """\
# Generated from uv.lock by `make lock` (relay_local/bundle/lockfile.py): do not edit by hand.
# What `sam build` bundles into every function, for {target} (template.yaml's Globals):
# pyproject.toml's runtime dependencies and what they need there, exact, with the hash of every file
# of each version that python3.12 may install (sam build downloads the wheels for its own machine
# first, then the target's). boto3 is left to the Lambda runtime.
"""


def requirements_text(packages: Mapping[str, Package], target: Target, header: str = _HEADER) -> str:
    lines = [header.format(target=target.describe()).rstrip("\n")]
    for name in sorted(packages):
        package = packages[name]
        hashes = package.hashes_for(target)
        lines.append(f"{name}=={package.version} \\")
        lines += [f"    --hash={h}" + (" \\" if i < len(hashes) - 1 else "") for i, h in enumerate(hashes)]
    return "\n".join(lines) + "\n"


def lambda_requirements(lock: Lock, target: Target) -> str:
    return requirements_text(lock.runtime(target), target)


def uv_requirements(lock: Lock) -> str:
    """uv, pinned as the lock pins it, with every file's hash: pip picks the wheel for this machine."""
    [uv] = lock.packages["uv"]
    lines = [
        "# Generated from uv.lock by `make lock` (relay_local/bundle/lockfile.py): do not edit by hand.",
        "# The uv the Makefile installs with pip (--require-hashes); uv then installs the lock.",
        f"uv=={uv.version} \\",
    ]
    hashes = sorted(f["hash"] for f in uv.files)
    lines += [f"    --hash={h}" + (" \\" if i < len(hashes) - 1 else "") for i, h in enumerate(hashes)]
    return "\n".join(lines) + "\n"


def pinned(text: str) -> dict[str, str]:
    """A generated requirements file's `name==version` lines, as {name: version}."""
    return {canonicalize_name(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", text, re.MULTILINE)}


def changes(old: Lock, new: Lock, target: Target | None = None) -> list[str]:
    """What a re-lock changed, one line per package: `name: old → new`, added, removed; with a
    target, the packages of its Lambda bundle (in either lock) are marked `[Lambda bundle]`."""
    before, after = old.versions(), new.versions()
    bundled = set(old.runtime(target)) | set(new.runtime(target)) if target else set()
    lines = []
    for name in sorted(before.keys() | after.keys()):
        was, now = before.get(name, set()), after.get(name, set())
        if was == now:
            continue
        if not was:
            line = f"{name}: added {', '.join(sorted(now))}"
        elif not now:
            line = f"{name}: removed (was {', '.join(sorted(was))})"
        else:
            line = f"{name}: {', '.join(sorted(was))} → {', '.join(sorted(now))}"
        lines.append(line + (" [Lambda bundle]" if name in bundled else ""))
    return lines


OUTPUTS = {
    LAMBDA_REQUIREMENTS: lambda lock: lambda_requirements(lock, Target.of_template()),
    UV_REQUIREMENTS: uv_requirements,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relay_local.bundle.lockfile", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("write", help="write functions/requirements.txt and requirements/uv.txt from uv.lock")
    sub.add_parser("check", help="exit 1 when a file derived from uv.lock differs from what it would be")
    diff = sub.add_parser("diff", help="what changed between two locks, one line per package")
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)
    diff.add_argument("--bundle", action="store_true", help="mark the packages of the Lambda bundle")
    args = parser.parse_args(argv)
    if args.command == "diff":
        old, new = Lock.read(args.old), Lock.read(args.new)
        lines = changes(old, new, Target.of_template() if args.bundle else None)
        print("\n".join(lines) if lines else "no package changed")
        return 0
    lock = Lock.read()
    stale = []
    for path, render in OUTPUTS.items():
        text = render(lock)
        current = path.read_text() if path.exists() else None
        if args.command == "write" and current != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
        elif args.command == "check" and current != text:
            stale.append(str(path.relative_to(ROOT)))
    if stale:
        print(f"out of date with uv.lock: {', '.join(stale)} (run `make lock`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

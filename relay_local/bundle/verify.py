"""`make build`'s check of what `sam build` produced: each function's folder holds the locked wheels,
byte for byte, and our own code, and nothing else.

Why it is needed: pip's hash check does not cover everything `sam build` installs. aws-lambda-builders
first runs `pip download -r requirements.txt` for the machine it runs on (hash-checked), then fetches
each native package's arm64 wheel with a second `pip download --platform … name==version`, which has
no requirements file and so no hashes. A pinned version with a different file (a mirror, a cache, a
re-upload) would go to Lambda unnoticed, and a wheel pip could not verify could silently be replaced
by a build from the sdist. So after the build, for every `*.dist-info` in the folder:
- the package and version must be the lock's for the target (relay_local.bundle.lockfile);
- its `WHEEL` tags name the wheel it came from: that wheel must be in uv.lock, and is downloaded from
  the URL the lock records (the package index's file host) and checked against the lock's sha256;
- every file of that wheel must be in the folder with the same bytes (aws-lambda-builders unpacks
  wheels as they are, RECORD included).
Then every other file must be our code (functions/, the same bytes) or bytecode `make build` wrote.

    python -m relay_local.bundle.verify .aws-sam/build      # exit 1 listing every difference
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name

from relay_local.bundle.lockfile import Lock, Target, file_name, wheel_tags

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
#: what `make build` or tools leave beside our code that is not part of it
NOT_CODE = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}

Fetch = Callable[[str], bytes]


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as answer:  # noqa: S310 - uv.lock's https file URLs
        return bytes(answer.read())


@dataclass
class Installed:
    """One `*.dist-info` in a function's folder."""

    path: Path
    name: str
    version: str
    tags: frozenset[Tag]

    @classmethod
    def read(cls, dist_info: Path) -> Installed:
        meta = HeaderParser().parsestr((dist_info / "METADATA").read_text(errors="replace"))
        wheel = dist_info / "WHEEL"
        lines = (HeaderParser().parsestr(wheel.read_text()).get_all("Tag") or []) if wheel.exists() else []
        tags = frozenset(t for line in lines for t in parse_tag(line))
        return cls(dist_info, canonicalize_name(meta["Name"]), str(meta["Version"]), tags)

    def recorded(self) -> set[str]:
        """The files its RECORD lists (and the dist-info's own)."""
        record = self.path / "RECORD"
        listed = {line.split(",", 1)[0] for line in record.read_text().splitlines() if line} if record.exists() else set()
        return listed | {f"{self.path.name}/{p.name}" for p in self.path.iterdir() if p.is_file()}


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Verifier:
    def __init__(self, lock: Lock, target: Target, cache: Path, fetch: Fetch = download, functions: Path = FUNCTIONS) -> None:
        self.lock, self.target, self.cache, self.fetch, self.functions = lock, target, cache, fetch, functions
        self.expected = lock.runtime(target)

    def wheel(self, wheel: dict[str, str]) -> zipfile.ZipFile:
        """The locked wheel's bytes, checked against the lock's sha256 (cached once checked)."""
        name = file_name(wheel["url"])
        cached = self.cache / name
        data = cached.read_bytes() if cached.exists() else self.fetch(wheel["url"])
        if _sha256(data) != wheel["hash"]:
            cached.unlink(missing_ok=True)
            raise ValueError(f"{name}: the file at the lock's URL does not have the lock's sha256")
        if not cached.exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(data)
        return zipfile.ZipFile(io.BytesIO(data))

    def check_function(self, folder: Path) -> list[str]:
        problems: list[str] = []
        covered: set[str] = set()
        seen: set[str] = set()
        for dist_info in sorted(folder.glob("*.dist-info")):
            installed = Installed.read(dist_info)
            seen.add(installed.name)
            package = self.expected.get(installed.name)
            if package is None:
                problems.append(f"{installed.name} {installed.version}: not in uv.lock's bundle for {self.target.describe()}")
                continue
            if installed.version != package.version:
                problems.append(f"{installed.name}: {installed.version} in the bundle, {package.version} in uv.lock")
                continue
            matches = [w for w in package.entry.get("wheels", []) if wheel_tags(w) == installed.tags]
            if not matches:
                built = "no wheel tags" if not installed.tags else "tags " + ", ".join(sorted(map(str, installed.tags)))
                problems.append(f"{installed.name} {installed.version}: not one of uv.lock's wheels ({built}; built from the sdist?)")
                covered |= installed.recorded()  # said once for the package, not again per file
                continue
            try:
                wheel = self.wheel(matches[0])
            except (OSError, ValueError) as exc:
                problems.append(f"{installed.name} {installed.version}: {exc}")
                covered |= installed.recorded()
                continue
            for entry in wheel.infolist():
                if entry.is_dir():
                    continue
                covered.add(entry.filename)
                there = folder / entry.filename
                if not there.is_file():
                    problems.append(f"{installed.name}: {entry.filename} of the locked wheel is missing")
                elif there.read_bytes() != wheel.read(entry):
                    problems.append(f"{installed.name}: {entry.filename} differs from the locked wheel")
        for name in sorted(self.expected.keys() - seen):
            problems.append(f"{name} {self.expected[name].version}: in uv.lock's bundle but not in the folder")
        ours = dict(self._our_files())
        for rel, source in ours.items():
            there = folder / rel
            if not there.is_file():
                problems.append(f"functions/{rel}: missing")
            elif there.read_bytes() != source.read_bytes():
                problems.append(f"functions/{rel}: differs from the source")
        stray: dict[str, list[str]] = {}
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and rel not in covered and rel not in ours and not _bytecode(rel):
                stray.setdefault(rel.split("/", 1)[0], []).append(rel)
        for top, files in stray.items():
            what = files[0] if len(files) == 1 else f"{top}/ ({len(files)} files)"
            problems.append(f"{what}: neither from a locked wheel nor from functions/")
        return problems

    def _our_files(self) -> Iterator[tuple[str, Path]]:
        for path in self.functions.rglob("*"):
            rel = path.relative_to(self.functions)
            if path.is_file() and not (
                set(rel.parts) & NOT_CODE or any(p.endswith(".egg-info") for p in rel.parts) or _bytecode(rel.as_posix())
            ):
                yield rel.as_posix(), path


def _bytecode(rel: str) -> bool:
    return rel.endswith(".pyc") and "__pycache__/" in f"/{rel}"


def function_folders(build_dir: Path) -> list[Path]:
    """The functions' folders of a `sam build` output (each has its requirements.txt)."""
    return sorted(p.parent for p in build_dir.glob("*/requirements.txt"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relay_local.bundle.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dir", type=Path, help="sam build's --build-dir (.aws-sam/build)")
    parser.add_argument("--cache", type=Path, help="where checked wheels are kept (default: <build_dir>/../locked-wheels)")
    args = parser.parse_args(argv)
    folders = function_folders(args.build_dir)
    if not folders:
        print(f"verify: no function folder in {args.build_dir}", file=sys.stderr)
        return 1
    verifier = Verifier(Lock.read(), Target.of_template(), args.cache or args.build_dir.parent / "locked-wheels")
    failed = False
    for folder in folders:
        problems = verifier.check_function(folder)
        failed |= bool(problems)
        for problem in problems:
            print(f"verify: {folder.name}: {problem}", file=sys.stderr)
        if not problems:
            count = len(verifier.expected)
            print(f"verify: {folder.name}: {count} packages, each the locked wheel byte for byte, and functions/; nothing else")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

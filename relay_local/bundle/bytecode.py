"""Bytecode in the Lambda package: `python3.12 relay_local/bundle/bytecode.py --runtime python3.12 .aws-sam/build`.

`make build` runs this after `sam build`. Why it matters:

- `/var/task` is read-only, so Python cannot keep what it compiles there: a package without `.pyc`
  files is compiled again, module by module, on every cold start.
- `sam build` ships no `.pyc` (its Python builder drops them and does not compile the wheels it
  unpacks), and `sam deploy` zips every file dated 1980-01-01, so an ordinary timestamp `.pyc`
  could never match its source there anyway.
- Hash-checked `.pyc` files (PEP 552) hold whatever the timestamps say, and a source that no
  longer matches its `.pyc` is still compiled afresh, so stale code never runs.

`make bench` measures the difference (`coldstart.<handler>_without_bytecode_over_floor`).

Standard library only: it runs under the runtime's interpreter, outside the project's venv.
"""

from __future__ import annotations

import argparse
import compileall
import os
import py_compile
import sys
from pathlib import Path

LAMBDA_TASK_ROOT = "/var/task"
#: what `sam deploy` writes into every zip entry (zipfile.ZipInfo's default date)
ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z


def compile_tree(root: Path, prefix: str = LAMBDA_TASK_ROOT, workers: int = 0) -> int:
    """Write a hash-checked `.pyc` beside every `.py` under `root`, recording the sources as
    `prefix/...` (where Lambda puts them), not the build folder: the same sources give the same bytes
    wherever they are built.

    Returns how many `.pyc` files the tree holds afterwards; raises if a module fails to compile.
    """
    root = Path(root).resolve()
    ok = compileall.compile_dir(
        str(root),
        quiet=1,
        workers=workers,
        stripdir=str(root),
        prependdir=prefix,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    if not ok:
        raise RuntimeError(f"some modules under {root} did not compile (see above)")
    return sum(1 for _ in root.rglob("*.pyc"))


def date_like_a_lambda_zip(root: Path) -> None:
    """Give every file and folder under `root` the date `sam deploy` writes into the zip."""
    for path in [Path(root), *Path(root).rglob("*")]:
        os.utime(path, (ZIP_EPOCH, ZIP_EPOCH), follow_symlinks=False)


def function_dirs(build_dir: Path) -> list[Path]:
    """The functions' folders in `sam build`'s output (one per function, beside template.yaml)."""
    return sorted(p for p in Path(build_dir).iterdir() if p.is_dir() and any(p.glob("*/__init__.py")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bytecode.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", required=True, help="the functions' Lambda runtime, e.g. python3.12")
    parser.add_argument("build_dir", type=Path, help="sam build's output folder, e.g. .aws-sam/build")
    args = parser.parse_args(argv)
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if args.runtime != here:
        print(
            f"bytecode.py: the functions run on {args.runtime} but this is {here}; bytecode is version-specific. "
            f"Run it with {args.runtime} (make build LAMBDA_PYTHON=/path/to/{args.runtime}).",
            file=sys.stderr,
        )
        return 2
    dirs = function_dirs(args.build_dir) if args.build_dir.is_dir() else []
    if not dirs:
        print(f"bytecode.py: no function folders in {args.build_dir}: run `sam build` first", file=sys.stderr)
        return 2
    for folder in dirs:
        count = compile_tree(folder)
        print(f"bytecode: {folder.name}: {count} hash-checked .pyc files for {args.runtime}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

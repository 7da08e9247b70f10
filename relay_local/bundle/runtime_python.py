"""The Lambda runtime's interpreter for `make build`: `python3 relay_local/bundle/runtime_python.py python3.12`.

`sam build` looks for `python3.12` (the template's Runtime) on PATH, and the bytecode step must run
under that same version. On many machines `python3.12` exists but is not the first thing PATH finds:
a pyenv shim that fails unless PYENV_VERSION selects 3.12, or no `python3.12` at all beside a pyenv
install. This finds a working interpreter, in order:

1. `--prefer` (the Makefile passes `LAMBDA_PYTHON`), a path or a command name: it must be that version;
2. `python3.12` on PATH, if it runs and is 3.12 (a pyenv shim that refuses does not count);
3. pyenv's newest 3.12: `$(pyenv root)/versions/3.12*/bin/python3.12` (or $PYENV_ROOT, or ~/.pyenv).

It prints ONE directory whose `python3.12` is that interpreter, for the Makefile to put first on PATH
for `sam build` and the bytecode step. If the interpreter is not named `python3.12` (e.g.
LAMBDA_PYTHON=/opt/py312/bin/python3), that directory is `--shim-dir` holding a `python3.12` symlink.
Nothing found: one line on stderr saying what to do, exit status 2. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def version_of(interpreter: str) -> str | None:
    """ "3.12" for a Python 3.12 that runs; None for anything that does not run (a refusing shim)."""
    try:
        done = subprocess.run(
            [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and re.fullmatch(r"\d+\.\d+", out) else None


def pyenv_root() -> Path:
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            done = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30, check=False)
            if done.returncode == 0 and done.stdout.strip():
                return Path(done.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _numeric(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.parent.name))


def candidates(version: str, prefer: str | None) -> list[tuple[str, str]]:
    """(where it came from, interpreter) in the order tried."""
    if prefer:
        return [("LAMBDA_PYTHON", shutil.which(prefer) or prefer)]
    found: list[tuple[str, str]] = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(("PATH", on_path))
    installs = sorted(pyenv_root().glob(f"versions/{version}*/bin/python{version}"), key=_numeric, reverse=True)
    found += [("pyenv", str(p)) for p in installs]
    return found


def find(runtime: str, prefer: str | None, shim_dir: Path) -> Path:
    """The directory to put first on PATH; raises SystemExit with one line if there is none."""
    match = re.fullmatch(r"python(\d+\.\d+)", runtime)
    if not match:
        raise SystemExit(f"runtime_python: {runtime!r} is not a Python runtime (pythonX.Y)")
    version = match.group(1)
    tried = []
    for source, interpreter in candidates(version, prefer):
        got = version_of(interpreter)
        if got == version:
            here = Path(interpreter).parent / f"python{version}"
            if Path(interpreter).name == f"python{version}" or version_of(str(here)) == version:
                return Path(interpreter).parent.absolute()
            shim_dir.mkdir(parents=True, exist_ok=True)
            link = shim_dir / f"python{version}"
            link.unlink(missing_ok=True)
            link.symlink_to(Path(interpreter).absolute())
            return shim_dir.absolute()
        tried.append(f"{source} {interpreter} is {got or 'not runnable'}")
    if prefer:
        raise SystemExit(f"runtime_python: LAMBDA_PYTHON={prefer} must be Python {version} ({'; '.join(tried)})")
    raise SystemExit(
        f"runtime_python: no Python {version} for the {runtime} runtime"
        f" ({'; '.join(tried) or 'none on PATH or in pyenv'}): install it (e.g. `pyenv install {version}`)"
        f" or point LAMBDA_PYTHON at one"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("runtime", help="the template's Runtime, e.g. python3.12")
    parser.add_argument("--prefer", default="", help="an interpreter to use (LAMBDA_PYTHON); empty: search")
    parser.add_argument("--shim-dir", default=".aws-sam/runtime-python", help="where a python3.X symlink goes if needed")
    args = parser.parse_args(argv)
    try:
        print(find(args.runtime, args.prefer or None, Path(args.shim_dir)))
    except SystemExit as exc:
        print(exc.code, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

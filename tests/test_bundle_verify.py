"""`make build`'s check of sam build's output (relay_local/bundle/verify.py): the locked wheels byte for
byte and our code, nothing else, on a folder laid out as aws-lambda-builders lays it out (each wheel
unpacked as it is). The wheels are made here; "downloading" one reads it from a dict, as the index's
file host would answer."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from relay_local.bundle.lockfile import Lock, Target
from relay_local.bundle.verify import Verifier, function_folders

ARM = Target((3, 12), "aarch64")
FAST_WHEEL = "fast-2.0-cp312-cp312-manylinux_2_17_aarch64.whl"
PURE_WHEEL = "pure-1.0-py3-none-any.whl"


def wheel_bytes(name: str, version: str, tag: str, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
        info = f"{name}-{version}.dist-info"
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
        z.writestr(f"{info}/RECORD", "".join(f"{path},,\n" for path in files))
    return buffer.getvalue()


@pytest.fixture
def world(tmp_path):
    """A lock of two packages (one native, one pure), their wheels at the index, our code, and a
    function folder as sam build leaves it."""
    wheels = {
        f"https://files.example/{FAST_WHEEL}": wheel_bytes(
            "fast", "2.0", "cp312-cp312-manylinux_2_17_aarch64", {"fast/_core.so": b"\x7fELF arm64"}
        ),
        f"https://files.example/{PURE_WHEEL}": wheel_bytes("pure", "1.0", "py3-none-any", {"pure/__init__.py": b"VALUE = 1\n"}),
    }
    sha = {url: "sha256:" + hashlib.sha256(data).hexdigest() for url, data in wheels.items()}
    root = {"name": "app", "version": "1", "source": {"editable": "."}, "dependencies": [{"name": "fast"}, {"name": "pure"}]}
    packages = [
        {"name": "fast", "version": "2.0", "wheels": [{"url": u, "hash": sha[u]} for u in wheels if "fast" in u]},
        {"name": "pure", "version": "1.0", "wheels": [{"url": u, "hash": sha[u]} for u in wheels if "pure" in u]},
    ]
    lock = Lock({"version": 1, "package": [root, *packages]})
    functions = tmp_path / "functions"
    (functions / "relay").mkdir(parents=True)
    (functions / "relay" / "core.py").write_text("RULES = 1\n")
    (functions / "requirements.txt").write_text("fast==2.0\npure==1.0\n")
    folder = tmp_path / "build" / "ApiFunction"
    for data in wheels.values():
        zipfile.ZipFile(io.BytesIO(data)).extractall(folder)
    for path in functions.rglob("*"):
        if path.is_file():
            target = folder / path.relative_to(functions)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    (folder / "relay" / "__pycache__").mkdir()
    (folder / "relay" / "__pycache__" / "core.cpython-312.pyc").write_bytes(b"bytecode make build wrote")
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return wheels[url]

    verifier = Verifier(lock, ARM, tmp_path / "cache", fetch=fetch, functions=functions)
    return verifier, folder, wheels, fetched


def test_given_sam_builds_output_of_the_locked_wheels_and_our_code_then_nothing_is_found_and_each_wheel_is_fetched_once(world):
    verifier, folder, wheels, fetched = world
    assert function_folders(folder.parent) == [folder]
    assert verifier.check_function(folder) == []
    assert verifier.check_function(folder) == []  # the second time from the checked cache
    assert sorted(fetched) == sorted(wheels)


def test_given_a_native_file_that_is_not_the_locked_wheels_then_it_is_named(world):
    # Given the arm64 library replaced (what pip's second, unhashed download could bring)
    verifier, folder, _, _ = world
    (folder / "fast" / "_core.so").write_bytes(b"\x7fELF other")
    assert verifier.check_function(folder) == ["fast: fast/_core.so differs from the locked wheel"]


def test_given_a_package_built_from_its_sdist_instead_of_the_locked_wheel_then_it_is_refused(world):
    verifier, folder, _, _ = world
    (folder / "pure-1.0.dist-info" / "WHEEL").write_text("Wheel-Version: 1.0\nGenerator: setuptools\nTag: py2-none-any\n")
    # (its files are not named again one by one)
    assert verifier.check_function(folder) == ["pure 1.0: not one of uv.lock's wheels (tags py2-none-any; built from the sdist?)"]


def test_given_another_version_an_extra_package_and_a_stray_file_then_each_is_named(world):
    verifier, folder, _, _ = world
    meta = folder / "pure-1.0.dist-info" / "METADATA"
    meta.write_text(meta.read_text().replace("Version: 1.0", "Version: 1.1"))
    extra = folder / "left-3.0.dist-info"
    extra.mkdir()
    (extra / "METADATA").write_text("Name: left\nVersion: 3.0\n")
    (folder / "sitecustomize.py").write_text("import os\n")
    problems = verifier.check_function(folder)
    assert "pure: 1.1 in the bundle, 1.0 in uv.lock" in problems
    assert "left 3.0: not in uv.lock's bundle for python3.12 on arm64" in problems
    assert "sitecustomize.py: neither from a locked wheel nor from functions/" in problems


def test_given_our_code_changed_or_missing_and_a_locked_package_absent_then_each_is_named(world):
    verifier, folder, _, _ = world
    (folder / "relay" / "core.py").write_text("RULES = 2\n")
    (folder / "requirements.txt").unlink()
    for path in sorted((folder / "fast-2.0.dist-info").iterdir()):
        path.unlink()
    (folder / "fast-2.0.dist-info").rmdir()
    problems = verifier.check_function(folder)
    assert "functions/relay/core.py: differs from the source" in problems
    assert "functions/requirements.txt: missing" in problems
    assert "fast 2.0: in uv.lock's bundle but not in the folder" in problems


def test_given_the_index_serves_other_bytes_for_a_locked_wheel_then_it_is_refused_and_not_cached(world, tmp_path):
    verifier, folder, wheels, _ = world
    url = next(u for u in wheels if "pure" in u)
    wheels[url] = wheels[url] + b"tampered"
    assert verifier.check_function(folder) == [f"pure 1.0: {PURE_WHEEL}: the file at the lock's URL does not have the lock's sha256"]
    assert not (tmp_path / "cache" / PURE_WHEEL).exists()

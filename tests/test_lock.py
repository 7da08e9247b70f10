"""One lock (uv.lock) for everything the project installs, and what is made from it
(relay_local/bundle/lockfile.py): the hashed Lambda requirements for the template's runtime and
architecture, the hash-checked uv bootstrap, the list `make upgrade` prints, and this environment
holding exactly the locked versions."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
import tomllib

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from relay_local.bundle import lockfile
from relay_local.bundle.lockfile import Lock, LockError, Target, changes, declared, pinned

ROOT = lockfile.ROOT
ARM = Target((3, 12), "aarch64")
H = "sha256:" + "0" * 63  # hashes of the synthetic locks below: H1, H2, … by their last digit


def h(n: int) -> str:
    return H + str(n)


def wheel(filename: str, n: int) -> dict:
    return {"url": f"https://files.example/{filename}", "hash": h(n)}


def synthetic(*packages: dict, project_deps: list[dict]) -> Lock:
    root = {"name": "app", "version": "1.0", "source": {"editable": "."}, "dependencies": project_deps}
    return Lock({"version": 1, "package": [root, *packages]})


# ------------------------------------------------------------------- the repository's own files


def test_given_pyproject_then_the_lock_was_made_from_its_current_requirements():
    # uv refuses `sync --locked` on a lock whose recorded requirements differ: so would CI, later and
    # with less to say; this names the group that drifted
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert Lock.read().requires_dist() == declared(project)


def test_given_the_lock_then_functions_requirements_is_what_it_generates_for_the_templates_target():
    target = Target.of_template()
    assert (target.python, target.machine) == ((3, 12), "aarch64")  # template.yaml: python3.12, arm64
    expected = lockfile.lambda_requirements(Lock.read(), target)
    assert lockfile.LAMBDA_REQUIREMENTS.read_text() == expected, "functions/requirements.txt drifted from uv.lock: run `make lock`"


def test_given_the_lock_then_the_uv_bootstrap_file_is_what_it_generates_and_pins_the_locked_uv():
    lock = Lock.read()
    text = lockfile.UV_REQUIREMENTS.read_text()
    assert text == lockfile.uv_requirements(lock), "requirements/uv.txt drifted from uv.lock: run `make lock`"
    [uv] = lock.packages["uv"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # the Makefile's bootstrap, the dev group and uv's required-version name one uv
    assert pinned(text) == {"uv": uv.version}
    assert project["tool"]["uv"]["required-version"] == f"=={uv.version}"


def test_given_the_bundle_requirements_then_every_runtime_dependency_is_pinned_with_hashes_and_boto3_is_not():
    text = lockfile.LAMBDA_REQUIREMENTS.read_text()
    pins = pinned(text)
    direct = {
        canonicalize_name(Requirement(r).name) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    assert direct - {"boto3"} <= pins.keys()
    assert not pins.keys() & {"boto3", "botocore", "s3transfer"}
    # every pinned line continues into at least one --hash (pip's hash-checking mode needs all of them)
    unhashed = [line for line in text.splitlines() if "==" in line and not line.endswith(" \\")]
    assert unhashed == []
    assert text.count("--hash=sha256:") >= len(pins)


def test_given_this_environment_then_it_holds_exactly_the_locked_versions():
    # Two clones on different days install the same: `make` installs with `uv sync --locked`, which
    # checks each file against the lock's sha256; here every package of the lock for this Python and
    # machine is installed at the locked version, and nothing else is (pip's seeds and the project aside)
    env = {**default_environment(), "extra": ""}
    locked = {name: p.version for name, p in Lock.read().environment_set(env).items()}
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in md.distributions()}
    project = Lock.read().project.name
    fix = f"{sys.prefix} is not the lock: `make test` syncs it (or run .venv/bin/uv sync --locked)"
    assert {n: v for n, v in installed.items() if n in locked} == locked, fix
    assert set(installed) - set(locked) <= {project, "pip", "setuptools", "wheel"}, fix


def test_given_the_check_command_when_the_files_match_then_it_exits_0():
    run = subprocess.run([sys.executable, "-m", "relay_local.bundle.lockfile", "check"], cwd=ROOT, capture_output=True, text=True)
    assert (run.returncode, run.stderr) == (0, "")


# ------------------------------------------------------------------- the generator, on synthetic locks


def test_given_wheels_for_many_platforms_then_every_file_python312_may_take_is_hashed_and_arm64_is_required():
    # Given a package with wheels for several platforms and Pythons, and an sdist
    files = {
        1: "fast-2.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        2: "fast-2.0-cp312-cp312-manylinux_2_28_aarch64.whl",
        3: "fast-2.0-cp312-cp312-manylinux_2_39_aarch64.whl",  # newer glibc than Lambda's 2.34
        4: "fast-2.0-cp312-cp312-musllinux_1_2_aarch64.whl",
        5: "fast-2.0-cp312-cp312-manylinux_2_17_x86_64.whl",  # what `sam build` downloads first on an x86_64 machine
        6: "fast-2.0-cp311-cp311-manylinux_2_17_aarch64.whl",
        7: "fast-2.0-cp38-abi3-manylinux_2_17_aarch64.whl",
        8: "fast-2.0-cp312-cp312-macosx_11_0_arm64.whl",
    }
    entry = {"name": "fast", "version": "2.0", "sdist": {"url": "https://files.example/fast-2.0.tar.gz", "hash": h(9)}}
    lock = synthetic({**entry, "wheels": [wheel(f, n) for n, f in files.items()]}, project_deps=[{"name": "fast"}])
    # When the Lambda requirements are made for python3.12 on arm64
    text = lockfile.lambda_requirements(lock, ARM)
    # Then the version is pinned with the hash of each file python3.12 may install (the arm64 wheels
    # Lambda runs, the build machine's, the sdist), not the other Python's
    assert "fast==2.0 \\" in text and "python3.12 on arm64" in text
    assert [line.strip(" \\") for line in text.splitlines() if "--hash" in line] == [f"--hash={h(n)}" for n in (1, 2, 3, 4, 5, 7, 8, 9)]
    # and the arm64 wheels are the ones that install on Lambda
    assert {n for n, f in files.items() if set(lockfile.wheel_tags(wheel(f, n))) & ARM.tags()} == {1, 2, 7}
    # When no file of a version installs on arm64 and there is no sdist, Then it is an error, not a bundle that fails on Lambda
    x86_only = synthetic({"name": "fast", "version": "2.0", "wheels": [wheel(files[5], 5)]}, project_deps=[{"name": "fast"}])
    with pytest.raises(LockError, match="fast 2.0: no file in uv.lock installs on python3.12 on arm64"):
        lockfile.lambda_requirements(x86_only, ARM)


def test_given_markers_extras_and_the_runtimes_boto3_then_the_closure_is_what_lambda_needs():
    lock = synthetic(
        {
            "name": "lib",
            "version": "1",
            "wheels": [wheel("lib-1-py3-none-any.whl", 1)],
            "dependencies": [
                {"name": "only-x86", "marker": "platform_machine == 'x86_64'"},
                {"name": "old-python", "marker": "python_full_version < '3.12'"},
                {"name": "on-linux", "marker": "sys_platform == 'linux'"},
            ],
            "optional-dependencies": {"speed": [{"name": "speedup"}]},
        },
        {"name": "only-x86", "version": "1", "wheels": [wheel("only_x86-1-py3-none-any.whl", 2)]},
        {"name": "old-python", "version": "1", "wheels": [wheel("old_python-1-py3-none-any.whl", 3)]},
        {"name": "on-linux", "version": "1", "wheels": [wheel("on_linux-1-py3-none-any.whl", 4)]},
        {"name": "speedup", "version": "1", "wheels": [wheel("speedup-1-py3-none-any.whl", 5)]},
        {"name": "boto3", "version": "1", "wheels": [wheel("boto3-1-py3-none-any.whl", 6)], "dependencies": [{"name": "botocore"}]},
        {"name": "botocore", "version": "1", "wheels": [wheel("botocore-1-py3-none-any.whl", 7)]},
        project_deps=[{"name": "lib", "extra": ["speed"]}, {"name": "boto3"}],
    )
    assert set(lock.runtime(ARM)) == {"lib", "speedup", "on-linux"}
    # and on this machine's Python (a test environment) the markers read differently
    assert "old-python" in lock.closure(lock.project.entry["dependencies"], {**ARM.environment(), "python_full_version": "3.11.7"})


def test_given_a_fork_per_python_then_the_entry_for_python312_is_taken():
    lock = synthetic(
        {
            "name": "nx",
            "version": "3.6",
            "resolution-markers": ["python_full_version < '3.12'"],
            "wheels": [wheel("nx-3.6-py3-none-any.whl", 1)],
        },
        {
            "name": "nx",
            "version": "3.7",
            "resolution-markers": ["python_full_version >= '3.12'"],
            "wheels": [wheel("nx-3.7-py3-none-any.whl", 2)],
        },
        project_deps=[{"name": "nx"}],
    )
    assert lock.runtime(ARM)["nx"].version == "3.7"


def test_given_a_package_with_only_an_sdist_then_its_hash_is_the_sdists():
    lock = synthetic(
        {"name": "pure", "version": "1", "sdist": {"url": "https://files.example/pure-1.tar.gz", "hash": h(1)}},
        project_deps=[{"name": "pure"}],
    )
    assert lockfile.lambda_requirements(lock, ARM).splitlines()[-2:] == ["pure==1 \\", f"    --hash={h(1)}"]


def test_given_two_locks_then_changes_lists_upgrades_additions_and_removals_one_line_each():
    def lock_of(**versions: str) -> Lock:
        return synthetic(*({"name": n, "version": v} for n, v in versions.items()), project_deps=[])

    old = lock_of(pydantic="2.12.0", httpx="0.28.1", sniffio="1.3.1")
    new = lock_of(pydantic="2.13.5", httpx="0.28.1", certifi="2026.10.19")
    assert changes(old, new) == ["certifi: added 2026.10.19", "pydantic: 2.12.0 → 2.13.5", "sniffio: removed (was 1.3.1)"]
    assert changes(old, old) == []
    # and with the Lambda target, what the bundle holds is marked
    old.project.entry["dependencies"] = new.project.entry["dependencies"] = [{"name": "pydantic"}]
    assert changes(old, new, ARM)[1] == "pydantic: 2.12.0 → 2.13.5 [Lambda bundle]"


def test_given_the_diff_command_on_two_lock_files_then_it_prints_the_changes(tmp_path):
    (tmp_path / "old.lock").write_text(
        'version = 1\n[[package]]\nname = "app"\nversion = "1"\nsource = { editable = "." }\n'
        '[[package]]\nname = "pydantic"\nversion = "2.12.0"\n'
    )
    (tmp_path / "new.lock").write_text((tmp_path / "old.lock").read_text().replace("2.12.0", "2.13.5"))
    run = subprocess.run(
        [sys.executable, "-m", "relay_local.bundle.lockfile", "diff", tmp_path / "old.lock", tmp_path / "new.lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert (run.returncode, run.stdout) == (0, "pydantic: 2.12.0 → 2.13.5\n")

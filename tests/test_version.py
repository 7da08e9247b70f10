"""The relay's version: written once (functions/relay/version.py) and the same everywhere it is shown
or repeated: package metadata, `relay --version`, the log lines' `version` key, the template's
`RelayVersion` output, CHANGELOG.md's newest section, the OpenAPI document's header."""

from __future__ import annotations

import io
import json
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from relay.version import __version__
from relay_local.template import template

ROOT = Path(__file__).resolve().parents[1]
#: a released section: `## [x.y.z] - YYYY-MM-DD` (Keep a Changelog); `## [Unreleased]` is not one
RELEASED = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+[^\]]*)\] - (?P<date>\d{4}-\d{2}-\d{2})$", re.MULTILINE)


def test_given_the_version_module_then_it_is_a_semantic_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__), __version__


def test_given_pyproject_then_its_version_is_read_from_the_version_module_not_written_there():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "relay.version.__version__"}


def test_given_the_installed_package_when_its_metadata_is_read_then_it_is_the_version_module():
    # Given the editable install `make` does; When its metadata is read; Then it says relay.version
    assert version("picky-media-relay") == __version__, (
        "the installed metadata is from install time: after a bump, reinstall "
        "(`.venv/bin/uv pip install --python .venv/bin/python -e . --no-deps`, or `make clean` then `make test`)"
    )


def test_given_the_cli_parser_when_asked_for_the_version_then_it_prints_relay_and_the_version(capsys):
    from relay_local.cli import build_parser

    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"relay {__version__}\n"


def test_given_the_template_then_its_relay_version_output_is_the_version_module():
    output = template()["Outputs"]["RelayVersion"]
    # a literal, so a deployed stack says which code it runs (`aws cloudformation describe-stacks`)
    assert output["Value"] == __version__, f"template.yaml's RelayVersion output says {output['Value']}, relay/version.py {__version__}"
    assert "version" in output["Description"].lower()


def test_given_the_changelog_then_its_newest_release_is_the_version_module_with_a_date_and_changes():
    text = (ROOT / "CHANGELOG.md").read_text()
    releases = list(RELEASED.finditer(text))
    assert releases, "CHANGELOG.md has no `## [x.y.z] - YYYY-MM-DD` section"
    newest = releases[0]
    assert newest["version"] == __version__, (
        f"CHANGELOG.md's newest section is {newest['version']}, relay/version.py says {__version__}: add its section"
    )
    # the section lists changes under Keep a Changelog's groups, one `- ` line each
    end = releases[1].start() if len(releases) > 1 else len(text)
    section = text[newest.end() : end]
    groups = re.findall(r"^### (\w+)$", section, re.MULTILINE)
    assert groups and set(groups) <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, groups
    assert len(re.findall(r"^- ", section, re.MULTILINE)) >= len(groups)
    # newest first: every later section is an older version
    versions = [tuple(int(p) for p in m["version"].split(".")[:3]) for m in releases]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)


def test_given_the_openapi_document_then_every_answer_of_every_route_documents_the_version_header():
    doc = json.loads((ROOT / "docs" / "openapi.json").read_text())
    described = doc["components"]["headers"]["X-Relay-Version"]
    assert described["schema"] == {"type": "string"} and "version" in described["description"]
    answers = {
        (path, method, code): answer
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        for code, answer in operation["responses"].items()
    }
    assert {("/pushes/{id}", "get", code) for code in ("200", "401", "404")} <= set(answers)
    for where, answer in answers.items():
        assert answer["headers"]["X-Relay-Version"] == {"$ref": "#/components/headers/X-Relay-Version"}, where


def test_given_the_relay_logger_when_a_handler_clearing_its_state_runs_twice_then_every_line_carries_the_version():
    from relay.observability import logger
    from relay_local.dev.invoker import LocalContext

    # Given a handler on the relay's logger that clears appended keys on every invocation
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict, context: object) -> None:
        logger.info("working", extra={"n": event["n"]})
        logger.append_keys(job_id=f"job-{event['n']}")
        logger.warning("appended a key")

    buffer = io.StringIO()
    stream = logger.registered_handler.setStream(buffer)
    level = logger.log_level
    logger.setLevel("INFO")
    try:
        # When it is invoked twice
        for n in (1, 2):
            handler({"n": n}, LocalContext("VersionTest", 128, 30, "arn:aws:lambda:eu-west-1:123456789012:function:VersionTest"))
    finally:
        logger.registered_handler.setStream(stream)
        logger.setLevel(level)
        logger.clear_state()
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    # Then each of its four lines carries the version, also after clear_state dropped the appended key
    assert [(line["message"], line.get("job_id")) for line in lines] == [
        ("working", None),
        ("appended a key", "job-1"),
        ("working", None),
        ("appended a key", "job-2"),
    ]
    assert [line.get("version") for line in lines] == [__version__] * 4

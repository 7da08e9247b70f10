"""The relay's version: the one place it is written.

Decision: a module of the code rather than git tags or package metadata. The Lambda bundle ships
`functions/` only (no `*.dist-info`, no `.git`), so the running code must carry its own version.
Everything else reads it from here: pyproject.toml (`[tool.setuptools.dynamic]`, so the package
metadata says the same), `relay --version`, the `version` key of every log line
(relay.observability), the `X-Relay-Version` header of every ApiFunction answer (relay.api_answers).
template.yaml's output `RelayVersion` and CHANGELOG.md's newest section repeat it as text: a test
(tests/test_version.py) fails when either differs.

Releasing: bump `__version__`, add its `## [x.y.z] - date` section to CHANGELOG.md, set the
template's `RelayVersion` output, commit, tag `v<version>`.
"""

__version__ = "0.1.0"

"""The Lambda bundle's build step and a Lambda-like layout of it.

`bytecode.py` and `runtime_python.py` are run by path by `make build` (with the functions' runtime,
or the system python3, neither of which has this project installed): they import only the standard
library. `lambda_layout` builds the bundle as `make build` ships it, for tests and the bench.
`lockfile` reads uv.lock and writes what is made from it (functions/requirements.txt,
requirements/uv.txt; `make lock`); `verify` checks `sam build`'s output against the lock (`make build`)."""

"""Local tools around the relay, by purpose; none of this is in the Lambda bundle (`functions/`).

- `cli`: the `relay` command in front of all of them (`relay demo|local|invoke|serve|soak|bench|
  redrive|openapi|sign-event`).
- `template`: template.yaml as data (functions, resources, parameters), read by every toolkit.
- `dev/`: the Docker-free dev stack: the embedded AWS (moto server made as strict as AWS:
  `strict_*`, `lambda_limits`, and each function's SAM-transformed role: `iam*`), the stack made
  from template.yaml (`stack`), the handlers run in-process (`invoker`, `poller`, `serve`), the
  Push API stand-in (`standin`), a whole session of them (`session`) and the demo.
- `ops/`: operating a deployed (or local) stack: `redrive` dead-lettered messages, `openapi`.
- `bench/`: figures, not tests: `relay bench` (or `python -m relay_local.bench`, `make bench`) and the soak
  (`relay soak`, `make soak`).
- `bundle/`: the Lambda bundle's build step (`make build` runs `bytecode.py` and
  `runtime_python.py` by path, with no project installed) and a Lambda-like layout of it
  (`lambda_layout`) that tests and the cold-start bench start the handlers from.

Code only these tools use lives here, not in `functions/`: tests/test_bundle.py checks that every
module of the bundle is reachable from a handler.
"""

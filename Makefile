# Quick start: `make demo` and `make test`. Both set themselves up (a .venv with the project and
# its dev dependencies) on a machine with only python3 (3.11+) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready
UV     := $(BIN)/uv
UV_REQ := requirements/uv.txt
UV_VERSION := $(shell sed -n 's/^uv==\([0-9.]*\).*/\1/p' $(UV_REQ))
# uv's own settings for every uv command below: the project's .venv, no Python downloads
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# aws-sam-cli pins its own boto3: it lives in a venv of its own, used only for `make build/validate`.
TOOLS  := .venv-tools
PYTEST_ARGS ?=

N ?= 10000
# the functions' runtime (template.yaml Globals). `make build` needs that Python for `sam build` and
# the bytecode: LAMBDA_PYTHON=/path/to/python3.12 if you have one, else python3.12 on PATH if it runs,
# else pyenv's newest 3.12 (relay_local/bundle/runtime_python.py); its directory goes first on PATH.
RUNTIME := $(shell sed -n 's/^ *Runtime: *\(python[0-9.]*\).*/\1/p' template.yaml | head -1)
LAMBDA_PYTHON ?=
SAM ?= $(TOOLS)/bin/sam
BUILD_DIR ?= .aws-sam/build
# sam build's output against the lock (relay_local/bundle/verify.py); tests with a fake `sam` replace it
VERIFY_BUNDLE ?= $(BIN)/python -m relay_local.bundle.verify

.PHONY: demo test lint soak bench local build validate clean lock upgrade $(READY)

# Everything is installed from uv.lock, exactly (`uv sync --locked`). uv itself comes first, with
# pip, hash-checked against requirements/uv.txt (and again when that file names another uv).
$(UV): $(UV_REQ)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "python3 3.11+ is needed, found " + sys.version.split()[0])'
	@$(UV) --version 2>/dev/null | grep -qF 'uv $(UV_VERSION) ' \
	  || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(UV_REQ); }
	@touch $@

# Checked and synced on every run (50 ms when nothing changed): a package installed by hand, or a
# lock changed by a pull, never reaches a test or the demo.
$(READY): $(UV)
	@$(UV) lock --check --offline --quiet 2>/dev/null \
	  || { echo "make: uv.lock was not made from this pyproject.toml: run \`make lock\` (see README, Dependencies), then commit uv.lock" >&2; exit 2; }
	@$(UV) sync --locked --quiet
	@touch $@

demo: $(READY)  ## upload samples to the embedded stack, run the real handlers, print the ledger
	$(BIN)/relay demo

test: lint  ## lint + types, then every test: unit, template (cfn-lint), integration (moto server + Push API stand-in)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(READY)  ## ruff (lint + format check) on everything, mypy --strict on functions/ (the Lambda code)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

soak: $(READY)  ## the guarantees under injected faults: `make soak` (10,000 recipients) or `make soak N=500`
	$(BIN)/relay soak -n $(N)

bench: $(READY)  ## speed and cost figures (not tests): cold start, plan throughput, delivery, memory, cost
	$(BIN)/python -m relay_local.bench $(BENCH_ARGS)

local: $(READY)  ## embedded AWS + Push API stand-in in the foreground
	$(BIN)/relay local

# The SAM CLI's own environment, from the same lock (its group only: not the project, not the tests')
$(TOOLS)/.ready: uv.lock | $(READY)
	UV_PROJECT_ENVIRONMENT=$(TOOLS) $(UV) sync --locked --only-group sam --python $(PYTHON) --quiet
	@touch $@

lock: $(UV)  ## after editing pyproject.toml's dependencies: re-lock (keeping every version it can), install, regenerate the files made from the lock, print what moved
	cp uv.lock $(VENV)/uv.lock.before
	$(UV) lock
	$(UV) sync --locked --quiet
	$(BIN)/python -m relay_local.bundle.lockfile write
	@touch $(READY)
	@echo "# what moved (package: old → new):"
	@$(BIN)/python -m relay_local.bundle.lockfile diff --bundle $(VENV)/uv.lock.before uv.lock

upgrade: $(UV)  ## newest versions within pyproject.toml's ranges: re-lock, install, regenerate, print what changed, run the tests
	cp uv.lock $(VENV)/uv.lock.before
	$(UV) lock --upgrade
	@if cmp -s $(VENV)/uv.lock.before uv.lock; then echo "# nothing to upgrade: every package is at the newest version its range (and the others' pins) allow"; exit 0; fi; \
	  $(UV) sync --locked --quiet && $(BIN)/python -m relay_local.bundle.lockfile write && touch $(READY) && \
	  echo "# what changed (package: old → new):" && \
	  $(BIN)/python -m relay_local.bundle.lockfile diff --bundle $(VENV)/uv.lock.before uv.lock && \
	  { $(MAKE) --no-print-directory test || { echo "# the tests fail on the upgraded lock: fix them, or go back with"; \
	    echo "#   git checkout uv.lock functions/requirements.txt requirements/uv.txt && make test"; exit 1; }; } && \
	  echo "# upgraded; the tests pass$(if $(PYTEST_ARGS), (only: $(PYTEST_ARGS))). What changed, again:" && \
	  $(BIN)/python -m relay_local.bundle.lockfile diff --bundle $(VENV)/uv.lock.before uv.lock && \
	  echo "# review it (the [Lambda bundle] lines reach production), then commit uv.lock and the generated files"

validate: $(TOOLS)/.ready  ## sam validate --lint
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam validate --lint

build: $(TOOLS)/.ready  ## sam build from the lock, checked against it, + hash-checked bytecode (finds python3.12; or set LAMBDA_PYTHON)
	@$(BIN)/python -m relay_local.bundle.lockfile check
	@bin=$$($(PYTHON) relay_local/bundle/runtime_python.py $(RUNTIME) --prefer '$(LAMBDA_PYTHON)' --shim-dir $(abspath $(BUILD_DIR)/..)/runtime-python) || exit 2; \
	  echo "# $(RUNTIME) for sam build and the bytecode: $$bin/$(RUNTIME)"; \
	  export PATH="$$bin:$$PATH"; \
	  set -x; \
	  SAM_CLI_TELEMETRY=0 $(SAM) build --build-dir $(BUILD_DIR) && \
	  $(VERIFY_BUNDLE) $(BUILD_DIR) && \
	  $(RUNTIME) relay_local/bundle/bytecode.py --runtime $(RUNTIME) $(BUILD_DIR)

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache

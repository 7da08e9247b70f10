"""Docker-free `sam local invoke`: run a function of template.yaml in this process, with its
Handler and its Environment as the template sets them (resolved against the local stack)."""

from __future__ import annotations

import copy
import importlib
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from relay_local.dev import iam, lambda_limits
from relay_local.dev.stack import ACCOUNT, LocalStack
from relay_local.template import FUNCTIONS as FUNCTIONS_DIR
from relay_local.template import functions


@dataclass
class LocalContext:
    """What a Lambda handler may read from its context object."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_ONE_AT_A_TIME = threading.RLock()

#: what the process had, before any function's environment was applied, for each name one set
_ORIGINAL: dict[str, str | None] = {}
#: the function environment applied last (whichever Invoker applied it)
_applied: dict[str, str] | None = None


def apply_environment(env: dict[str, str]) -> bool:
    """Make `env` the function environment of this process, as a new container would have it: the
    names the previous function set and this one does not are restored to what the process had
    (not left behind for the next test's functions). False when `env` is already applied."""
    global _applied
    if env == _applied:
        return False
    for name in env:
        _ORIGINAL.setdefault(name, os.environ.get(name))
    for name in set(_applied or {}) - env.keys():
        original = _ORIGINAL.get(name)
        if original is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = original
    os.environ.update(env)
    _applied = dict(env)
    return True


def restore_environment() -> None:
    """Give the process back the environment it had before any function's (a stopped local relay:
    what its functions ran with must not reach the next test, nor a subprocess it starts)."""
    apply_environment({})


def fresh_container() -> None:
    """Forget what handlers keep per container (settings, clients, adapters, secrets), as a new
    container would: one call to the composition root (relay.wiring). The shared Powertools logger
    takes POWERTOOLS_LOG_LEVEL once, when it is first imported, which in this process may have been
    long before (a test, a tool): it gets this environment's level, as a new container's would."""
    from relay import wiring
    from relay.observability import logger

    wiring.reset()
    logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL") or "INFO")


class Invoker:
    def __init__(self, stack: LocalStack, extra_env: dict[str, str] | None = None, enforce_iam: bool | None = None) -> None:
        self.stack = stack
        #: each function's calls are checked against its deployed role (relay_local.dev.iam); on by default
        self.iam = iam.Enforcer(stack) if (iam.enabled() if enforce_iam is None else enforce_iam) else None
        self.extra_env = dict(extra_env or {})
        #: one invocation at a time in this process, whichever Invoker makes it: every handler shares
        #: the process's environment and the IAM check's running function (like one container), so an
        #: invocation still running (one API Gateway gave up on after 29 s carries on) must end before
        #: another invoker (the next test's relay) swaps them
        self.lock = _ONE_AT_A_TIME
        if str(FUNCTIONS_DIR) not in sys.path:
            sys.path.insert(0, str(FUNCTIONS_DIR))

    def environment(self, logical_id: str) -> dict[str, str]:
        return self.stack.environment(logical_id, self.extra_env)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        with self.lock:
            return self._invoke(logical_id, event)

    def _invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        specs = functions()
        if logical_id not in specs:
            raise KeyError(f"template.yaml has no function {logical_id!r} (it has: {', '.join(sorted(specs))})")
        spec = specs[logical_id]
        env = self.environment(logical_id)
        if apply_environment(env):
            fresh_container()
        module_name, func_name = spec.handler.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), func_name)
        name = f"{self.stack.name}-{logical_id}"
        context = LocalContext(
            function_name=name,
            memory_limit_in_mb=spec.memory,
            timeout_seconds=spec.timeout,
            invoked_function_arn=f"arn:aws:lambda:{self.stack.region}:{ACCOUNT}:function:{name}",
        )
        lambda_limits.check_request(event)  # Lambda's 6 MB, before the function runs
        try:
            with iam.running(self.iam, logical_id):
                result = handler(copy.deepcopy(event), context)
        finally:
            _drop_unpublished_metrics(sys.modules[module_name])
        lambda_limits.check_response(result)  # and after: its side effects are done, the caller gets an error
        return result


def _drop_unpublished_metrics(module: Any) -> None:
    """With POWERTOOLS_METRICS_DISABLED (the local default) Powertools neither prints nor clears
    the metrics a handler added, and prints them all once 100 pile up: drop them after each
    invocation, as a fresh flush would."""
    from aws_lambda_powertools import Metrics

    for value in vars(module).values():
        if isinstance(value, Metrics):
            value.clear_metrics()

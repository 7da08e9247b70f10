"""IAM as deployed, locally: every AWS call a function makes is checked against the role that
function gets from `sam deploy`, and refused as AWS would refuse it.

Mechanism, and why this one:
- **Roles** come from the SAM transform of template.yaml (relay_local.dev.iam_roles): the role
  CloudFormation creates, with the managed policies SAM attaches, resolved against the local
  stack's names. So the check follows template.yaml; there is no second list of permissions to
  keep in step.
- **Calls** are checked in the client, with botocore's event hooks, before they leave: each
  operation is mapped to the IAM action(s) and resource ARN(s) it needs (relay_local.dev.iam_actions;
  an operation without a rule is refused, not allowed). A call the role does not allow raises the
  ClientError AWS would answer (HTTP 403, `AccessDenied` / `AccessDeniedException`), so the
  relay's own error handling sees what it would see on AWS, and nothing reaches moto.
  moto's own IAM enforcement was not chosen: it is all-or-nothing for the whole server (the test
  harness, which plays the account owner, would need credentials and policies of its own), it
  covers some services' resource ARNs loosely, and it does not give S3's 403 for a missing key.
- **S3's answer for a missing key** depends on the caller's permissions: without `s3:ListBucket`
  on the bucket, GetObject/HeadObject of a key that does not exist answer 403 AccessDenied, not 404
  NoSuchKey. The hook rewrites moto's 404 accordingly.
- **Presigning** makes no call, but a URL only works as far as its signer may read the object:
  presigning a key the role may not read (`s3:GetObject`, or `s3:GetObjectVersion` with a
  versionId) raises AccessDenied at once (on AWS the URL would be refused when the vendor
  fetches it: a failure far from its cause).
- **Which calls are the function's**: the Invoker runs one invocation at a time and marks it
  active (`running`); a client created while a function runs, on the invoking thread, or created
  by code under functions/ (relay.aws) is the function's, and every call on it is checked against
  the role of the function running at the time of the call (worker threads included). The test
  harness's own clients (uploads, ledger reads, acting as the account owner) are not checked.
  The SQS poller plays Lambda's event source mapping, which uses the function's role: its
  receives and deletes are checked against that role (relay_local.dev.poller, `Enforcer.check`).
- **Conditions** in policies are not evaluated: an Allow with a Condition is treated as not
  matching (stricter than AWS), a Deny with one as matching.

Switch it off for debugging only: `RELAY_IAM=off`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from relay_local.dev.iam_actions import Need, UnmappedOperation, Where, bucket_arn, needs
from relay_local.dev.iam_roles import Decision, Role, roles, transformed
from relay_local.dev.stack import ACCOUNT, LocalStack
from relay_local.template import FUNCTIONS

log = logging.getLogger("relay.iam")
SWITCH = "RELAY_IAM"
_DENIED_CODE = {"s3": "AccessDenied", "sqs": "AccessDenied"}  # the others answer AccessDeniedException


def enabled() -> bool:
    return os.environ.get(SWITCH, "on").strip().lower() not in ("off", "0", "false", "no")


class AccessDenied(ClientError):
    """What AWS answers a call the caller's policies do not allow."""


class UnmappedCall(AccessDenied):
    """A call relay_local.dev.iam_actions has no rule for: refused, and logged as an error."""


@dataclass(frozen=True)
class Call:
    function: str
    operation: str  # service.Operation
    action: str
    resource: str
    decision: Decision | str


@dataclass
class Enforcer:
    stack: LocalStack
    doc: dict[str, Any] | None = None  # a transformed template; default: template.yaml's
    #: the latest calls checked (bounded: a soak makes hundreds of thousands) and every refusal
    calls: deque[Call] = field(default_factory=lambda: deque(maxlen=50_000))
    refusals: list[Call] = field(default_factory=list)
    roles: dict[str, Role] = field(init=False)

    def __post_init__(self) -> None:
        self.roles = roles(self.doc if self.doc is not None else transformed(), self.stack.resolver)
        self.where = Where(region=self.stack.region, account=ACCOUNT)
        self._lock = threading.Lock()

    def principal(self, function: str) -> str:
        role = self.roles[function].logical_id
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.stack.name}-{role}/{self.stack.name}-{function}"

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
            if call.decision in ("implicit-deny", "explicit-deny", "unmapped"):
                self.refusals.append(call)

    def denied(self, function: str, operation: str) -> list[Call]:
        """The calls of `function` refused whose operation ends with `operation`."""
        return [c for c in self.refusals if c.function == function and c.operation.endswith(operation)]

    def check(self, function: str, service: str, operation: str, params: dict[str, Any], presign: bool = False) -> None:
        """Raise what AWS would answer if `function`'s role may not make this call."""
        op = f"{service}.{operation}" + (" (presigned URL)" if presign else "")
        code = _DENIED_CODE.get(service, "AccessDeniedException")
        try:
            wanted = needs(service, operation, params, self.where)
        except UnmappedOperation as exc:
            self._record(Call(function, op, "?", "?", "unmapped"))
            log.error("%s: %s", function, exc)
            raise UnmappedCall(_error(code, str(exc)), operation) from None
        role = self.roles[function]
        for need in wanted:
            decision = role.decide(need.action, need.resource)
            self._record(Call(function, op, need.action, need.resource, decision))
            if decision != "allow":
                message = self._message(function, need, decision)
                log.warning("%s %s refused: %s", function, op, message)
                raise AccessDenied(_error(code, message), operation)

    def _message(self, function: str, need: Need, decision: Decision) -> str:
        why = (
            "with an explicit deny in an identity-based policy"
            if decision == "explicit-deny"
            else (f"because no identity-based policy allows the {need.action} action")
        )
        return f"User: {self.principal(function)} is not authorized to perform: {need.action} on resource: {need.resource} {why}"

    def may_list(self, function: str, bucket: str) -> bool:
        return self.roles[function].allows("s3:ListBucket", bucket_arn(bucket, self.where))


def watch(client: Any) -> Any:
    """Check every call `client` makes against the role of the function running when the call is
    made (no check while none is)."""
    service = client.meta.service_model.service_name

    def who() -> tuple[Enforcer, str] | None:
        active = _ACTIVE.value
        return (active.enforcer, active.function) if active else None

    def before(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        current = who()
        if current is None:
            return
        checker, fn = current
        checker.check(fn, service, model.name, params, presign=bool(context.get("is_presign_request")))
        if service == "s3" and model.name in ("GetObject", "HeadObject"):
            context["relay_iam"] = (checker, fn, params["Bucket"])

    def after(http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if "relay_iam" not in context or http_response.status_code != 404:
            return
        checker, fn, bucket = context["relay_iam"]
        if checker.may_list(fn, bucket):
            return
        # S3 does not tell a caller without s3:ListBucket whether the key exists
        code, message = ("403", "Forbidden") if model.name == "HeadObject" else ("AccessDenied", "Access Denied")
        parsed["Error"] = {"Code": code, "Message": message}
        parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = 403
        context["error_code_override"] = code
        checker._record(Call(fn, f"s3.{model.name}", "s3:ListBucket", bucket_arn(bucket, checker.where), "missing key: 403"))

    client.meta.events.register("before-parameter-build", before, unique_id="relay-iam-before")
    client.meta.events.register("after-call.s3", after, unique_id="relay-iam-after")
    return client


def _error(code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}}


# -- which function is running, and whose clients are whose ------------------------------------
@dataclass(frozen=True)
class _Active:
    enforcer: Enforcer
    function: str
    thread: int


class _ActiveSlot:
    """Process-global, not thread-local: the handlers' worker threads must see it (the Invoker
    runs one invocation at a time)."""

    value: _Active | None = None


_ACTIVE = _ActiveSlot()


@contextmanager
def running(enforcer: Enforcer | None, function: str) -> Iterator[None]:
    """Calls made while this is open are `function`'s (no-op without an enforcer)."""
    if enforcer is None:
        yield
        return
    install()
    previous, _ACTIVE.value = _ACTIVE.value, _Active(enforcer, function, threading.get_ident())
    try:
        yield
    finally:
        _ACTIVE.value = previous


_FUNCTIONS_DIR = str(FUNCTIONS)
_installed = False
_install_lock = threading.Lock()


def _created_by_function_code() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(_FUNCTIONS_DIR):
            return True
        frame = frame.f_back
    return False


def install() -> None:
    """Watch every boto3/botocore client created from now on that belongs to a function."""
    global _installed
    with _install_lock:
        if _installed:
            return
        import botocore.session

        original = botocore.session.Session.create_client

        def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(self, *args, **kwargs)
            active = _ACTIVE.value
            if (active is not None and active.thread == threading.get_ident()) or _created_by_function_code():
                watch(client)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]  # every client
        _installed = True

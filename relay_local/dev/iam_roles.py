"""Each function's role as `sam deploy` creates it, and an IAM policy evaluator for it.

The role comes from the SAM transform of template.yaml (aws-sam-translator, the library `sam
deploy` and CloudFormation's `AWS::Serverless` transform use), not from the `Policies:` blocks as
written: so the managed policies SAM attaches on its own (AWSLambdaBasicExecutionRole, and
AWSLambdaSQSQueueExecutionRole for an SQS event source), SAM policy templates and any
`AWS::IAM::Policy`/`ManagedPolicy` resources are in it too. AWS managed policy documents come from
the copy bundled with moto (`moto/iam/aws_managed_policies.py`).

The evaluator implements what identity policies need here: Allow/Deny, Action/NotAction,
Resource/NotResource with IAM's `*`/`?` wildcards (actions case-insensitive), an explicit Deny wins,
anything not allowed is denied. A statement with a `Condition` is treated as NOT matching when it
would allow (stricter than AWS: we cannot evaluate request context keys), and as matching when it
would deny (a Deny we cannot rule out is assumed to apply).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from relay_local.template import Resolver, template

#: what `sam package` puts in CodeUri; the translator refuses a local path
_PACKAGED_CODE = "s3://relay-local-package/functions.zip"

Decision = Literal["allow", "implicit-deny", "explicit-deny"]


def transform(doc: dict[str, Any] | None = None, region: str = "us-east-1") -> dict[str, Any]:
    """template.yaml (or `doc`) after the AWS::Serverless-2016-10-31 transform. (`region` fills the
    pseudo parameters SAM resolves itself; the policies keep their intrinsics, resolved later.)"""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    doc = copy.deepcopy(doc if doc is not None else template())
    for props in [(doc.get("Globals") or {}).get("Function") or {}] + [
        r.get("Properties", {}) for r in doc["Resources"].values() if r.get("Type") == "AWS::Serverless::Function"
    ]:
        if isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = _PACKAGED_CODE
    session = boto3.session.Session(region_name=region)
    # a managed policy named without its ARN (`Policies: [AmazonS3ReadOnlyAccess]`) is looked up in
    # moto's copy of the AWS managed policies instead of IAM's ListPolicies
    return Translator({}, Parser(), boto_session=session).translate(doc, {}, get_managed_policy_map=_managed_policy_map)


def _managed_policy_map() -> dict[str, str]:
    return {name: f"arn:aws:iam::aws:policy{data.get('Path', '/')}{name}" for name, data in _aws_managed().items()}


@cache
def transformed() -> dict[str, Any]:
    """The transform of template.yaml, once per process (it takes about a second)."""
    return transform()


@cache
def _aws_managed() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def managed_policy(arn: str) -> dict[str, Any]:
    """An AWS managed policy's document, by ARN (arn:aws:iam::aws:policy[/path]/Name)."""
    if not re.match(r"^arn:aws[a-z-]*:iam::aws:policy/", arn):
        raise KeyError(f"not an AWS managed policy ARN: {arn}")
    name = arn.rsplit("/", 1)[1]
    data = _aws_managed().get(name)
    if data is None:
        raise KeyError(f"AWS managed policy {name} is not in moto's bundled copy")
    return data["Document"]


@dataclass(frozen=True)
class Role:
    logical_id: str  # the role's
    function: str  # the function's logical id
    policies: tuple[dict[str, Any], ...]  # resolved policy documents

    def decide(self, action: str, resource: str) -> Decision:
        return evaluate(self.policies, action, resource)

    def allows(self, action: str, resource: str) -> bool:
        return self.decide(action, resource) == "allow"


def roles(doc: dict[str, Any], resolve: Resolver) -> dict[str, Role]:
    """Every Lambda function's role in a transformed template, keyed by the function's logical id
    (as written in template.yaml), its policies resolved with `resolve` (the local stack's names)."""
    resources = doc["Resources"]
    out = {}
    for fn_id, res in resources.items():
        if res["Type"] != "AWS::Lambda::Function":
            continue
        role_ref = res["Properties"].get("Role")
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            raise ValueError(f"{fn_id}: a role that is not created in this template ({role_ref!r}) cannot be checked locally")
        role_id = role_ref["Fn::GetAtt"][0]
        out[fn_id] = Role(role_id, fn_id, tuple(_role_documents(resources, role_id, resolve)))
    return out


def _role_documents(resources: dict[str, Any], role_id: str, resolve: Resolver) -> Iterable[dict[str, Any]]:
    props = resources[role_id]["Properties"]
    for policy in props.get("Policies") or []:
        yield resolve(policy["PolicyDocument"])
    for arn in props.get("ManagedPolicyArns") or []:
        if isinstance(arn, dict) and set(arn) == {"Ref"} and arn["Ref"] in resources:  # customer managed, in this template
            yield resolve(resources[arn["Ref"]]["Properties"]["PolicyDocument"])
        else:
            yield managed_policy(str(resolve(arn)))
    for res in resources.values():  # AWS::IAM::Policy / ManagedPolicy attached to the role from outside
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and {"Ref": role_id} in (res["Properties"].get("Roles") or []):
            yield resolve(res["Properties"]["PolicyDocument"])


# -- evaluation ---------------------------------------------------------------------------------
def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


@cache
def _pattern(glob: str, case_sensitive: bool) -> re.Pattern[str]:
    # IAM wildcards: * any run of characters (also across ':' and '/'), ? exactly one; nothing else
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"\\A{body}\\Z", re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE)


def _matches(patterns: list[str], value: str, case_sensitive: bool) -> bool:
    return any(_pattern(p, case_sensitive).match(value) for p in patterns)


def _statement_applies(stmt: dict[str, Any], action: str, resource: str) -> bool:
    if "Action" in stmt:
        action_ok = _matches(_list(stmt["Action"]), action, case_sensitive=False)
    else:
        action_ok = not _matches(_list(stmt.get("NotAction")), action, case_sensitive=False)
    if "Resource" in stmt:
        resource_ok = _matches(_list(stmt["Resource"]), resource, case_sensitive=True)
    else:
        resource_ok = not _matches(_list(stmt.get("NotResource")), resource, case_sensitive=True)
    return action_ok and resource_ok


def evaluate(policies: Iterable[dict[str, Any]], action: str, resource: str) -> Decision:
    allowed = False
    for doc in policies:
        statements = doc.get("Statement") or []
        for stmt in [statements] if isinstance(statements, dict) else statements:
            if not _statement_applies(stmt, action, resource):
                continue
            if stmt.get("Effect") == "Deny":
                return "explicit-deny"  # a condition we cannot evaluate is assumed to hold for a Deny
            if stmt.get("Effect") == "Allow" and not stmt.get("Condition"):
                allowed = True
    return "allow" if allowed else "implicit-deny"


def revoke(doc: dict[str, Any], function: str, action: str) -> dict[str, Any]:
    """A copy of transformed template `doc` in which `function`'s role no longer has `action` in
    its inline policies, or, for an AWS managed policy ARN (`arn:…:policy/…`), no longer has
    that managed policy: to prove a check catches a permission the template lacks."""
    doc = copy.deepcopy(doc)
    role_id = doc["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    props = doc["Resources"][role_id]["Properties"]
    if action.startswith("arn:"):
        props["ManagedPolicyArns"] = [a for a in props.get("ManagedPolicyArns") or [] if a != action]
        return doc
    found = False
    for policy in props.get("Policies") or []:
        kept = []
        for stmt in policy["PolicyDocument"]["Statement"]:
            actions = _list(stmt.get("Action"))
            if any(a.lower() == action.lower() for a in actions):
                found = True
                actions = [a for a in actions if a.lower() != action.lower()]
                if not actions:
                    continue
                stmt = {**stmt, "Action": actions}
            kept.append(stmt)
        policy["PolicyDocument"]["Statement"] = kept
    if not found:
        raise KeyError(f"{function}'s inline policies do not name {action}")
    return doc

"""template.yaml, read the way CloudFormation reads it: intrinsic tags, Globals, references.

The local stack, the Docker-free invoker and the tests all take their resource definitions,
handlers, environment and event sources from here, so they cannot drift from what `sam deploy`
creates.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
#: the functions' CodeUri: handlers and the core package
FUNCTIONS = ROOT / "functions"
_SUB = re.compile(r"\$\{([^}!]+)\}")


class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@cache
def template() -> dict[str, Any]:
    return load_template()


class Unresolvable(ValueError):
    pass


@dataclass
class Resolver:
    """Resolves Ref / Fn::GetAtt / Fn::Sub / Fn::Join / Fn::Select / Fn::Split against known values."""

    refs: dict[str, Any]
    attrs: dict[tuple[str, str], Any]

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                if arg not in self.refs:
                    raise Unresolvable(f"Ref {arg}")
                return self.refs[arg]
            if fn == "Fn::GetAtt":
                key = (arg[0], arg[1])
                if key not in self.attrs:
                    raise Unresolvable(f"GetAtt {arg[0]}.{arg[1]}")
                return self.attrs[key]
            if fn == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))

                def sub(m: re.Match[str]) -> str:
                    name = m.group(1)
                    if name in extra:
                        return str(extra[name])
                    if "." in name:
                        return str(self({"Fn::GetAtt": name.split(".", 1)}))
                    return str(self({"Ref": name}))

                return _SUB.sub(sub, text)
            if fn == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self(arg[1]))
            if fn == "Fn::Select":
                return self(arg[1])[int(self(arg[0]))]
            if fn == "Fn::Split":
                return str(self(arg[1])).split(arg[0])
        return {k: self(v) for k, v in value.items()}


@dataclass(frozen=True)
class SqsSource:
    queue: str  # logical id
    batch_size: int
    window_seconds: int
    partial_failures: bool


@dataclass(frozen=True)
class StreamSource:
    table: str  # logical id of the table whose stream it reads
    batch_size: int
    window_seconds: int
    partial_failures: bool
    max_retries: int


@dataclass(frozen=True)
class ApiRoute:
    method: str  # upper case
    path: str  # template path, e.g. /pushes/{id}


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    timeout: int
    memory: int
    runtime: str
    environment: dict[str, Any]  # unresolved
    sqs_sources: tuple[SqsSource, ...]
    api_routes: tuple[ApiRoute, ...] = ()
    stream_sources: tuple[StreamSource, ...] = ()


def functions(doc: dict[str, Any] | None = None) -> dict[str, FunctionSpec]:
    doc = doc or template()
    glob = (doc.get("Globals") or {}).get("Function") or {}
    specs = {}
    for logical_id, res in doc["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = {**copy.deepcopy(glob), **res.get("Properties", {})}
        env = dict(((glob.get("Environment") or {}).get("Variables")) or {})
        env.update(((res.get("Properties", {}).get("Environment") or {}).get("Variables")) or {})
        sources = []
        routes = []
        streams = []
        for event in (props.get("Events") or {}).values():
            if event["Type"] == "Api":
                routes.append(ApiRoute(method=event["Properties"]["Method"].upper(), path=event["Properties"]["Path"]))
            if event["Type"] == "DynamoDB":
                p = event["Properties"]
                streams.append(
                    StreamSource(
                        table=p["Stream"]["Fn::GetAtt"][0],
                        batch_size=int(p.get("BatchSize", 100)),
                        window_seconds=int(p.get("MaximumBatchingWindowInSeconds", 0)),
                        partial_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
                        max_retries=int(p.get("MaximumRetryAttempts", -1)),
                    )
                )
            if event["Type"] == "SQS":
                p = event["Properties"]
                queue = p["Queue"]["Fn::GetAtt"][0]
                sources.append(
                    SqsSource(
                        queue=queue,
                        batch_size=int(p.get("BatchSize", 10)),
                        window_seconds=int(p.get("MaximumBatchingWindowInSeconds", 0)),
                        partial_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
                    )
                )
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            handler=props["Handler"],
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
            runtime=props.get("Runtime", ""),
            environment=env,
            sqs_sources=tuple(sources),
            api_routes=tuple(routes),
            stream_sources=tuple(streams),
        )
    return specs


def parameter_defaults(doc: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = doc or template()
    return {name: str(p.get("Default", "")) for name, p in (doc.get("Parameters") or {}).items()}

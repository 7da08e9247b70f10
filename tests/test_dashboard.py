"""template.yaml's CloudWatch dashboard: every metric it shows is one the code emits, and every AWS
metric it shows names a resource of the template.

The metric names are collected from the code itself (no registry to keep in step): the names passed
to `count(...)` / `add_metric(...)` and the keys of every `metrics={...}` dict (relay.sending's
SendOutcome, counted by relay.send_records), followed through the module's own constants
(`form = "A" if ... else "B"`, `METRIC_FOR_STATE[...]`). An f-string name (`f"VendorStatus{code}"`)
is a family: its literal prefix, which the dashboard may only show through a SEARCH on that name.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay_local.template import template

ROOT = Path(__file__).resolve().parents[1]
RELAY = ROOT / "functions"
NAMESPACE = "PickyRelay"
SERVICE = "picky-relay"  # POWERTOOLS_SERVICE_NAME: the dimension Powertools adds to every metric

# -- what the code emits ----------------------------------------------------------------------------


@dataclass
class Emitted:
    names: set[str] = field(default_factory=set)
    prefixes: set[str] = field(default_factory=set)  # f"Prefix{...}" families

    def has(self, name: str) -> bool:
        return name in self.names

    def has_family(self, prefix: str) -> bool:
        return prefix in self.prefixes


def _assignments(tree: ast.Module) -> dict[str, list[ast.expr]]:
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found.setdefault(node.target.id, []).append(node.value)
    return found


def _names(expr: ast.expr, assigned: dict[str, list[ast.expr]], into: Emitted, seen: frozenset[str] = frozenset()) -> None:
    """The metric names an expression can evaluate to, as far as the module's constants tell."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        into.names.add(expr.value)
    elif isinstance(expr, ast.JoinedStr):
        head = expr.values[0] if expr.values else None
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            into.prefixes.add(head.value)
    elif isinstance(expr, ast.IfExp):
        _names(expr.body, assigned, into, seen)
        _names(expr.orelse, assigned, into, seen)
    elif isinstance(expr, ast.Dict):  # a name table: its values
        for value in expr.values:
            _names(value, assigned, into, seen)
    elif isinstance(expr, ast.Subscript):
        _names(expr.value, assigned, into, seen)
    elif isinstance(expr, ast.Name) and expr.id not in seen:
        for value in assigned.get(expr.id, []):
            _names(value, assigned, into, seen | {expr.id})


def _dict_keys(expr: ast.expr, assigned: dict[str, list[ast.expr]], into: Emitted) -> None:
    """The keys of a `metrics=` dict, through `**(... if ... else ...)` spreads."""
    if isinstance(expr, ast.IfExp):
        _dict_keys(expr.body, assigned, into)
        _dict_keys(expr.orelse, assigned, into)
    elif isinstance(expr, ast.Dict):
        for key, value in zip(expr.keys, expr.values, strict=True):
            if key is None:
                _dict_keys(value, assigned, into)
            else:
                _names(key, assigned, into)


def emitted_metrics(sources: dict[str, str]) -> Emitted:
    """Metric names in Python sources (path → text)."""
    emitted = Emitted()
    for source in sources.values():
        tree = ast.parse(source)
        assigned = _assignments(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            # relay.observability.count(name), or Metrics.add_metric(name=...); not str.count
            if (isinstance(func, ast.Name) and func.id == "count") or (isinstance(func, ast.Attribute) and func.attr == "add_metric"):
                named = [k.value for k in node.keywords if k.arg == "name"] or node.args[:1]
                for expr in named:
                    _names(expr, assigned, emitted)
            for keyword in node.keywords:
                if keyword.arg == "metrics":
                    _dict_keys(keyword.value, assigned, emitted)
    return emitted


def code_sources() -> dict[str, str]:
    return {str(p): p.read_text() for p in sorted(RELAY.rglob("*.py")) if "egg-info" not in str(p)}


# -- what the dashboard shows -----------------------------------------------------------------------


def dashboard_body(doc: dict[str, Any] | None = None) -> tuple[dict[str, Any], set[str]]:
    """The dashboard's JSON with every ${X} / ${X.Attr} replaced by a marker naming it, and the markers."""
    [dashboard] = [r for r in (doc or template())["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(text, str), "DashboardBody is a !Sub of one JSON string"
    placeholders = set(re.findall(r"\$\{([^}]+)\}", text))
    # numbers (a parameter used as an annotation's value) must stay JSON numbers
    resolved = re.sub(r"\$\{([^}]+)\}", lambda m: "90" if m.group(1) == "RateLimitPerMinute" else f"SUB:{m.group(1)}", text)
    return json.loads(resolved), placeholders


@dataclass(frozen=True)
class Shown:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]


def shown_metrics(body: dict[str, Any]) -> tuple[list[Shown], list[str]]:
    """Plain metrics (namespace, name, dimensions; "." repeats the row above) and the expressions."""
    metrics: list[Shown] = []
    expressions: list[str] = []
    for widget in body["widgets"]:
        previous: list[Any] = []
        for row in widget.get("properties", {}).get("metrics", []):
            fields = [f for f in row if not isinstance(f, dict)]
            options = [f for f in row if isinstance(f, dict)]
            if options and "expression" in options[0]:
                expressions.append(options[0]["expression"])
                continue
            fields = [previous[i] if f == "." else f for i, f in enumerate(fields)]
            previous = fields
            namespace, name, *dims = fields
            metrics.append(Shown(namespace, name, tuple(zip(dims[::2], dims[1::2], strict=True))))
    return metrics, expressions


def search_families(expressions: list[str]) -> list[tuple[str, str]]:
    """(namespace, MetricName term) of every SEARCH in the expressions."""
    found = re.findall(r"SEARCH\('\{([^,}]+)[^}]*\}[^']*?MetricName=\"?([A-Za-z0-9]+)\"?", " ".join(expressions))
    assert len(found) == " ".join(expressions).count("SEARCH("), expressions
    return found


def unknown_metrics(body: dict[str, Any], emitted: Emitted) -> set[str]:
    metrics, expressions = shown_metrics(body)
    unknown = {m.name for m in metrics if m.namespace == NAMESPACE and not emitted.has(m.name)}
    unknown |= {f"{term}*" for ns, term in search_families(expressions) if ns == NAMESPACE and not emitted.has_family(term)}
    return unknown


# -- tests ------------------------------------------------------------------------------------------


def test_given_the_dashboard_then_every_relay_metric_it_shows_is_emitted_by_the_code():
    # Given the dashboard and the code's metric names
    body, _ = dashboard_body()
    emitted = emitted_metrics(code_sources())
    # Then each PickyRelay metric shown is emitted (a renamed metric would show an empty graph)
    assert unknown_metrics(body, emitted) == set()
    metrics, expressions = shown_metrics(body)
    relay = {m.name for m in metrics if m.namespace == NAMESPACE}
    # and it shows what the issue asks for: every recipient state, forms, deferrals, status codes
    assert {
        "RecipientsPlanned", "RecipientsAccepted", "RecipientsDelivered", "RecipientsRead", "RecipientsFailed",
        "RecipientsRejected", "RecipientsAmbiguous", "RecipientsSkipped", "SendDeferrals", "FormTemplate",
        "FormFreeform", "TemplateFallbacks",
    } <= relay  # fmt: skip
    assert (NAMESPACE, "VendorStatus") in search_families(expressions)


def test_given_the_dashboard_then_relay_metrics_carry_the_dimension_powertools_publishes():
    body, _ = dashboard_body()
    metrics, expressions = shown_metrics(body)
    assert template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == SERVICE
    for metric in metrics:
        if metric.namespace == NAMESPACE:
            assert metric.dimensions == (("service", SERVICE),), metric
    assert all(expr.count("{PickyRelay,service}") == expr.count("SEARCH(") for expr in expressions)


def test_given_a_metric_renamed_in_the_code_then_the_dashboard_check_names_it():
    # Given the code with SendDeferrals renamed, and with the form names of relay.sending changed
    sources = code_sources()
    renamed = {p: s.replace('"SendDeferrals"', '"SendsDeferred"').replace('"FormTemplate"', '"FormTpl"') for p, s in sources.items()}
    family = {p: s.replace('f"VendorStatus{', 'f"VendorAnswer{') for p, s in sources.items()}
    body, _ = dashboard_body()
    # When checked, then each rename is named (a plain name, a name behind a conditional, an f-string family)
    assert unknown_metrics(body, emitted_metrics(renamed)) == {"SendDeferrals", "FormTemplate"}
    assert unknown_metrics(body, emitted_metrics(family)) == {"VendorStatus*"}


def test_given_names_behind_constants_then_the_collector_follows_them():
    source = """
TABLE = {1: "MovedA", 2: "MovedB"}
def f(x):
    count(TABLE[x])
    "text".count("\\n")
    kind = "KindA" if x else "KindB"
    metrics.add_metric(name=f"Code{x}", unit="Count", value=1)
    return Outcome(metrics={"Plain": 1, kind: 2, **({"Spread": 1} if x else {})})
"""
    emitted = emitted_metrics({"m.py": source})
    # a str.count is not a metric
    assert emitted.names == {"MovedA", "MovedB", "KindA", "KindB", "Plain", "Spread"}
    assert emitted.prefixes == {"Code"}


def test_given_the_dashboard_then_every_aws_metric_names_a_resource_of_the_template():
    resources = template()["Resources"]
    body, placeholders = dashboard_body()
    metrics, _ = shown_metrics(body)
    aws = [m for m in metrics if m.namespace.startswith("AWS/")]
    assert aws
    for metric in aws:
        for name, value in metric.dimensions:
            assert value.startswith("SUB:"), f"{metric}: a literal {name} names no resource of this stack"
            logical_id = value.removeprefix("SUB:").split(".")[0]
            assert logical_id in resources, metric
    # queues by QueueName, functions by FunctionName (what their namespaces publish)
    kinds = {(m.namespace, name, resources[v.removeprefix("SUB:").split(".")[0]]["Type"]) for m in aws for name, v in m.dimensions}
    assert kinds == {
        ("AWS/SQS", "QueueName", "AWS::SQS::Queue"),
        ("AWS/Lambda", "FunctionName", "AWS::Serverless::Function"),
    }
    queues = {v for m in aws if m.namespace == "AWS/SQS" for _, v in m.dimensions}
    assert queues == {f"SUB:{q}.QueueName" for q in ("IngestQueue", "SendQueue", "IngestDeadLetterQueue", "SendDeadLetterQueue")}
    functions = {k for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    for metric_name in ("Errors", "Duration", "Throttles"):
        shown = {v.removeprefix("SUB:") for m in aws if m.name == metric_name for _, v in m.dimensions}
        assert shown == functions, metric_name
    # every other placeholder is a pseudo parameter or a parameter of the template
    others = {p for p in placeholders if p.split(".")[0] not in resources}
    assert others <= {"AWS::Region"} | set(template()["Parameters"]), others


def test_given_the_stack_then_its_outputs_name_the_dashboard():
    outputs = template()["Outputs"]
    [logical_id] = [k for k, r in template()["Resources"].items() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    assert outputs["DashboardName"]["Value"] == {"Ref": logical_id}
    assert "#dashboards:name=${" + logical_id + "}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]

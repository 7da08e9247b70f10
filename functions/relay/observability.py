"""The relay's Powertools logger and metrics, one of each per container, shared by the handlers
(which decorate their entry points with them) and the record handlers in the core that log and count.

Decision: one object each rather than one per module. Powertools already shares one logging handler
and formatter per service and one metric set per namespace; naming them once keeps the keys a
handler appends (a job's id, the Lambda context) and the level a test sets on the same object the
core logs through. Not `Logger(child=True)`: a child keeps its own level.
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics(namespace="PickyRelay")
# a batch of duplicates or deferrals has nothing to count: not worth a warning per invocation
warnings.filterwarnings("ignore", message="No application metrics to publish")


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

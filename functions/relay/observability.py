"""The relay's Powertools logger and metrics, one of each per container, shared by the handlers
(which decorate their entry points with them) and the record handlers in the core that log and count.

Decision: one object each rather than one per module. Powertools already shares one logging handler
and formatter per service and one metric set per namespace; naming them once keeps the keys a
handler appends (a job's id, the Lambda context) and the level a test sets on the same object the
core logs through. Not `Logger(child=True)`: a child keeps its own level.

Every line carries `version` (relay.version), given to the constructor: Powertools (v3) keeps a
constructor's keys in its formatter's base keys, which `clear_state()` and
`inject_lambda_context(clear_state=True)` restore, while keys added by `append_keys` are dropped.
`version` is not one of Powertools' reserved keys (RESERVED_LOG_ATTRS, the formatter's options) nor
a Lambda context key (`function_name`, `function_arn`, …), so the key is `version`.
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from relay.version import __version__

logger = Logger(version=__version__)
metrics = Metrics(namespace="PickyRelay")
# a batch of duplicates or deferrals has nothing to count: not worth a warning per invocation
warnings.filterwarnings("ignore", message="No application metrics to publish")


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

"""SenderFunction: push jobs from the send queue → Picky Assist → ledger.

The batch (records, deferrals, retries, dead letters) is relay.send_records; the rules of a send
are relay.sending; the collaborators come from relay.wiring."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.observability import logger, metrics
from relay.wiring import container


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return container().send_records.run(event, context)

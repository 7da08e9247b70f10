"""IngestFunction: S3 uploads (via the ingest queue, or a direct S3 event) → planned push jobs.

The batch is relay.ingest_records; the planning relay.intake; the collaborators come from relay.wiring."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.observability import logger, metrics
from relay.wiring import container


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return container().ingest_records.run(event, context)

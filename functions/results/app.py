"""ResultsFunction: the ledger's change stream → results/<input key> beside each S3 input
(relay.results_stream, relay.results_files)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from relay import aws
from relay.observability import logger
from relay.results_stream import ResultsWriter, run
from relay.wiring import container


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event, ResultsWriter(container().ledger, aws.client("s3")))

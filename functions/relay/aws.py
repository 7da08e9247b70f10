"""boto3 clients, created once per container and reused (boto3 honours AWS_ENDPOINT_URL, so the
same code talks to moto server locally)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

#: Media checks run this many ranged GETs at once; the S3 connection pool matches it.
S3_CONCURRENCY = 16


@cache
def client(service: str) -> Any:
    pool = S3_CONCURRENCY + 4 if service == "s3" else 10
    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=pool))


@cache
def presign_client(addressing_style: str) -> Any:
    """SigV4 signer for media URLs the vendor fetches (virtual-hosted on AWS)."""
    return boto3.client("s3", config=Config(signature_version="s3v4", s3={"addressing_style": addressing_style}))

"""The embedded AWS: moto server on loopback, in this process, reached over real HTTP."""

from __future__ import annotations

import functools
import logging
import os
import threading

from relay_local.dev.ports import free_port

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class EmbeddedAws:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._server = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """What points boto3 (and so every handler) at this embedded AWS."""
        return {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def start(self) -> EmbeddedAws:
        from moto.server import ThreadedMotoServer

        _linear_sqs_receive()
        as_strict_as_aws()
        _atomic_dynamodb_writes()  # after: the lock also covers the item-size checks and their undo
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        return self

    def activate(self) -> None:
        """Point this process's boto3 at the embedded AWS (and never at a real account)."""
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)
        os.environ.update(self.env())

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def as_strict_as_aws() -> None:
    """Make moto refuse what AWS refuses where moto is looser (each module says what and why):
    SQS message sizes in bytes and the 12-hour visibility (strict_sqs), DynamoDB item sizes and
    BatchWriteItem's rules (strict_dynamodb), one S3 notification per multipart object (strict_s3).
    Lambda's 6 MB payloads are the Invoker's (lambda_limits), API Gateway's 29 s `relay serve`'s."""
    from relay_local.dev import strict_dynamodb, strict_s3, strict_sqs

    strict_sqs.install()
    strict_dynamodb.install()
    strict_s3.install()


def _linear_sqs_receive() -> None:
    """moto (5.x) checks each received message's retention by computing *all* the queue's
    attributes, each a pass over every queued message: receiving from a queue holding thousands of
    messages becomes quadratic (a 10,000-recipient soak spent minutes there). Same check, reading
    the one attribute it needs."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: object) -> bool:
        queue = self.get_queue(queue_name)
        sent = message.sent_timestamp / 1000  # type: ignore[attr-defined]  # moto's untyped Message
        return int(queue.message_retention_period) + sent > unix_time()

    patched = is_message_valid_based_on_retention_period
    SQSBackend.is_message_valid_based_on_retention_period = patched  # type: ignore[method-assign]  # patching moto


_DYNAMODB_WRITE_LOCK = threading.RLock()


def _atomic_dynamodb_writes() -> None:
    """DynamoDB applies a write and checks its condition atomically; moto (5.x) checks, then writes,
    with nothing between concurrent requests, so two senders could both take one rate-limit slot or
    one job claim. One lock around moto's item writes gives the guarantee the relay relies on."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "__relay_atomic__", False):
            continue

        def locked(*args, __method=method, **kwargs):  # type: ignore[no-untyped-def]  # wraps any moto method
            with _DYNAMODB_WRITE_LOCK:
                return __method(*args, **kwargs)

        functools.update_wrapper(locked, method)
        locked.__relay_atomic__ = True  # type: ignore[attr-defined]  # our marker: wrapped once
        setattr(DynamoDBBackend, name, locked)

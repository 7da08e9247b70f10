"""The adapters a handler needs, built from its settings on the container's shared clients."""

from __future__ import annotations

from relay.aws import client, presign_client
from relay.ledger import Ledger
from relay.s3media import MediaStore, Presigner
from relay.sendqueue import SendQueue
from relay.settings import Settings


def media_store(settings: Settings) -> MediaStore:
    return MediaStore(client("s3"))


def presigner(settings: Settings) -> Presigner:
    return Presigner(presign_client(settings.s3_addressing_style))


def ledger(settings: Settings) -> Ledger:
    return Ledger(client("dynamodb"), settings.push_log_table)


def send_queue(settings: Settings) -> SendQueue:
    return SendQueue(client("sqs"), settings.send_queue_url)

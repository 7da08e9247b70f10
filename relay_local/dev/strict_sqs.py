"""SQS limits the embedded AWS enforces where moto (5.x) is looser than SQS.

1. **Message size in UTF-8 bytes, attributes included.** moto compares `len(body)` (characters, so a
   Hindi message passes at three times its real size) and ignores message attributes. SQS counts
   bytes: "All parts of the message attribute, including Name, Type, and Value, are part of the
   message size restriction" (API reference, MessageAttributeValue). Each message is checked
   against its queue's `MaximumMessageSize` attribute ("The limit of how many bytes a message can
   contain before Amazon SQS rejects it. Valid values: 1,024 bytes (1 KiB) to 1,048,576 bytes
   (1 MiB). Default: 1,048,576 bytes (1 MiB)", CreateQueue, botocore 1.44's service model: SQS
   raised its maximum from 256 KiB to 1 MiB in 2025). template.yaml sets `MaximumMessageSize:
   262144` on every queue, so the deployed and the embedded queues refuse the same messages.
   A SendMessageBatch is refused whole when one entry is too long (nothing of it is sent), and when
   all its entries together exceed 1 MiB ("The maximum allowed individual message size and the
   maximum total payload size (the sum of the individual lengths of all of the batched messages)
   are both 1 MiB (1,048,576 bytes)", SendMessageBatch, same source): BatchRequestTooLong.
2. **Visibility at most 12 hours from the message's FIRST receive.** SQS's developer guide says
   "The maximum visibility timeout is 12 hours from the time that Amazon SQS receives the
   ReceiveMessage request. Extending the visibility timeout does not reset the 12-hour maximum"
   (SQS Developer Guide, Visibility timeout): measured per receive. The embedded queue is stricter,
   as issue 9 asks: the 12 hours run from the message's first receive and a later receive does not
   start them again. A relay that holds under this rule holds under SQS's (relay/putback.py plans
   every wait against the first receive, ApproximateFirstReceiveTimestamp). moto measured from the
   message's *send*, which refused legal changes for a message that waited in the queue (a delayed
   job), and its batch call turned one refusal into an error for the whole request. A
   ChangeMessageVisibility that would end later is refused with SQS's own answer:
   InvalidParameterValue "Value <n> for parameter VisibilityTimeout is invalid. Reason: Total
   VisibilityTimeout for the message is beyond the limit [43200 seconds]"; in a
   ChangeMessageVisibilityBatch only that entry fails.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

#: SendMessageBatch: all entries together (SQS's service limit, whatever a queue's own maximum).
BATCH_MAX_BYTES = 1_048_576
#: 12 hours: the most a message stays invisible, counted from its first receive.
MAX_VISIBILITY_SECONDS = 43_200


def _value_bytes(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bytes):
        return len(value)
    return len(str(value).encode("utf-8"))


def _binary_bytes(value: Any) -> int:
    """BinaryValue arrives base64-encoded over the JSON protocol; SQS counts the raw bytes."""
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return _value_bytes(value)


def message_size(body: str, attributes: dict[str, Any] | None) -> int:
    """Bytes SQS counts against MaximumMessageSize: the body and every attribute's name, type and
    value, in UTF-8 (binary values as raw bytes)."""
    size = _value_bytes(body)
    for name, attr in (attributes or {}).items():
        size += _value_bytes(name) + _value_bytes(attr.get("DataType"))
        if attr.get("BinaryValue") is not None:
            size += _binary_bytes(attr["BinaryValue"])
        else:
            size += _value_bytes(attr.get("StringValue"))
    return size


def install() -> None:
    """Patch moto's SQS backend (idempotent)."""
    from moto.sqs.models import Message, SQSBackend

    if getattr(SQSBackend, "__relay_strict__", False):
        return
    _sizes(SQSBackend)
    _visibility(SQSBackend, Message)
    SQSBackend.__relay_strict__ = True  # type: ignore[attr-defined]  # our marker: patched once


def _too_long(limit: int) -> Exception:
    from moto.sqs.exceptions import InvalidParameterValue

    return InvalidParameterValue(f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes.")


def _sizes(backend: Any) -> None:
    from moto.sqs.exceptions import SQSException

    send_message = backend.send_message
    send_message_batch = backend.send_message_batch

    def checked_send_message(
        self: Any, queue_name: str, message_body: str, message_attributes: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        limit = int(self.get_queue(queue_name).maximum_message_size)
        if message_size(message_body, message_attributes) > limit:
            raise _too_long(limit)
        return send_message(self, queue_name, message_body, message_attributes, *args, **kwargs)

    def checked_send_message_batch(self: Any, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        limit = int(self.get_queue(queue_name).maximum_message_size)
        sizes = [message_size(e.get("MessageBody", ""), e.get("MessageAttributes")) for e in entries.values()]
        if sum(sizes) > BATCH_MAX_BYTES:
            raise SQSException(
                "BatchRequestTooLong", f"Batch requests cannot be longer than {BATCH_MAX_BYTES} bytes. You have sent {sum(sizes)} bytes."
            )
        if any(size > limit for size in sizes):
            raise _too_long(limit)
        return send_message_batch(self, queue_name, entries)

    backend.send_message = checked_send_message
    backend.send_message_batch = checked_send_message_batch


def _visibility(backend: Any, message_cls: Any) -> None:
    from moto.core.utils import unix_time_millis
    from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid

    mark_received = message_cls.mark_received

    def recording_mark_received(self: Any, visibility_timeout: int | None = None) -> None:
        mark_received(self, visibility_timeout)
        # the receive that issued this receipt handle starts its 12 hours
        received = getattr(self, "_relay_received_at", None)
        if received is None:
            received = self._relay_received_at = {}
        received[self.receipt_handle] = unix_time_millis()

    def change_message_visibility(self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        queue = self.get_queue(queue_name)
        for message in queue._messages:
            if not message.had_receipt_handle(receipt_handle):
                continue
            # the first receive starts the 12 hours (stricter than SQS's per-receive rule: docstring)
            receives = list((getattr(message, "_relay_received_at", None) or {}).values())
            received_at = min(receives) if receives else (message.approximate_first_receive_timestamp or unix_time_millis())
            if unix_time_millis() + int(visibility_timeout) * 1000 > received_at + MAX_VISIBILITY_SECONDS * 1000:
                raise InvalidParameterValue(
                    f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                    f"VisibilityTimeout for the message is beyond the limit [{MAX_VISIBILITY_SECONDS} seconds]"
                )
            message.change_visibility(visibility_timeout)
            if message.visible and message in queue.pending_messages:
                queue.pending_messages.remove(message)
            return
        raise ReceiptHandleIsInvalid

    def change_message_visibility_batch(
        self: Any, queue_name: str, entries: list[dict[str, Any]]
    ) -> tuple[list[str], list[dict[str, Any]]]:
        success: list[str] = []
        failed: list[dict[str, Any]] = []
        for entry in entries:
            try:
                timeout = int(entry["VisibilityTimeout"])
                if not 0 <= timeout <= MAX_VISIBILITY_SECONDS:
                    raise InvalidParameterValue(
                        f"Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and "
                        f"{MAX_VISIBILITY_SECONDS}, if provided."
                    )
                self.change_message_visibility(queue_name=queue_name, receipt_handle=entry["ReceiptHandle"], visibility_timeout=timeout)
                success.append(entry["Id"])
            except (InvalidParameterValue, ReceiptHandleIsInvalid) as exc:
                failed.append({"Id": entry["Id"], "SenderFault": True, "Code": exc.code, "Message": getattr(exc, "message", str(exc))})
            except (KeyError, TypeError, ValueError):
                failed.append(
                    {"Id": entry.get("Id"), "SenderFault": True, "Code": "InvalidParameterValue", "Message": "Visibility timeout invalid"}
                )
        return success, failed

    message_cls.mark_received = recording_mark_received
    backend.change_message_visibility = change_message_visibility
    backend.change_message_visibility_batch = change_message_visibility_batch

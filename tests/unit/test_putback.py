"""Waiting on SQS (relay.putback): the 12-hour visibility budget from a message's first receive,
the receive count, and fresh copies; with a model of SQS's rules on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from relay.putback import BUDGET_MARGIN, MAX_DELAY, MAX_VISIBLE_SPAN, RECEIVES_BEFORE_COPY, PutBack, plan, remaining_budget

HOUR = 3600
T0 = 1_800_000_000.0


def attrs(first_receive: float, receives: int = 1) -> dict[str, str]:
    return {
        "ApproximateFirstReceiveTimestamp": str(int(first_receive * 1000)),
        "ApproximateReceiveCount": str(receives),
        "SentTimestamp": str(int((first_receive - 1) * 1000)),
    }


def test_given_a_message_first_received_now_then_its_budget_is_twelve_hours_less_the_margin():
    assert remaining_budget(attrs(T0), T0) == MAX_VISIBLE_SPAN - BUDGET_MARGIN
    assert remaining_budget(attrs(T0 - 11 * HOUR), T0) == HOUR - BUDGET_MARGIN


def test_given_no_first_receive_time_then_the_send_time_bounds_it_and_without_either_nothing_is_left():
    assert remaining_budget({"SentTimestamp": str(int((T0 - HOUR) * 1000))}, T0) == 11 * HOUR - BUDGET_MARGIN
    assert remaining_budget({}, T0) == 0


def test_given_a_short_wait_that_fits_then_it_is_a_visibility_timeout():
    assert plan(30, attrs(T0), T0) == PutBack("visibility", 30)


def test_given_a_wait_beyond_the_budget_then_it_waits_what_fits_and_later_goes_to_a_copy():
    # Given send_at three days ahead, on a message first received now
    # When put back: it waits the rest of its 12-hour budget by visibility (not 12 h more, which SQS refuses)
    assert plan(3 * 24 * HOUR, attrs(T0), T0) == PutBack("visibility", MAX_VISIBLE_SPAN - BUDGET_MARGIN)
    # Then, received again near the end of its budget, it goes back as a fresh copy delayed 15 minutes
    later = T0 + MAX_VISIBLE_SPAN - BUDGET_MARGIN
    assert plan(2 * 24 * HOUR, attrs(T0, receives=2), later) == PutBack("copy", MAX_DELAY)


def test_given_a_backoff_when_the_budget_is_nearly_spent_then_it_is_a_copy_delayed_by_the_backoff():
    assert plan(120, attrs(T0 - 12 * HOUR + 200), T0) == PutBack("copy", 120)


def test_given_a_message_received_many_times_then_even_a_short_wait_is_a_fresh_copy():
    assert plan(5, attrs(T0, receives=RECEIVES_BEFORE_COPY - 1), T0).how == "visibility"
    assert plan(5, attrs(T0, receives=RECEIVES_BEFORE_COPY), T0) == PutBack("copy", 5)


@dataclass
class Msg:
    sent: float
    visible_at: float
    first_receive: float | None = None
    receives: int = 0


@pytest.mark.parametrize("days", [0.6, 1, 3.3, 7])
def test_given_send_at_up_to_seven_days_ahead_when_sqs_rules_hold_then_it_is_sent_on_time_and_never_dead_lettered(days):
    # Given a model of SQS: visibility at most 12 h from the first receive (else refused),
    # DelaySeconds at most 900, dead-letter after 24 receives; a job due `days` ahead
    due = T0 + days * 24 * HOUR
    queue = [Msg(sent=T0, visible_at=T0)]
    now, sent_at, copies, refused = T0, None, 0, 0
    # When a poller receives whatever is visible and the sender puts the job back until it is due
    while sent_at is None:
        msg = min(queue, key=lambda m: m.visible_at)
        now = max(now, msg.visible_at) + 1  # one second to receive and decide
        msg.first_receive = msg.first_receive or now
        msg.receives += 1
        assert msg.receives < 24, "dead-lettered"
        if now >= due:
            sent_at = now
            break
        decision = plan(due - now, attrs(msg.first_receive, msg.receives), now)
        if decision.how == "visibility":
            if now + decision.seconds > msg.first_receive + MAX_VISIBLE_SPAN:
                refused += 1
            msg.visible_at = now + decision.seconds
        else:
            assert 0 <= decision.seconds <= MAX_DELAY
            queue.remove(msg)
            queue.append(Msg(sent=now, visible_at=now + decision.seconds))
            copies += 1
    # Then SQS never refused a change, it was sent within a minute of its time, and about one copy
    # per 12 hours was made
    assert refused == 0
    assert due <= sent_at <= due + 60
    assert copies <= days * 2 + 1


class RefusingSqs:
    """An SQS client whose visibility change is refused (a stale receipt handle), copies recorded."""

    def __init__(self) -> None:
        self.copies: list[dict] = []

    def change_message_visibility(self, **_: object) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ReceiptHandleIsInvalid", "Message": "stale"}}, "ChangeMessageVisibility")

    def send_message(self, **kwargs: object) -> None:
        self.copies.append(kwargs)


def test_given_a_refused_visibility_change_then_its_warning_is_a_relay_log_line_with_the_version_and_the_code():
    import io
    import json

    from relay.observability import logger
    from relay.putback import put_back
    from relay.version import __version__

    # Given a short wait (a visibility change) that SQS refuses
    sqs = RefusingSqs()
    record = {"receiptHandle": "rh", "body": "{}", "attributes": attrs(T0)}
    buffer = io.StringIO()
    stream = logger.registered_handler.setStream(buffer)
    try:
        # When the job is put back
        decision = put_back(sqs, "https://sqs.local/q", record, wait=30, now=T0 + 1)
    finally:
        logger.registered_handler.setStream(stream)
    # Then it goes back as a copy, and the warning is the relay's JSON line with its keys
    assert decision.how == "copy" and len(sqs.copies) == 1
    [line] = [json.loads(raw) for raw in buffer.getvalue().splitlines()]
    assert line["level"] == "WARNING" and line["message"].startswith("visibility change refused")
    assert line["error_code"] == "ReceiptHandleIsInvalid" and line["version"] == __version__

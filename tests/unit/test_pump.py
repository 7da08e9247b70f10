"""When the local pollers call a relay idle (relay_local.dev.poller.pump): with queues modelled on
what moto answers, including a message counted in none of the three counts because its delay
ended while they were read (each at its own moment)."""

from __future__ import annotations

from dataclasses import dataclass

from relay_local.dev.poller import pump


@dataclass
class DelayedQueue:
    """One queue with `messages` ready to receive and one delayed message. Its delay ends during the
    first count: moto then reads ApproximateNumberOfMessages (still delayed: not counted) before
    ApproximateNumberOfMessagesDelayed (no longer delayed: not counted either), so that count is 0."""

    messages: int = 0
    delayed: bool = True
    handled: int = 0

    def poll_once(self) -> int:
        if self.messages == 0:
            return 0
        self.messages -= 1
        self.handled += 1
        return 1

    def pending(self) -> int:
        if self.delayed:  # the delay ends while moto reads the counts
            self.delayed = False
            self.messages += 1
            return 0
        return self.messages


@dataclass
class CountedQueue(DelayedQueue):
    """A delayed message that the first `delayed_counts` counts include (as Delayed); then it is ready."""

    delayed: bool = False
    delayed_counts: int = 0

    def pending(self) -> int:
        if self.delayed_counts:
            self.delayed_counts -= 1
            if not self.delayed_counts:
                self.messages += 1
            return 1
        return self.messages


def test_given_a_message_whose_delay_ends_while_the_queue_is_counted_when_pumping_then_it_is_handled_before_idle():
    # Given a queue whose only message is delayed, its delay ending while the count is read
    queue = DelayedQueue()
    # When the pollers run until idle
    idle = pump([queue], timeout=5, idle_sleep=0)
    # Then the message was handed to the function before the relay was called idle
    assert idle is True
    assert queue.handled == 1 and queue.messages == 0


def test_given_queues_that_count_messages_when_pumping_then_it_waits_until_every_one_is_handled():
    # Given one empty queue and one whose delayed message is counted (as Delayed) until it is ready
    empty, busy = DelayedQueue(delayed=False), CountedQueue(delayed_counts=3)
    # When the pollers run until idle
    idle = pump([empty, busy], timeout=5, idle_sleep=0)
    # Then idle comes after the delayed message was handled, not at the first empty round
    assert idle is True and busy.handled == 1

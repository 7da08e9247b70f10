"""The channel rule (relay.channels), which the planner and the sender both follow."""

from __future__ import annotations

from relay.channels import one_recipient_per_request

DYNAMIC = frozenset({8})


def test_per_recipient_media_shares_a_request_only_on_a_channel_that_takes_it():
    assert not one_recipient_per_request(8, True, DYNAMIC)
    assert one_recipient_per_request(101, True, DYNAMIC)
    assert not one_recipient_per_request(101, True, frozenset({8, 101}))


def test_static_media_and_text_are_packed_on_every_channel():
    assert not one_recipient_per_request(101, False, DYNAMIC)

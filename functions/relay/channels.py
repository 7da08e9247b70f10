"""The vendor's channel rules, in one place: which requests go one recipient at a time, and which
channel takes voice notes.

Per-recipient ("dynamic") media shares a request only on the channels that take it
(DYNAMIC_MEDIA_CHANNELS, default 8, WhatsApp Official). On every other channel each such recipient
gets its own request, spaced PER_RECIPIENT_SPACING_SECONDS apart: the planner splits and spaces
the jobs (relay.planner), the sender takes a per-channel slot for them (relay.sending).
"""

from __future__ import annotations

#: the channel (application) that sends audio as a voice note: WhatsApp Web Automation
VOICE_APPLICATION = 10


def one_recipient_per_request(application: int, dynamic: bool, dynamic_channels: frozenset[int]) -> bool:
    """Whether a request with (`dynamic`) or without per-recipient media on `application` must
    carry one recipient, spaced from the channel's other such requests."""
    return dynamic and application not in dynamic_channels

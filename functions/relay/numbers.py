"""Recipient phone numbers in the form the Push API wants: full international, digits only."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")
MIN_DIGITS, MAX_DIGITS = 8, 15


class InvalidNumber(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalize_number(raw: object) -> str:
    """`+55 (12) 3456-7890` → `551234567890`; `0049…` → `49…`.

    A leading single 0 is a national number without its country code: we cannot guess the
    country, so it is rejected rather than sent to the wrong person.
    """
    if isinstance(raw, bool) or raw is None:
        raise InvalidNumber("number is missing")
    if isinstance(raw, int):
        text = str(raw)
    elif isinstance(raw, float) and raw.is_integer():  # spreadsheets turn numbers into floats
        text = str(int(raw))
    elif isinstance(raw, str):
        text = raw.strip()
    else:
        raise InvalidNumber(f"number must be text, got {type(raw).__name__}")
    if not text:
        raise InvalidNumber("number is missing")
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if not digits.isascii() or not digits.isdigit():
        raise InvalidNumber(f"number {text!r} has characters other than digits")
    if digits.startswith("0"):
        raise InvalidNumber(f"number {text!r} starts with 0: give the full international number with country code")
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise InvalidNumber(f"number {text!r} has {len(digits)} digits; expected {MIN_DIGITS} to {MAX_DIGITS}")
    return digits

"""Recipient numbers: normalised to digits, rejected when they cannot be a full international number."""

import pytest

from relay.numbers import InvalidNumber, normalize_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("55123456789", "55123456789"),
        ("+55 12345 6789", "55123456789"),
        ("+44 (0) 7700-900123".replace("(0) ", ""), "447700900123"),
        ("0044 7700 900123", "447700900123"),
        ("+1 (415) 555.0100", "14155550100"),
        (447700900123, "447700900123"),
        (447700900123.0, "447700900123"),
        ("12345678", "12345678"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_given_a_formatted_number_when_normalised_then_only_digits_remain(raw, expected):
    assert normalize_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("07700900123", "starts with 0"),
        ("0 7700 900123", "starts with 0"),
        ("1234567", "7 digits"),
        ("1234567890123456", "16 digits"),
        ("+44 7700 9001x3", "other than digits"),
        ("", "missing"),
        (None, "missing"),
        (True, "missing"),
        ("٤٤٧٧٠٠٩٠٠١٢٣", "other than digits"),  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_given_an_unusable_number_when_normalised_then_the_reason_says_why(raw, fragment):
    with pytest.raises(InvalidNumber) as err:
        normalize_number(raw)
    assert fragment in err.value.reason

"""The character rule for text the relay forwards to the vendor (relay.text_rules)."""

import pytest

from relay.text_rules import check_identifier, check_message, text_problem


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("a\x00b", "U+0000"),
        ("ring\x07", "U+0007"),
        ("x\x1by", "U+001B"),
        ("del\x7f", "U+007F"),
        ("c1\x85", "U+0085"),
        ("\u202eevil", "U+202E"),
        ("iso\u2066late", "U+2066"),
        ("pdi\u2069", "U+2069"),
        ("emb\u202a", "U+202A"),
    ],
    ids=["NUL", "BEL", "ESC", "DEL", "NEL-C1", "RLO", "LRI", "PDI", "LRE"],
)
def test_given_a_control_character_when_checked_then_messages_and_identifiers_refuse_it_naming_the_code_point(value, code):
    # Given text with a control or bidi override character
    # When it is checked as message text and as an identifier
    for layout in (True, False):
        problem = text_problem(value, layout=layout)
        # Then both refuse it, naming the code point (never echoing the character itself)
        assert problem is not None and code in problem
        assert value[-1] not in problem or value[-1].isalnum()


@pytest.mark.parametrize("value", ["line one\nline two", "tab\there", "crlf\r\n", "\u0645\u0631\u062d\u0628\u0627 \u200f!", "नमस्ते 🎉", ""])
def test_given_ordinary_text_with_layout_when_checked_as_a_message_then_it_passes(value):
    assert text_problem(value, layout=True) is None
    assert check_message(value) == value


@pytest.mark.parametrize("value", ["order\n1", "order\t1", "order\r1"])
def test_given_layout_characters_in_an_identifier_when_checked_then_refused(value):
    with pytest.raises(ValueError, match="control character"):
        check_identifier(value)


def test_given_a_plain_reference_when_checked_as_an_identifier_then_it_passes():
    assert check_identifier("order-1001/ü") == "order-1001/ü"


def test_given_a_bad_character_when_checked_then_its_position_is_named():
    assert text_problem("abc\x00", layout=True) == "contains a control character (U+0000) at position 3"

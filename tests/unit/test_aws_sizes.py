"""How the embedded AWS counts sizes, rule by rule, as AWS documents them."""

from __future__ import annotations

import base64

import pytest

from relay_local.dev import lambda_limits
from relay_local.dev.strict_dynamodb import item_size, value_size
from relay_local.dev.strict_sqs import message_size


@pytest.mark.parametrize(
    "value, size",
    [
        ({"S": "abc"}, 3),
        ({"S": "कख"}, 6),  # UTF-8 bytes, not characters
        ({"N": "12345"}, 4),  # 5 significant digits: 3 bytes + 1
        ({"N": "-0.00120"}, 2),  # leading and trailing zeroes trimmed: "12" → 1 + 1
        ({"N": "100000"}, 2),
        ({"B": base64.b64encode(b"\x00" * 10).decode()}, 10),  # raw bytes, not the base64 text
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["a", "bb"]}, 3),
        ({"L": []}, 3),
        ({"L": [{"S": "ab"}, {"N": "1"}]}, 3 + (1 + 2) + (1 + 2)),
        ({"M": {"k": {"S": "ab"}}}, 3 + 1 + 1 + 2),
    ],
    ids=repr,
)
def test_given_dynamodb_values_when_sized_then_dynamodbs_documented_rules(value, size):
    assert value_size(value) == size


def test_given_an_item_when_sized_then_names_count_in_utf8_too():
    assert item_size({"pk": {"S": "x"}, "नाम": {"S": "y"}}) == 2 + 1 + 9 + 1


def test_given_an_sqs_message_when_sized_then_body_and_each_attribute_name_type_and_value_count():
    attrs = {
        "a": {"DataType": "String", "StringValue": "é"},
        "b": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"1234").decode()},
    }
    assert message_size("कख", attrs) == 6 + (1 + 6 + 2) + (1 + 6 + 4)


def test_given_a_lambda_result_over_6_mb_when_checked_then_response_size_too_large_and_at_the_limit_not():
    def of(size: int) -> dict:
        answer = {"body": ""}
        answer["body"] = "x" * (size - lambda_limits.payload_bytes(answer))
        return answer

    lambda_limits.check_response(of(lambda_limits.MAX_RESPONSE_BYTES))
    with pytest.raises(lambda_limits.ResponseSizeTooLarge, match=r"\(6291556 bytes\)"):
        lambda_limits.check_response(of(lambda_limits.MAX_RESPONSE_BYTES + 1))

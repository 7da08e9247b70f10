"""The Event Webhook contract without a network: parsing the vendor's event bodies, the status
mapping, and the forward-only transition rule the ledger's conditions enforce."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from relay.delivery_reports import (
    DeliveryEntry,
    VendorEvent,
    allowed_from,
    failure_reason,
    next_state,
    status_only_replaces,
    target_state,
)
from relay.lifecycle import RecipientState as State

DOC_SAMPLE = {
    "project_id": "12345",
    "event_id": 1,
    "data": [
        {
            "push_id": "7478630",
            "number": "934343442290",
            "msg_id": "9844217",
            "status": 1,
            "reference_number": "inv-1",
            "error_code": None,
            "error_message": None,
        }
    ],
}


def parse(body: object) -> VendorEvent:
    return VendorEvent.model_validate_json(json.dumps(body))


# -- parsing ------------------------------------------------------------------------------------
def test_given_the_documented_body_when_parsed_then_every_field_is_read():
    event = parse(DOC_SAMPLE)
    assert event.project_id == "12345" and event.event_id == 1
    [entry] = event.data
    assert (entry.push_id, entry.number, entry.msg_id, entry.status, entry.reference_number) == (
        "7478630",
        "934343442290",
        "9844217",
        1,
        "inv-1",
    )
    assert entry.error_code is None and entry.error_message is None


def test_given_integer_ids_and_numbers_when_parsed_then_they_become_strings():
    event = parse(
        {
            "project_id": 12345,
            "event_id": 1,
            "data": [
                {
                    "push_id": 7478630,
                    "number": 934343442290,
                    "msg_id": 9844217,
                    "status": 2,
                    "reference_number": 77,
                    "error_code": 131026,
                    "error_message": "Message undeliverable",
                }
            ],
        }
    )
    [entry] = event.data
    assert event.project_id == "12345"
    assert (entry.push_id, entry.number, entry.msg_id, entry.reference_number, entry.error_code) == (
        "7478630",
        "934343442290",
        "9844217",
        "77",
        "131026",
    )
    assert entry.error_message == "Message undeliverable"


@pytest.mark.parametrize(("raw", "expected"), [("3", 3), (" 1 ", 1), ("0", 0), (5, 5)])
def test_given_a_status_as_text_when_parsed_then_it_is_an_integer(raw, expected):
    assert DeliveryEntry.model_validate({"status": raw}).status == expected


def test_given_an_event_id_as_text_when_parsed_then_it_is_an_integer():
    assert parse({"event_id": "1", "data": []}).event_id == 1


def test_given_data_as_a_single_object_when_parsed_then_it_is_a_list_of_one():
    event = parse({"event_id": 1, "data": {"msg_id": "9", "status": "3"}})
    assert [(e.msg_id, e.status) for e in event.data] == [("9", 3)]


@pytest.mark.parametrize("data", [None, [], {}])
def test_given_no_data_when_parsed_then_there_are_no_entries(data):
    assert parse({"event_id": 1, "data": data}).data == []
    assert parse({"event_id": 4}).data == []


def test_given_fields_of_newer_accounts_when_parsed_then_they_are_kept_as_extras():
    body = {
        "event_id": 1,
        "flag": "x",
        "data": [
            {"msg_id": "9", "status": 1, "message": "hi", "message_type": "image", "media": "https://example.com/a.jpg", "channel_id": 8}
        ],
    }
    event = parse(body)
    [entry] = event.data
    assert entry.model_extra == {"message": "hi", "message_type": "image", "media": "https://example.com/a.jpg", "channel_id": 8}
    assert event.model_extra == {"flag": "x"}
    assert entry.model_dump()["channel_id"] == 8


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"data": [{"status": 1}]}),  # no event_id
        json.dumps({"event_id": "delivery", "data": []}),
        json.dumps({"event_id": 1, "data": [{"msg_id": "9"}]}),  # no status
        json.dumps({"event_id": 1, "data": [{"msg_id": "9", "status": "read"}]}),
        json.dumps({"event_id": 1, "data": "9"}),
        json.dumps({"event_id": 1, "data": [{"msg_id": ["9"], "status": 1}]}),
    ],
)
def test_given_a_malformed_body_when_parsed_then_it_is_a_validation_error(body):
    with pytest.raises(ValidationError):
        VendorEvent.model_validate_json(body)


# -- mapping ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "state"),
    [(1, State.DELIVERED), (3, State.READ), (2, State.FAILED), (5, State.FAILED), (0, None), (4, None), (9, None)],
)
def test_given_a_vendor_status_then_it_maps_to_a_ledger_state_or_none(status, state):
    assert target_state(status) == state


def test_given_a_failure_then_the_reason_quotes_the_vendors_text_verbatim():
    assert failure_reason(2, "Message Undeliverable: re-engagement required") == (
        "vendor delivery status 2: Message Undeliverable: re-engagement required"
    )
    assert failure_reason(5, None) == "vendor delivery status 5: failed"
    assert failure_reason(2, "") == "vendor delivery status 2: failed"


def test_given_a_failure_with_an_error_code_then_the_reason_shows_the_code_before_the_text():
    # Given WhatsApp's re-engagement failure, as the vendor reports it
    # When the reason is written
    # Then a reader sees the code that explains it, not only the text
    assert failure_reason(2, "Re-engagement message", "131047") == ("vendor delivery status 2: error 131047: Re-engagement message")
    assert failure_reason(5, None, "REFUND") == "vendor delivery status 5: error REFUND: failed"
    assert failure_reason(2, "x" * 5000, "9" * 5000).count("x") == 500  # bounded: the fields keep it whole


# -- forward-only transitions -------------------------------------------------------------------
def test_given_each_target_then_it_is_reachable_only_from_earlier_states():
    # `ambiguous` (sent or not, unknown) is settled by the vendor's own report
    assert set(allowed_from("delivered")) == {"submitted", "accepted", "ambiguous"}
    assert set(allowed_from("read")) == {"submitted", "accepted", "delivered", "ambiguous"}
    assert set(allowed_from("failed")) == {"submitted", "accepted", "delivered", "ambiguous"}
    for never in ("planned", "submitted", "accepted", "rejected", "expired", "ambiguous"):
        assert allowed_from(never) == ()


ALL_STATES = [str(s) for s in State]
#: (current state, vendor status) → new state, for every combination that moves something.
MOVES = {
    ("submitted", 1): "delivered",
    ("accepted", 1): "delivered",
    ("submitted", 3): "read",
    ("accepted", 3): "read",
    ("delivered", 3): "read",
    ("submitted", 2): "failed",
    ("accepted", 2): "failed",
    ("delivered", 2): "failed",
    ("submitted", 5): "failed",
    ("accepted", 5): "failed",
    ("delivered", 5): "failed",
    ("ambiguous", 1): "delivered",
    ("ambiguous", 3): "read",
    ("ambiguous", 2): "failed",
    ("ambiguous", 5): "failed",
}


@pytest.mark.parametrize("current", ALL_STATES)
@pytest.mark.parametrize("status", [0, 1, 2, 3, 4, 5, 7])
def test_given_every_state_and_status_then_the_state_only_moves_forward(current, status):
    assert next_state(current, status) == MOVES.get((current, status))


@pytest.mark.parametrize("final", ["read", "failed", "rejected", "expired", "planned"])
def test_given_a_final_or_never_sent_state_then_no_report_changes_it(final):
    assert all(next_state(final, status) is None for status in range(0, 10))


def test_given_a_replay_or_a_late_report_then_nothing_changes():
    assert next_state("delivered", 1) is None  # the same report again
    assert next_state("read", 1) is None  # delivered arriving after read
    assert next_state("failed", 2) is None and next_state("failed", 5) is None


def test_given_a_status_that_moves_no_state_then_it_only_replaces_a_less_informative_one():
    assert status_only_replaces(4) == (0,)  # submitted says more than unknown
    assert status_only_replaces(0) == ()  # unknown never overwrites anything
    assert status_only_replaces(9) == ()

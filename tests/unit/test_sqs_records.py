"""relay.sqs_records: which records of an SQS event reach the batch processor, and what the rest do."""

from __future__ import annotations

from relay.sqs_records import sort_records


def test_given_records_of_every_wrong_shape_when_sorted_then_only_reportable_ones_are_failed():
    good = {"messageId": "m1", "body": "{}"}
    records = [good, "text", {"body": "{}"}, {"messageId": "", "body": "{}"}, {"messageId": "m5"}, {"messageId": "m6", "body": 3}]
    checked = sort_records(records)
    assert checked.good == [good]
    assert [(m.index, m.message_id) for m in checked.failed] == [(4, "m5"), (5, "m6")]
    assert [(m.index, m.reason) for m in checked.dropped] == [
        (1, "record is str, not an object"),
        (2, "record has no messageId"),
        (3, "record has no messageId"),
    ]
    # the processor's failures and the reportable malformed records make one answer
    answer = checked.response({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m5"}, {"itemIdentifier": "m6"}]}


def test_given_records_that_are_not_a_list_when_sorted_then_nothing_is_processed_and_the_reason_is_kept():
    checked = sort_records({"messageId": "x"})
    assert checked.good == [] and checked.dropped[0].reason == "Records is dict, not a list"
    assert sort_records(None).response() == {"batchItemFailures": []}

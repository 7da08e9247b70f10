"""The vendor's Global Webhook over real HTTP (`relay serve`'s ApiServer, moto server behind it):
POST /inbound/{secret} records, per number and channel, when the customer last wrote (WhatsApp's
24-hour window), idempotent by `unique-id`; Ledger.last_inbound reads the windows back."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from relay.inbound import InboundMessage, record_message
from relay.ledger import INBOUND_KEEP_SECONDS, Ledger
from relay_local.dev.iam import Enforcer
from relay_local.dev.iam_roles import revoke, transformed
from relay_local.dev.ledger_reads import scan_all
from relay_local.dev.serve import ApiServer
from relay_local.dev.session import LOCAL_EVENTS_SECRET

pytestmark = pytest.mark.integration

NUMBER = "447700900123"


@pytest.fixture
def http(relay) -> Iterator[httpx.Client]:
    with ApiServer(relay) as server, httpx.Client(base_url=server.url, timeout=20) as client:
        yield client


def ledger(relay) -> Ledger:
    return Ledger(relay.client("dynamodb"), relay.table)


def message(unique_id: str | int | None = "5642", **fields) -> dict:
    """A Global Webhook body as the vendor's docs show one (WhatsApp Official, a button reply)."""
    body = {
        "number": NUMBER,
        "message-in": "Not+Sure",
        "message_in_raw": "Not Sure",
        "type": 9,
        "application": "8",
        "unique-id": unique_id,
        "project-id": "10129",
        "direction": 0,
        "name": "Ana",
        "context-msg-id": "30486936",
        "payload": "confirmbutton",
        "custom-variable": "tolerated",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def post(http: httpx.Client, body: dict | bytes, secret: str = LOCAL_EVENTS_SECRET) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post(f"/inbound/{secret}", content=raw, headers={"Content-Type": "application/json"})


def window(relay, number: str = NUMBER, channel: int = 8) -> float | None:
    return ledger(relay).last_inbound(channel, [number]).get(number)


def items(relay, kind: str) -> list[dict]:
    return [i for i in scan_all(ledger(relay)) if i.get("kind") == kind]


# -- the window, recorded -----------------------------------------------------------------------
def test_given_a_customers_message_when_the_vendor_posts_it_then_the_window_is_recorded_for_that_number_and_channel(relay, http):
    # Given a message from a number written the way people write it, on WhatsApp Official
    body = message(number="+44 7700 900123")
    # When the vendor's Global Webhook posts it
    resp = post(http, body)
    # Then it is answered 200 with no instant reply (no text the vendor would send back)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"recorded": True}
    # And the window is on record for the normalised number on channel 8 only
    assert window(relay) is not None
    assert window(relay, channel=1) is None and window(relay, "447700900124") is None
    [win] = items(relay, "window")
    assert win["pk"] == f"WIN#8#{NUMBER}" and win["number"] == NUMBER and win["channel"] == 8
    # and it is not kept for ever: it expires (TTL) a week after the customer's last message
    assert win["expires"] == int(win["last_inbound"]) + INBOUND_KEEP_SECONDS
    # And the dedupe item keeps what is small and useful, never the message's text, media or payload
    [seen] = items(relay, "inbound")
    assert seen["pk"] == "IN#10129#5642" and seen["number"] == NUMBER and seen["channel"] == 8
    assert {k: seen[k] for k in ("type", "direction", "name", "project")} == {
        "type": "9",
        "direction": "0",
        "name": "Ana",
        "project": "10129",
    }
    text = json.dumps(seen)
    assert "Not Sure" not in text and "Not+Sure" not in text and "confirmbutton" not in text and "tolerated" not in text
    # and it expires by the table's TTL, which the local stack turns on as template.yaml does
    assert seen["expires"] > seen["received"]
    ttl = relay.client("dynamodb").describe_time_to_live(TableName=relay.table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def test_given_ids_as_integers_and_no_application_then_the_relays_own_channel_is_used(relay, http):
    # Given a body with integer ids and no `application`
    body = message(unique_id=777, application=None, **{"project-id": 27})
    # When posted
    assert post(http, body).json() == {"recorded": True}
    # Then the window is on the relay's configured channel (PICKY_APPLICATION, 8 by default)
    assert window(relay, channel=8) is not None
    assert [i["pk"] for i in items(relay, "inbound")] == ["IN#27#777"]


def test_given_a_recorded_message_when_a_later_one_arrives_then_the_window_moves_forward(relay, http):
    # Given a first message on record
    assert post(http, message("1")).json() == {"recorded": True}
    first = window(relay)
    # When the customer writes again (another unique-id)
    assert post(http, message("2")).json() == {"recorded": True}
    # Then the window moved to the later message
    assert window(relay) > first


def test_given_a_recorded_message_when_an_earlier_one_is_recorded_late_then_the_window_does_not_move_back(relay):
    # Given a message received at t=2000 on record
    led = ledger(relay)
    later = InboundMessage.model_validate(message("later"))
    assert record_message(led, later, b"{}", 8, now=2000.0).recorded
    # When a message received earlier is recorded after it
    earlier = InboundMessage.model_validate(message("earlier"))
    outcome = record_message(led, earlier, b"{}", 8, now=1000.0)
    # Then that message is remembered (a re-post of it is known) but the window stays at t=2000
    assert outcome.recorded
    assert window(relay) == 2000.0
    assert not record_message(led, earlier, b"{}", 8, now=3000.0).recorded
    assert window(relay) == 2000.0
    assert {i["pk"] for i in items(relay, "inbound")} == {"IN#10129#later", "IN#10129#earlier"}


def test_given_a_recorded_message_when_the_vendor_reposts_it_then_recorded_false_and_the_window_unchanged(relay, http):
    # Given a message on record
    assert post(http, message("5642")).json() == {"recorded": True}
    first = window(relay)
    # When the vendor re-posts it (its retry, later: the relay receives it at a later time), with the id as a number
    again = post(http, message(5642))
    # Then it is answered 200 (the vendor stops retrying), not recorded again, and the window did not move
    assert again.status_code == 200
    assert again.json()["recorded"] is False and "re-post" in again.json()["reason"]
    assert window(relay) == first
    assert len(items(relay, "inbound")) == 1


def test_given_a_re_post_with_a_later_receive_time_then_the_window_does_not_move(relay):
    led = ledger(relay)
    msg = InboundMessage.model_validate(message("5642"))
    assert record_message(led, msg, b"{}", 8, now=1000.0).recorded
    # When the same unique-id comes again, received much later
    assert not record_message(led, msg, b"{}", 8, now=90_000.0).recorded
    # Then the window is still the first message's time
    assert window(relay) == 1000.0


def test_given_a_body_without_unique_id_when_the_same_body_is_reposted_then_it_is_recognised(relay, http):
    # Given a body without unique-id
    body = json.dumps(message(unique_id=None)).encode()
    # When it arrives twice, the same bytes
    assert post(http, body).json() == {"recorded": True}
    first = window(relay)
    assert post(http, body).json()["recorded"] is False
    # Then it was recorded once, under an id derived from the body; another body is another message
    assert window(relay) == first
    [seen] = items(relay, "inbound")
    assert seen["pk"].startswith("IN#10129#sha256-")
    assert post(http, message(unique_id=None, message_in_raw="Sure")).json() == {"recorded": True}


@pytest.mark.parametrize("direction", [1, "1", "outbound", 7])
def test_given_an_outgoing_or_unknown_direction_then_the_window_is_not_opened(relay, http, direction):
    # Given the vendor's echo of a message the business sent (direction 1), or a direction it does not document
    resp = post(http, message(direction=direction))
    # Then it is answered 200, says why, and nothing is recorded
    assert resp.status_code == 200
    assert resp.json()["recorded"] is False and "not an incoming message" in resp.json()["reason"]
    assert window(relay) is None and items(relay, "inbound") == []


# -- refused ------------------------------------------------------------------------------------
def test_given_a_wrong_secret_then_404_and_nothing_is_recorded(relay, http):
    # When the body comes on a wrong secret (or one that only starts like the right one)
    for secret in ("not-the-secret", LOCAL_EVENTS_SECRET + "x", LOCAL_EVENTS_SECRET[:-1]):
        resp = post(http, message(), secret=secret)
        # Then it is refused as /events refuses it: 404, before the body is looked at
        assert resp.status_code == 404 and resp.json() == {"message": "not found"}
    assert post(http, b"not json", secret="not-the-secret").status_code == 404
    assert window(relay) is None and items(relay, "inbound") == []


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (message(number=None), "number", "Field required"),
        (message(number="07700 900123"), "number", "full international number"),
        (message(number="44 7700 9001x3"), "number", "full international number"),
        (message(number=True), "number", "text or a number"),
        (message(application="whatsapp"), "application", "channel's number"),
        (message(application=True), "application", "text or a number"),
        (message(**{"unique-id": "x" * 101}), "unique-id", "at most 100"),
        ([message()], "body", "Input should be an object"),
        (b"{not json", "body", "Invalid JSON"),
    ],
    ids=["no-number", "national-number", "letters", "bool-number", "application-text", "application-bool", "long-id", "list", "not-json"],
)
def test_given_an_invalid_body_then_422_names_the_field_and_nothing_is_recorded(relay, http, body, field, says):
    # When the vendor posts a body that can never be valid (its retries will stop by themselves)
    resp = post(http, body)
    # Then 422 names the field, and nothing is recorded
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field and says in resp.json()["message"], resp.json()
    assert items(relay, "inbound") == [] and items(relay, "window") == []


def test_given_a_body_over_256_kib_then_413(relay, http):
    resp = post(http, message(message_in_raw="x" * (256 * 1024)))
    assert resp.status_code == 413
    assert items(relay, "inbound") == []


# -- reading the windows back ---------------------------------------------------------------------
def test_given_150_customers_who_wrote_when_their_windows_are_read_then_all_come_back_in_batches_of_100(relay):
    # Given 150 customers on channel 8 who wrote, each at their own time, and one on another channel
    led = ledger(relay)
    numbers = [f"4477009{i:05d}" for i in range(150)]
    for i, number in enumerate(numbers):
        assert led.record_inbound(8, number, 1000.0 + i, "27", f"m{i}", {})
    assert led.record_inbound(1, "447700999999", 5000.0, "27", "other-channel", {})
    calls: list[int] = []
    dynamodb = relay.client("dynamodb")
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem", lambda params, **_: calls.append(len(params["RequestItems"][relay.table]["Keys"]))
    )
    # When the sender reads the windows of all of them, a number twice, and two who never wrote
    found = Ledger(dynamodb, relay.table).last_inbound(8, [*numbers, numbers[0], "447700999999", "447700888888"])
    # Then every window comes back with its own time, in calls of at most 100 keys (BatchGetItem's limit)
    assert found == {n: 1000.0 + i for i, n in enumerate(numbers)}
    assert sorted(calls) == [52, 100]


# -- IAM, as deployed -------------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["dynamodb:PutItem", "dynamodb:UpdateItem"])
def test_given_the_api_role_as_deployed_then_recording_is_allowed_and_without_put_or_update_it_is_refused(relay, http, action):
    # Given the API's role as template.yaml declares it
    assert post(http, message("1")).json() == {"recorded": True}
    made = {(c.function, c.action, c.decision) for c in relay.invoker.iam.calls if c.operation.endswith("TransactWriteItems")}
    assert made == {("ApiFunction", "dynamodb:PutItem", "allow"), ("ApiFunction", "dynamodb:UpdateItem", "allow")}
    # When the role lacks one of the two actions the transaction needs (the dedupe put, the window update)
    enforcer = Enforcer(relay.stack, doc=revoke(transformed(), "ApiFunction", action))
    relay.invoker.iam = enforcer
    resp = post(http, message("2"))
    # Then the transaction is refused as on AWS: not a 200 (the vendor retries), and nothing is recorded
    assert resp.status_code >= 500
    [denied] = enforcer.denied("ApiFunction", "TransactWriteItems")
    assert denied.action == action and denied.resource.endswith(f":table/{relay.table}")
    assert [i["pk"] for i in items(relay, "inbound")] == ["IN#10129#1"]


def test_given_the_senders_role_then_it_may_read_the_windows_and_without_batch_get_item_may_not(relay):
    # Given the windows' read as the sender makes it (Ledger.last_inbound: BatchGetItem on the table)
    from relay_local.dev.iam import AccessDenied

    params = {"RequestItems": {relay.table: {"Keys": [{"pk": {"S": f"WIN#8#{NUMBER}"}, "sk": {"S": "WIN"}}]}}}
    # When the sender's role as template.yaml declares it is asked, Then it is allowed
    Enforcer(relay.stack).check("SenderFunction", "dynamodb", "BatchGetItem", params)
    # And without dynamodb:BatchGetItem it is refused, naming the table
    enforcer = Enforcer(relay.stack, doc=revoke(transformed(), "SenderFunction", "dynamodb:BatchGetItem"))
    with pytest.raises(AccessDenied):
        enforcer.check("SenderFunction", "dynamodb", "BatchGetItem", params)
    [denied] = enforcer.denied("SenderFunction", "BatchGetItem")
    assert denied.action == "dynamodb:BatchGetItem" and denied.resource.endswith(f":table/{relay.table}")


def test_given_a_transaction_conflict_when_recording_then_it_is_tried_again_and_recorded(relay):
    """DynamoDB cancels a transaction that meets another write on the same item ("TransactionConflict"):
    three messages from one customer at once do that. moto never does, so the first answer is DynamoDB's,
    sent from a botocore hook; the retry goes to moto server."""
    from botocore.awsrequest import AWSResponse

    dynamodb = relay.client("dynamodb")
    answers: list[str] = []

    class Raw:
        def stream(self, **_):
            yield b""

    def conflict_once(**_):
        if answers:
            return None
        answers.append("conflict")
        body = {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]",
            "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}],
        }
        response = AWSResponse("https://dynamodb", 400, {"x-amzn-requestid": "r1"}, Raw())
        response._content = json.dumps(body).encode()
        return response

    dynamodb.meta.events.register("before-send.dynamodb.TransactWriteItems", conflict_once)
    # When a message is recorded and DynamoDB first answers with a conflict
    recorded = Ledger(dynamodb, relay.table).record_inbound(8, NUMBER, 1000.0, "27", "m1", {})
    # Then it was tried again and is on record, window and all
    assert answers == ["conflict"] and recorded
    assert window(relay) == 1000.0


def test_given_a_messenger_message_whose_number_is_no_phone_number_then_200_not_recorded_and_nothing_stored(relay, http):
    # Given the Global Webhook posting a Facebook Messenger message (channel 5, a page-scoped id)
    body = message(number="PSID-6284913377261", application="5", **{"unique-id": "m-1"})
    # When it arrives
    resp = post(http, body)
    # Then it is answered 200 (a valid message the vendor must not retry), not recorded, with why
    assert resp.status_code == 200, resp.text
    assert resp.json()["recorded"] is False and "not tracked on channel 5" in resp.json()["reason"]
    assert items(relay, "inbound") == [] and items(relay, "window") == []


def test_given_a_whatsapp_message_whose_number_is_no_phone_number_then_422_names_number(relay, http):
    resp = post(http, message(number="PSID-6284913377261"))
    assert resp.status_code == 422 and resp.json()["field"] == "number", resp.text
    assert items(relay, "inbound") == []

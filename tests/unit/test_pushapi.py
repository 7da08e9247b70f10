"""The Push API contract without a network: parsing the vendor's answers, building request bodies,
matching the vendor's per-recipient ids back to our entries, and the retry backoff."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from relay.models import Entry, Job, MediaRef
from relay.pushapi import PushResult, build_request
from relay.sending import _match_ids
from relay.sendqueue import backoff_seconds

VENDOR_SAMPLE = {
    "status": 100,
    "push_id": "7478630",
    "message": "Success",
    "data": [{"msg_id": "9844217", "number": "934343442290", "credit": "0.005"}],
}


# -- helpers ------------------------------------------------------------------------------------
def media(key: str, kind: str = "image") -> MediaRef:
    return MediaRef(bucket="b", key=key, kind=kind, content_type="image/jpeg", size=10, filename=key.rsplit("/", 1)[-1])


def entry(n: int | str, message: str = "", own_media: MediaRef | None = None, reference: str | None = None) -> Entry:
    number = str(n) if len(str(n)) > 3 else f"4477009{int(n):05d}"
    return Entry(rid=f"rid-{n}", number=number, message=message, media=own_media, reference=reference, object_pk=f"OBJ#b/{n}")


def job(*entries: Entry, **kw) -> Job:
    return Job(job_id="j1", application=kw.pop("application", 8), entries=list(entries), **kw)


class Presign:
    """A fake signer that remembers every MediaRef it was asked to sign."""

    def __init__(self) -> None:
        self.calls: list[MediaRef] = []

    def __call__(self, ref: MediaRef) -> str:
        self.calls.append(ref)
        return f"https://signed/{ref.key}"


def result(*pairs: tuple[str | int | None, str | int | None]) -> PushResult:
    return PushResult.model_validate({"status": 100, "push_id": "1", "data": [{"number": n, "msg_id": m} for n, m in pairs]})


# -- PushResult ---------------------------------------------------------------------------------
def test_given_the_vendors_sample_answer_when_parsed_then_ids_are_strings_and_it_is_accepted():
    r = PushResult.model_validate_json(json.dumps(VENDOR_SAMPLE))
    assert r.accepted and r.status == 100
    assert r.push_id == "7478630" and r.message == "Success"
    [d] = r.data
    assert (d.msg_id, d.number, d.credit) == ("9844217", "934343442290", "0.005")


def test_given_integer_ids_and_status_when_parsed_then_ids_become_the_same_strings():
    body = {"status": 100, "push_id": 7478630, "message": "Success", "data": [{"msg_id": 9844217, "number": 934343442290, "credit": 0.005}]}
    r = PushResult.model_validate_json(json.dumps(body))
    assert r.accepted
    assert r.push_id == "7478630"
    [d] = r.data
    assert (d.msg_id, d.number, d.credit) == ("9844217", "934343442290", "0.005")


@pytest.mark.parametrize("status", ["100", " 100 "])
def test_given_the_status_as_a_string_when_parsed_then_it_is_the_integer_and_accepted(status):
    r = PushResult.model_validate({**VENDOR_SAMPLE, "status": status})
    assert r.status == 100 and isinstance(r.status, int) and r.accepted


@pytest.mark.parametrize("status", [999, 101, 403, 401, 0, 200, "101", "999"])
def test_given_any_other_status_when_parsed_then_it_is_kept_verbatim_and_never_accepted(status):
    r = PushResult.model_validate({"status": status, "message": "whatever", "push_id": "5", "data": VENDOR_SAMPLE["data"]})
    assert r.status == int(status)
    assert not r.accepted


@pytest.mark.parametrize(
    "body",
    [
        {"status": 403, "message": "Insufficient balance", "data": None},
        {"status": 403, "message": "Insufficient balance"},
        {"status": 403, "message": "Insufficient balance", "data": ""},
    ],
)
def test_given_data_null_or_missing_when_parsed_then_data_is_an_empty_list(body):
    r = PushResult.model_validate_json(json.dumps(body))
    assert r.data == [] and r.push_id is None and r.message == "Insufficient balance"


@pytest.mark.parametrize("body", ['{"message": "Success"}', '{"status": "Success"}', "[]", "<html>oops</html>"])
def test_given_an_answer_without_a_usable_status_when_parsed_then_it_is_refused_not_guessed(body):
    with pytest.raises(ValidationError):
        PushResult.model_validate_json(body)


# -- build_request ------------------------------------------------------------------------------
def test_given_a_job_when_built_then_the_body_has_no_token_and_application_is_a_string():
    sign = Presign()
    body = build_request(job(entry(1, "hi"), entry(2, "hi"), application=10, priority="1"), sign)
    assert "token" not in body
    assert "token" not in json.dumps(body)
    assert body["application"] == "10" and isinstance(body["application"], str)
    assert body["priority"] == "1"
    assert sign.calls == []  # a text-only job signs nothing


def test_given_one_message_for_everyone_when_built_then_it_is_the_globalmessage_and_entries_leave_theirs_empty():
    body = build_request(job(entry(1, "Black Friday"), entry(2, "Black Friday"), entry(3, "Black Friday")), Presign())
    assert body["globalmessage"] == "Black Friday"
    assert [d["message"] for d in body["data"]] == ["", "", ""]
    assert [d["number"] for d in body["data"]] == ["447700900001", "447700900002", "447700900003"]


def test_given_different_messages_when_built_then_each_entry_carries_its_own_and_globalmessage_is_empty():
    body = build_request(job(entry(1, "Hi Ana"), entry(2, "Hi Bo"), entry(3, "")), Presign())
    assert body["globalmessage"] == ""
    assert [d["message"] for d in body["data"]] == ["Hi Ana", "Hi Bo", ""]


def test_given_per_recipient_media_when_built_then_each_entry_gets_its_own_presigned_url_signed_once():
    refs = [media("outbox/1/a.jpg"), media("outbox/2/b.png"), media("outbox/3/c.mp4", "video")]
    sign = Presign()
    body = build_request(job(*(entry(i + 1, f"m{i}", ref) for i, ref in enumerate(refs))), sign)
    assert [d["media"] for d in body["data"]] == [f"https://signed/{r.key}" for r in refs]
    assert sign.calls == refs  # exactly one call per media, in entry order
    assert "globalmedia" not in body


def test_given_a_mix_of_entries_with_and_without_media_when_built_then_only_those_with_media_carry_it():
    sign = Presign()
    body = build_request(job(entry(1, "a", media("k/1.jpg")), entry(2, "b")), sign)
    assert body["data"][0]["media"] == "https://signed/k/1.jpg"
    assert "media" not in body["data"][1]
    assert len(sign.calls) == 1


def test_given_one_recipient_with_its_own_media_when_built_then_it_goes_as_static_globalmedia():
    sign = Presign()
    body = build_request(job(entry(1, "Your photo", media("outbox/1/p.jpg")), application=10), sign)
    assert body["globalmedia"] == "https://signed/outbox/1/p.jpg"
    [d] = body["data"]
    assert "media" not in d and "media_code" not in d
    assert len(sign.calls) == 1
    assert body["globalmessage"] == "Your photo" and d["message"] == ""


def test_given_static_global_media_when_built_then_it_is_globalmedia_with_its_name_and_no_per_entry_media():
    sign = Presign()
    brochure = media("media/brochure.pdf", "document")
    body = build_request(job(entry(1), entry(2), global_media=brochure, media_name="brochure.pdf"), sign)
    assert body["globalmedia"] == "https://signed/media/brochure.pdf"
    assert body["media_name"] == "brochure.pdf"
    assert all("media" not in d for d in body["data"])
    assert sign.calls == [brochure]


@pytest.mark.parametrize("name", [None, ""])
def test_given_no_media_name_when_built_then_the_field_is_left_out(name):
    body = build_request(job(entry(1), entry(2), global_media=media("m/x.pdf", "document"), media_name=name), Presign())
    assert "media_name" not in body


def test_given_a_reference_when_built_then_it_is_sent_as_reference_number_else_our_recipient_id():
    body = build_request(job(entry(1, "a", reference="order-77"), entry(2, "b")), Presign())
    assert body["data"][0]["reference_number"] == "order-77"
    # without one, the relay's own id: what a delivery report for an ambiguous send is matched by
    assert body["data"][1]["reference_number"] == "rid-2" and "reference" not in body["data"][0]


# -- _match_ids ---------------------------------------------------------------------------------
def test_given_numbers_echoed_in_order_when_matched_then_ids_go_by_position():
    j = job(entry(1), entry(2), entry(3))
    ids = _match_ids(j, result(("447700900001", "m1"), ("447700900002", "m2"), ("447700900003", "m3")))
    assert {rid: m for rid, (m, _) in ids.items()} == {"rid-1": "m1", "rid-2": "m2", "rid-3": "m3"}


def test_given_answers_without_numbers_in_the_same_count_when_matched_then_ids_go_by_position():
    j = job(entry(1), entry(2))
    ids = _match_ids(j, result((None, "m1"), (None, "m2")))
    assert ids["rid-1"][0] == "m1" and ids["rid-2"][0] == "m2"


def test_given_the_vendor_reorders_its_answers_when_matched_then_ids_go_by_number():
    j = job(entry(1), entry(2), entry(3))
    ids = _match_ids(j, result((447700900003, 903), ("447700900001", "901"), ("447700900002", 902)))
    assert {rid: m for rid, (m, _) in ids.items()} == {"rid-1": "901", "rid-2": "902", "rid-3": "903"}


def test_given_one_number_twice_in_a_job_when_matched_then_its_ids_are_handed_out_in_order():
    a = Entry(rid="first", number="447700900001", message="caption", object_pk="OBJ#b/1")
    b = Entry(rid="other", number="447700900002", object_pk="OBJ#b/2")
    c = Entry(rid="second", number="447700900001", media=media("k.jpg"), object_pk="OBJ#b/1")
    j = job(a, b, c)
    # reordered, so matching is by number: the n-th answer for a number goes to its n-th entry
    ids = _match_ids(j, result(("447700900002", "m-b"), ("447700900001", "m-a1"), ("447700900001", "m-a2")))
    assert ids["first"][0] == "m-a1" and ids["second"][0] == "m-a2" and ids["other"][0] == "m-b"


def test_given_no_answer_for_a_number_when_matched_then_that_entry_gets_no_id():
    j = job(entry(1), entry(2), entry(3))
    ids = _match_ids(j, result(("447700900003", "m3"), ("447700900001", "m1")))
    assert ids["rid-1"][0] == "m1" and ids["rid-3"][0] == "m3"
    assert "rid-2" not in ids


def test_given_an_answer_for_a_number_we_never_sent_when_matched_then_no_entry_takes_it():
    j = job(entry(1), entry(2))
    ids = _match_ids(j, result(("447700900001", "m1"), ("449999999999", "stray")))
    assert ids == {"rid-1": ("m1", None)}


def test_given_an_empty_data_list_when_matched_then_nobody_gets_an_id():
    assert _match_ids(job(entry(1)), PushResult(status=100, push_id="9")) == {}


# -- backoff_seconds ----------------------------------------------------------------------------
@pytest.mark.parametrize("base", [1, 15, 60])
def test_given_more_receives_when_backing_off_then_delays_grow_within_bounds_and_cap_at_900(base):
    rng = random.getstate()
    random.seed(1234)
    try:
        for count in range(1, 16):
            full = min(900, base * 2 ** (count - 1))
            samples = [backoff_seconds(count, base) for _ in range(400)]
            assert max(samples) <= 900
            assert max(samples) <= full
            # jitter takes at most half: the int() of at least half the un-jittered value
            assert min(samples) >= full // 2, (count, full, min(samples))
            assert len(set(samples)) > 1 or full < 4  # it is jittered (int() flattens the tiny ones)
        # grows: the lowest delay of a later attempt beats the highest of the first until the cap
        assert min(backoff_seconds(5, base) for _ in range(200)) > max(backoff_seconds(1, base) for _ in range(200))
        # capped: even absurd receive counts stay at most 15 minutes, and at least half of them
        far = [backoff_seconds(10_000, base) for _ in range(400)]
        assert all(450 <= s <= 900 for s in far)
    finally:
        random.setstate(rng)


@pytest.mark.parametrize("count", [0, -1])
def test_given_a_missing_or_odd_receive_count_when_backing_off_then_it_is_treated_as_the_first(count):
    assert all(7 <= backoff_seconds(count, 15) <= 15 for _ in range(200))


def test_given_a_zero_base_when_backing_off_then_retry_is_immediate():
    assert {backoff_seconds(c, 0) for c in range(1, 20)} == {0}


@pytest.mark.parametrize("status", [100, 403])
def test_given_a_null_message_when_parsed_then_the_status_and_ids_are_still_kept(status):
    r = PushResult.model_validate_json(json.dumps({**VENDOR_SAMPLE, "status": status, "message": None}))
    assert r.status == status and r.message == ""
    assert r.data[0].msg_id == "9844217"

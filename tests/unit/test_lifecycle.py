"""The states of recipients, jobs and sources, and the moves between them (relay.lifecycle): the
one table every other module derives from."""

from __future__ import annotations

from typing import get_args

import pytest

from relay.api_models import RecipientStatus
from relay.delivery_reports import STATE_FOR_STATUS, allowed_from
from relay.lifecycle import (
    CLAIMABLE_JOB_STATES,
    CLAIMABLE_SOURCE_STATES,
    FINAL_JOB_STATES,
    JOB_MOVES,
    RECIPIENT_FINAL_STATES,
    REPORT_MOVES,
    REPORT_STATUS_ONLY_FROM,
    SEND_OUTCOMES,
    SOURCE_MOVES,
    JobState,
    RecipientState,
    SourceState,
    recipient_moves,
    report_allowed_from,
)

R, J, S = RecipientState, JobState, SourceState


def test_the_api_schema_lists_exactly_the_recipient_states_in_their_order():
    state = RecipientStatus.model_fields["state"].annotation
    assert get_args(state) == tuple(s.value for s in RecipientState)


def test_a_planned_recipient_ends_in_any_outcome_the_sender_records_and_never_goes_back_to_planned():
    moves = recipient_moves()
    assert moves[R.PLANNED] == SEND_OUTCOMES == {R.ACCEPTED, R.REJECTED, R.FAILED, R.EXPIRED, R.AMBIGUOUS, R.SKIPPED}
    assert all(R.PLANNED not in targets for targets in moves.values())


@pytest.mark.parametrize("final", [R.READ, R.REJECTED, R.EXPIRED, R.SKIPPED])
def test_read_rejected_and_expired_never_move(final):
    assert recipient_moves()[final] == frozenset()


def test_a_failed_recipient_moves_only_when_its_job_is_redriven_and_sent_again():
    assert recipient_moves()[R.FAILED] == SEND_OUTCOMES
    assert all(R.FAILED not in starts for starts in REPORT_MOVES.values())


def test_delivery_reports_only_move_forward():
    rank = {R.SUBMITTED: 1, R.ACCEPTED: 1, R.AMBIGUOUS: 1, R.DELIVERED: 2, R.READ: 3, R.FAILED: 3}
    for target, starts in REPORT_MOVES.items():
        assert starts and all(rank[start] < rank[target] for start in starts), target
    assert set(REPORT_STATUS_ONLY_FROM) == {R.SUBMITTED, R.ACCEPTED, R.AMBIGUOUS}


def test_an_ambiguous_recipient_is_settled_by_the_vendors_report():
    assert recipient_moves()[R.AMBIGUOUS] == {R.DELIVERED, R.READ, R.FAILED}


def test_the_status_webhook_uses_the_lifecycles_moves():
    for target in RecipientState:
        assert allowed_from(target) == tuple(str(s) for s in report_allowed_from(target))
    assert set(STATE_FOR_STATUS.values()) == set(REPORT_MOVES)


def test_the_sender_is_done_with_every_state_but_planned_and_submitted():
    assert set(RecipientState) - RECIPIENT_FINAL_STATES == {R.PLANNED, R.SUBMITTED}


def test_a_job_is_claimed_only_from_planned_or_retry_and_a_final_job_is_never_claimed():
    assert CLAIMABLE_JOB_STATES == (J.PLANNED, J.RETRY)
    claimable = {state for state, targets in JOB_MOVES.items() if J.SENDING in targets}
    assert claimable == set(CLAIMABLE_JOB_STATES)
    assert not claimable & FINAL_JOB_STATES


def test_the_holder_of_a_claim_ends_the_job_in_a_final_state_or_puts_it_back():
    assert JOB_MOVES[J.SENDING] == FINAL_JOB_STATES | {J.RETRY}
    assert set(JOB_MOVES) == set(JobState)


def test_only_a_failed_job_moves_again_and_only_back_to_retry_by_a_redrive():
    moving = {state: targets for state, targets in JOB_MOVES.items() if state in FINAL_JOB_STATES and targets}
    assert moving == {J.FAILED: {J.RETRY}}


def test_every_outcome_a_sender_records_for_recipients_is_also_a_final_job_state():
    assert {JobState(str(state)) for state in SEND_OUTCOMES} <= FINAL_JOB_STATES


def test_a_source_is_claimed_again_while_planning_and_never_once_planned():
    assert CLAIMABLE_SOURCE_STATES == (S.PLANNING,)
    assert SOURCE_MOVES[S.PLANNING] == {S.PLANNING, S.PLANNED} and SOURCE_MOVES[S.PLANNED] == frozenset()

"""The states of the ledger's items and the moves allowed between them: the one owner.

Three kinds of item have a `state` (relay.ledger writes them; README, "The ledger"):

- a **recipient** (one message to one number): born `planned` (or `rejected` at planning), moved
  by the sender to what its request became, then forward by the vendor's delivery reports;
- a **job** (the push item of one Push API request): `planned` → `sending` while one attempt holds
  its claim → an outcome; `retry` when it goes back on the queue;
- a **source** (one upload or API request): `planning` while ingest claims it, `planned` once its
  items and jobs are written.

```
recipient  planned ──sender──► accepted | ambiguous ──report──► delivered ──report──► read
              │                      (submitted, accepted, ambiguous, delivered ──report──► failed)
              └──sender──► rejected | expired | failed | skipped ──(redrive) sender──► any sender outcome
           rejected (by the planner: born final)
job        planned | retry ──claim──► sending ──► accepted | rejected | failed | expired | ambiguous | split
                                         └──► retry (put back)        failed ──redrive──► retry
source     (none) | planning ──claim──► planning ──plan recorded──► planned
```

Design: the tables are data, checked by tests (tests/unit/test_lifecycle.py), and everything
else derives from them: the API schema's `state` (relay.api_models), the delivery-report rule
(relay.delivery_reports: the DynamoDB condition of each move), the sender's claimable and final job states
(relay.sending, relay.ledger), and the local tools' "every recipient ended". The moves the
delivery report makes are *enforced* (a condition on `state`); the sender's are guaranteed by its
claim on the job (only the holder writes the outcome), so they are stated here, not re-checked on
each recipient item.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class RecipientState(StrEnum):
    """Where one message to one number stands (the `state` of a recipient item)."""

    PLANNED = "planned"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    READ = "read"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"
    #: the request left but its answer never came: maybe sent. Never re-sent blindly; the vendor's
    #: delivery report (matched by reference_number) settles it.
    AMBIGUOUS = "ambiguous"
    #: not sent because it was not needed: a caption's own text message when its media went out as
    #: a template (outside WhatsApp's 24-hour window the template carries the message)
    SKIPPED = "skipped"


class JobState(StrEnum):
    """Where one Push API request stands (the `state` of a push item)."""

    PLANNED = "planned"
    #: back on the queue: a retryable failure, a deferral after the claim, or a redrive
    RETRY = "retry"
    #: one send attempt holds the claim
    SENDING = "sending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"
    AMBIGUOUS = "ambiguous"
    #: replaced by smaller jobs: 406 on several recipients (one job each), or recipients of one job
    #: that get different forms at send time (one job per form)
    SPLIT = "split"
    #: every recipient was skipped (relay.templates): nothing sent
    SKIPPED = "skipped"


class SourceState(StrEnum):
    """Where one upload or API request stands (the `state` of a source item)."""

    PLANNING = "planning"
    PLANNED = "planned"


_R, _J, _S = RecipientState, JobState, SourceState

# -- recipients -------------------------------------------------------------------------------------
#: what the sender records for every recipient of a job it claimed
SEND_OUTCOMES: frozenset[RecipientState] = frozenset({_R.ACCEPTED, _R.REJECTED, _R.FAILED, _R.EXPIRED, _R.AMBIGUOUS, _R.SKIPPED})
#: the recipient states a send starts from: planned, or failed before a `relay redrive`
SENT_FROM: frozenset[RecipientState] = frozenset({_R.PLANNED, _R.FAILED})

#: delivery report: target state → the states it may be reached from (forward only). `ambiguous`
#: (the request left, its answer never came) is settled by the vendor's own report.
REPORT_MOVES: Mapping[RecipientState, tuple[RecipientState, ...]] = MappingProxyType(
    {
        _R.DELIVERED: (_R.SUBMITTED, _R.ACCEPTED, _R.AMBIGUOUS),
        _R.READ: (_R.SUBMITTED, _R.ACCEPTED, _R.DELIVERED, _R.AMBIGUOUS),
        _R.FAILED: (_R.SUBMITTED, _R.ACCEPTED, _R.DELIVERED, _R.AMBIGUOUS),
    }
)
#: the states in which a report that moves no state (vendor status 0, 4, unknown) is still recorded
REPORT_STATUS_ONLY_FROM: tuple[RecipientState, ...] = (_R.SUBMITTED, _R.ACCEPTED, _R.AMBIGUOUS)

#: the sender is done with a recipient in one of these ("every recipient ended": demo, soak)
RECIPIENT_FINAL_STATES: frozenset[RecipientState] = frozenset(set(RecipientState) - {_R.PLANNED, _R.SUBMITTED})


def recipient_moves() -> dict[RecipientState, frozenset[RecipientState]]:
    """Every move a recipient item can make (from → to), by the sender or a delivery report."""
    moves: dict[RecipientState, set[RecipientState]] = {state: set() for state in RecipientState}
    for start in SENT_FROM:
        moves[start] |= SEND_OUTCOMES
    for target, starts in REPORT_MOVES.items():
        for start in starts:
            moves[start].add(target)
    return {state: frozenset(to) for state, to in moves.items()}


def report_allowed_from(target: RecipientState | str) -> tuple[RecipientState, ...]:
    """The states from which a delivery report may move a recipient to `target` (empty: never)."""
    return REPORT_MOVES.get(RecipientState(target), ())


# -- jobs -------------------------------------------------------------------------------------------
#: the states from which a send attempt may claim a job (a job with no push item yet may be claimed too)
CLAIMABLE_JOB_STATES: tuple[JobState, ...] = (_J.PLANNED, _J.RETRY)
#: what became of a job: a second delivery of it sends nothing
FINAL_JOB_STATES: frozenset[JobState] = frozenset({_J.ACCEPTED, _J.FAILED, _J.EXPIRED, _J.AMBIGUOUS, _J.SPLIT, _J.REJECTED, _J.SKIPPED})

JOB_MOVES: Mapping[JobState, frozenset[JobState]] = MappingProxyType(
    {
        _J.PLANNED: frozenset({_J.SENDING}),
        _J.RETRY: frozenset({_J.SENDING}),
        # the holder of the claim writes the outcome, or puts the job back; an attempt that died
        # holding it past its lease is recorded ambiguous by the next delivery
        _J.SENDING: frozenset({_J.RETRY, *FINAL_JOB_STATES}),
        # `relay redrive`: a dead-lettered job is sent again
        _J.FAILED: frozenset({_J.RETRY}),
        _J.ACCEPTED: frozenset(),
        _J.REJECTED: frozenset(),
        _J.EXPIRED: frozenset(),
        _J.AMBIGUOUS: frozenset(),
        _J.SPLIT: frozenset(),
        _J.SKIPPED: frozenset(),
    }
)

# -- sources ----------------------------------------------------------------------------------------
#: the states from which ingest (or the API) may claim a source; a new source has no item yet.
#: A source left `planning` (its read failed) is claimed again by the redelivery.
CLAIMABLE_SOURCE_STATES: tuple[SourceState, ...] = (_S.PLANNING,)
SOURCE_MOVES: Mapping[SourceState, frozenset[SourceState]] = MappingProxyType(
    {
        _S.PLANNING: frozenset({_S.PLANNING, _S.PLANNED}),
        _S.PLANNED: frozenset(),
    }
)

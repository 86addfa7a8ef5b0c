"""The case workflow's contract: what a step must carry, how a case follows its steps
(whatever order they arrive in), and which steps a case refuses."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import (
    CaseAction,
    CaseConflict,
    CaseOutcome,
    CaseState,
    CaseStatus,
    CaseStep,
    Rule,
    case_after,
    check_step,
)
from tests.factories import CASE_T0

BASE = {
    "step_id": "CASE-1",
    "alert_id": "ALR-1",
    "shipment_id": "SHP-1",
    "rule": Rule.ROUTE_DEVIATION,
    "actor": "Trần Thị Bình",
    "via": "cli:binh",
    "at": CASE_T0,
}


def step(**fields) -> CaseStep:
    return CaseStep(**{**BASE, **fields})


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"action": "close"}, "close needs an outcome"),
        ({"action": "acknowledge", "outcome": "confirmed"}, "acknowledge takes no outcome"),
        ({"action": "transfer", "note": "xem"}, "transfer needs to_locality"),
        ({"action": "transfer", "to_locality": "HP", "note": "  "}, "transfer needs a note"),
        ({"action": "transfer", "to_locality": "XX", "note": "x"}, "unknown locality code 'XX'"),
        ({"action": "close", "outcome": "maybe"}, "outcome"),
        ({"action": "acknowledge", "to_locality": "HP"}, "acknowledge takes no locality"),
        ({"action": "acknowledge", "at": datetime(2026, 11, 25, 9)}, "timezone"),
        ({"action": "acknowledge", "actor": ""}, "actor"),
        ({"action": "acknowledge", "note": "x" * 2001}, "note"),
        ({"action": "reopen"}, "action"),
    ],
)
def test_a_step_that_does_not_fit_its_action_is_refused_with_the_reason(fields, problem):
    with pytest.raises(ValidationError) as err:
        step(**fields)
    assert problem in str(err.value)


def test_each_action_gives_its_status_and_a_close_its_outcome():
    assert case_after(CaseState(), step(action="acknowledge")).status == CaseStatus.ACKNOWLEDGED
    closed = case_after(CaseState(), step(action="close", outcome="false_alarm"))
    assert (closed.status, closed.outcome) == (CaseStatus.CLOSED, CaseOutcome.FALSE_ALARM)
    moved = case_after(CaseState(), step(action="transfer", to_locality="HP", note="n"))
    assert (moved.status, moved.assigned_to) == (CaseStatus.TRANSFERRED, "HP")
    # acknowledged by the receiving task force: still theirs
    taken = case_after(
        moved, step(step_id="CASE-2", action="acknowledge", at=CASE_T0.replace(minute=5))
    )
    assert (taken.status, taken.assigned_to, taken.last_actor) == (
        CaseStatus.ACKNOWLEDGED,
        "HP",
        "Trần Thị Bình",
    )


ACTIONS = st.sampled_from(
    [
        {"action": "acknowledge"},
        {"action": "transfer", "to_locality": "HP", "note": "n"},
        {"action": "transfer", "to_locality": "LS", "note": "n"},
        {"action": "close", "outcome": "confirmed"},
        {"action": "close", "outcome": "false_alarm"},
    ]
)


@given(
    st.lists(st.tuples(ACTIONS, st.integers(0, 5)), min_size=1, max_size=6),
    st.randoms(use_true_random=False),
)
def test_a_case_ends_the_same_whatever_order_its_steps_arrive_in_and_repeats_change_nothing(
    specs, rnd
):
    steps = [
        step(step_id=f"CASE-{i}", at=CASE_T0.replace(minute=minute), **fields)
        for i, (fields, minute) in enumerate(specs)
    ]
    in_order = CaseState()
    for s in sorted(steps, key=lambda s: s.order):
        in_order = case_after(in_order, s)
    shuffled = steps + rnd.sample(steps, len(steps))  # every step again, as a redelivery
    rnd.shuffle(shuffled)
    state = CaseState()
    for s in shuffled:
        state = case_after(state, s)
    assert state == in_order
    latest = max(steps, key=lambda s: s.order)
    assert state.last_step_id == latest.step_id
    transfers = [s for s in steps if s.action == CaseAction.TRANSFER]
    expected = max(transfers, key=lambda s: s.order).to_locality if transfers else None
    assert state.assigned_to == expected


def test_a_closed_case_takes_no_further_step():
    closed = case_after(CaseState(), step(action="close", outcome="confirmed"))
    for action in CaseAction:
        with pytest.raises(CaseConflict, match=r"closed \(confirmed\) by Trần Thị Bình"):
            check_step(closed, action, "HP", "ALR-1")


def test_no_second_acknowledgement_nor_a_transfer_to_whoever_has_it():
    acked = case_after(CaseState(), step(action="acknowledge"))
    with pytest.raises(CaseConflict, match="already acknowledged by Trần Thị Bình"):
        check_step(acked, CaseAction.ACKNOWLEDGE)
    moved = case_after(
        acked,
        step(
            step_id="CASE-2",
            action="transfer",
            to_locality="HP",
            note="n",
            at=CASE_T0.replace(minute=1),
        ),
    )
    check_step(moved, CaseAction.ACKNOWLEDGE)  # the receiving task force acknowledges
    with pytest.raises(CaseConflict, match="already with HP"):
        check_step(moved, CaseAction.TRANSFER, "HP")
    check_step(moved, CaseAction.TRANSFER, "LS")  # on to another one
    for state, action in itertools.product([CaseState(), acked, moved], [CaseAction.CLOSE]):
        check_step(state, action)

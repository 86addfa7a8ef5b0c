"""Event time: unexplained stops against the watermark, late events, and arrival-order
independence within the allowed lateness."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.simulation import SimulationConfig, Simulator
from schemas import AlertStatus, Rule, load_registry, parse_event
from streams import load_detection_config
from streams.context import DetectionContext
from streams.handler import DetectionHandler, DictStore, ListSink, PartitionDetector
from streams.rules import View, open_leg_deadline
from tests.factories import ROUTE, declaration, scan

REG = load_registry()
CONFIG = load_detection_config()
LATENESS = timedelta(minutes=CONFIG.event_time.allowed_lateness_minutes)


def handler():
    return DetectionHandler(DictStore(), ListSink(), CONFIG, REG)


def stop_alerts(sink):
    return [a for a in sink.alerts if a.rule == Rule.UNEXPLAINED_STOP]


def _journey_to(minutes_at_chilang):
    decl = declaration()
    return decl, [
        decl,
        scan(decl.shipment_id, ROUTE[0], 10),
        scan(decl.shipment_id, ROUTE[1], minutes_at_chilang),
    ]


def test_a_gap_longer_than_the_leg_budget_is_an_unexplained_stop():
    decl, events = _journey_to(0)
    h = handler()
    for ev in events[:2]:
        h.handle(ev)
    state = h.store.get(decl.shipment_id)
    deadline = open_leg_deadline(View(state, CONFIG, REG))
    # budget after a border gate (scanned at 08:10): road km at 30 km/h + 3 h slack + 6 h
    # of queue and clearance; no night is reached
    km = REG.road_distance_km(ROUTE[0], ROUTE[1])
    assert deadline - events[1].occurred_at == timedelta(hours=km / 30 + 3 + 6)
    on_time = events[2].model_copy(update={"occurred_at": deadline})
    h.handle(on_time)
    assert stop_alerts(h.sink) == []
    late = handler()
    for ev in [
        *events[:2],
        on_time.model_copy(update={"occurred_at": deadline + timedelta(minutes=1)}),
    ]:
        late.handle(ev)
    (alert,) = stop_alerts(late.sink)
    assert alert.evidence[0].event_id == events[1].event_id  # last seen before the stop


def test_the_watermark_alone_reveals_a_stop_without_new_events_of_that_shipment():
    decl, events = _journey_to(60)
    h = handler()
    for ev in events[:2]:
        h.handle(ev)
    deadline = open_leg_deadline(View(h.store.get(decl.shipment_id), CONFIG, REG))
    other = declaration()  # other traffic of the same partition moves event time on
    h.handle(other.model_copy(update={"occurred_at": deadline + LATENESS - timedelta(minutes=1)}))
    assert stop_alerts(h.sink) == []
    h.handle(
        other.model_copy(
            update={"event_id": "X2", "occurred_at": deadline + LATENESS + timedelta(minutes=1)}
        )
    )
    (alert,) = stop_alerts(h.sink)
    assert alert.shipment_id == decl.shipment_id and "due by" in alert.evidence[0].detail


def test_a_partition_is_judged_only_against_the_watermark_it_is_given():
    decl, events = _journey_to(60)
    detector = PartitionDetector(DictStore(), ListSink(), CONFIG, REG, DetectionContext(REG))
    for ev in events[:2]:
        detector.handle(ev)
    deadline = open_leg_deadline(View(detector.store.get(decl.shipment_id), CONFIG, REG))
    # later events of its own partition do not move it: only the marks of every input do
    detector.handle(declaration(occurred_at=deadline + timedelta(days=5)))
    assert stop_alerts(detector.sink) == []
    detector.advance(deadline - timedelta(minutes=1))
    assert stop_alerts(detector.sink) == []
    detector.advance(deadline + timedelta(minutes=1))
    (alert,) = stop_alerts(detector.sink)
    assert alert.shipment_id == decl.shipment_id
    detector.advance(deadline)  # never back
    assert detector.watermark == deadline + timedelta(minutes=1)


def test_a_seizure_explains_the_stop():
    from schemas import GoodsCategory, SeizureReason, SeizureRecorded

    decl, events = _journey_to(60)
    seizure = SeizureRecorded(
        event_id="Z1", occurred_at=events[1].occurred_at + timedelta(minutes=30),
        checkpoint_id=ROUTE[0], shipment_id=decl.shipment_id, seizure_id="BB-1",
        reason=SeizureReason.COUNTERFEIT,
        goods=[{"category": GoodsCategory.MEDICINE, "quantity": 10, "unit": "thùng"}],
    )  # fmt: skip
    h = handler()
    for ev in [*events[:2], seizure]:
        h.handle(ev)
    h.handle(declaration(occurred_at=events[1].occurred_at + timedelta(days=3)))
    assert stop_alerts(h.sink) == []


def test_an_event_older_than_the_watermark_is_recorded_and_marked_late():
    decl = declaration()
    off = scan(decl.shipment_id, "TN-THAINGUYEN", 100)
    h = handler()
    h.handle(decl)
    h.handle(declaration(occurred_at=off.occurred_at + LATENESS + timedelta(hours=1)))
    h.handle(off)  # arrives after the watermark passed it
    state = h.store.get(decl.shipment_id)
    assert off.event_id in state.late_event_ids
    (alert,) = [a for a in h.sink.alerts if a.rule == Rule.ROUTE_DEVIATION]
    assert alert.evidence[0].late is True


def _final(events, order_key):
    h = DetectionHandler(DictStore(), ListSink(), CONFIG, REG)
    for ev in sorted(events, key=order_key):
        h.handle(ev)
    final = {}
    for alert in h.sink.alerts:
        final[(alert.shipment_id, alert.rule)] = (
            alert.status,
            sorted(e.event_id for e in alert.evidence),
            any(e.late for e in alert.evidence),
        )
    return {k: v for k, v in final.items() if v[0] == AlertStatus.OPEN}


# enough seizures in two days for links and hot corridors (the rules that wait for the
# global low watermark), besides the rules of one shipment
MIX = SimulationConfig(
    shipments=120, seed=5, days=2, crackdowns=3, crackdown_days=2, seizure_share=0.3
)
EVENTS = [parse_event(e.line) for e in Simulator(MIX).events()]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_shuffling_within_the_allowed_lateness_gives_the_same_alerts(seed):
    rng = random.Random(seed)
    delay = {ev.event_id: rng.uniform(0, 0.95) * LATENESS for ev in EVENTS}
    in_order = _final(EVENTS, lambda ev: (ev.occurred_at, ev.event_id))
    shuffled = _final(EVENTS, lambda ev: (ev.occurred_at + delay[ev.event_id], ev.event_id))
    assert shuffled == in_order
    rules = {rule for _, rule in in_order}  # the mix raises alerts to compare
    assert {Rule.LINKED_TO_OFFENDER, Rule.HIGH_RISK_CORRIDOR} <= rules

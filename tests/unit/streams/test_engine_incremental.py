"""What a judgement extends from the last one (ShipmentState.derived: impossible pairs,
legs) gives the same as deriving everything again, on a mix with shuffled and late
events, corrections and second declarations; and the legs rule's pieces agree with the
legs derived from scratch."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import StreamHeartbeat, load_registry
from streams import load_detection_config, process
from streams.handler import DetectionHandler, DictStore, ListSink
from streams.rules import View
from streams.rules.movement import impossible_pairs
from streams.rules.timing import legs, legs_so_far, open_leg
from tests.factories import ROUTE, T0, correction, declaration, scan
from tests.unit.streams.test_engine_golden import RECORDS

REG, CONFIG = load_registry(), load_detection_config()
PLACES = [*ROUTE, "TN-THAINGUYEN", "NB-GIANKHAU", "LS-DONGKINH", "HP-DINHVU"]


def _alerts(records: list, forget: bool) -> tuple[list[str], list[str]]:
    store, sink = DictStore(), ListSink()
    handler = DetectionHandler(store, sink, CONFIG, REG)
    for record in records:
        if isinstance(record, StreamHeartbeat):
            handler.tick(record.occurred_at)
        else:
            handler.handle(record)
        if forget:  # every judgement derives everything again
            for state in store.states.values():
                state.derived = None
    said = [alert.model_dump_json() for alert in sink.alerts]
    return said, [repr(store.states[sid]) for sid in sorted(store.states)]


def test_extending_the_last_judgement_gives_what_deriving_again_gives():
    assert _alerts(RECORDS[:3000], forget=False) == _alerts(RECORDS[:3000], forget=True)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(PLACES), st.integers(-120, 600), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    seed=st.integers(0, 1000),
)
def test_pairs_and_legs_extended_match_those_derived_from_scratch(steps, seed):
    rng = random.Random(seed)
    decl = declaration()
    events = [decl]
    for i, (place, minutes, weighed) in enumerate(steps):
        weight = {"observed_weight_kg": 1800 * rng.uniform(0.8, 1.2)} if weighed else {}
        events.append(scan(decl.shipment_id, place, 30 * i + minutes, **weight))
    if rng.random() < 0.3:
        events.append(correction(rng.choice(events[1:]), minutes=30 * len(steps) + 60))
    if rng.random() < 0.3:
        events.insert(rng.randrange(1, len(events)), declaration(
            shipment_id=decl.shipment_id, occurred_at=T0 + timedelta(minutes=5)
        ))  # fmt: skip
    state = None
    for event in events:
        state = process(state, event, CONFIG, REG, T0 + timedelta(minutes=rng.randint(0, 900)))
        state = state.state
        extended = View(state, CONFIG, REG)
        fresh_state = state.copy()
        fresh_state.derived = None
        fresh = View(fresh_state, CONFIG, REG)
        assert impossible_pairs(extended) == impossible_pairs(fresh)
        assert legs_so_far(extended) == legs_so_far(fresh)
        assert open_leg(extended) == open_leg(fresh)
        whole = legs(fresh)
        late = [
            leg
            for leg in whole
            if leg.end is not None and leg.end - leg.start.occurred_at > leg.budget
        ]
        so_far = legs_so_far(extended)
        assert list(so_far.late if so_far else []) == late
        assert (whole[-1] if whole and whole[-1].end is None else None) == open_leg(extended)

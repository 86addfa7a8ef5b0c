"""Whatever arrives, the contract answers with an event or an InvalidEventError: never a
crash (the worker relies on this to dead-letter instead of dying)."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EVENT_TYPES, InvalidEventError, parse_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
fields = st.sampled_from(
    ["event_id", "event_type", "schema_version", "occurred_at", "checkpoint_id", "shipment_id",
     "direction", "observed_weight_kg", "goods", "declared_route", "corrected_event_id"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    event_type=st.sampled_from([*EVENT_TYPES, "nope"]),
    values=st.dictionaries(fields, json_values, max_size=8),
)
def test_any_json_object_gives_an_event_or_a_clear_rejection(event_type, values):
    raw = json.dumps({"event_type": event_type, **values})
    try:
        parse_event(raw)
    except InvalidEventError as exc:
        assert exc.reason
        assert all(p["field"] and p["error"] for p in exc.problems)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_an_event_or_a_clear_rejection(raw):
    try:
        parse_event(raw)
    except InvalidEventError as exc:
        assert exc.reason

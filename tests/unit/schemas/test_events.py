import json
from datetime import timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import InvalidEventError, event_to_json, parse_event
from tests.factories import ROUTE, declaration, scan


def test_declaration_round_trips_through_json():
    decl = declaration()
    assert parse_event(event_to_json(decl)) == decl


def test_event_keeps_its_own_utc_offset():
    ev = scan("SHP-1", "LS-HUUNGHI")
    parsed = parse_event(event_to_json(ev))
    assert parsed.occurred_at.utcoffset() == timedelta(hours=7)


def _raw(**changes):
    data = json.loads(event_to_json(scan("SHP-1", "LS-HUUNGHI")))
    data.update(changes)
    return json.dumps(data).encode()


def test_naive_timestamp_is_rejected_naming_the_field():
    with pytest.raises(InvalidEventError) as err:
        parse_event(_raw(occurred_at="2026-11-25T08:00:00"))
    assert err.value.problems == [
        {"field": "occurred_at", "error": "Input should have timezone info"}
    ]


def test_unknown_checkpoint_is_rejected_naming_it():
    with pytest.raises(InvalidEventError) as err:
        parse_event(_raw(checkpoint_id="XX-NOWHERE"))
    assert "checkpoint_id" in err.value.reason
    assert "XX-NOWHERE" in err.value.reason


def test_missing_fields_are_each_named():
    with pytest.raises(InvalidEventError) as err:
        parse_event(b'{"event_type": "checkpoint.scanned"}')
    fields = {p["field"] for p in err.value.problems}
    assert {"event_id", "occurred_at", "checkpoint_id", "shipment_id", "direction"} <= fields


def test_unknown_event_type_names_event_type():
    with pytest.raises(InvalidEventError) as err:
        parse_event(_raw(event_type="shipment.teleported"))
    assert err.value.problems[0]["field"] == "event_type"


@pytest.mark.parametrize("payload", [b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b""])
def test_non_objects_are_rejected_with_a_reason(payload):
    with pytest.raises(InvalidEventError) as err:
        parse_event(payload)
    assert err.value.reason.startswith(("not JSON", "not a JSON object"))


def test_unknown_fields_are_ignored_for_forward_compatibility():
    ev = parse_event(_raw(added_in_a_later_revision={"x": 1}))
    assert ev.checkpoint_id == "LS-HUUNGHI"


def test_other_schema_version_is_rejected():
    with pytest.raises(InvalidEventError) as err:
        parse_event(_raw(schema_version=2))
    assert err.value.problems[0]["field"] == "schema_version"


def test_declared_route_must_name_known_checkpoints():
    data = json.loads(event_to_json(declaration()))
    data["declared_route"] = [*ROUTE[:2], "NOPE"]
    with pytest.raises(InvalidEventError) as err:
        parse_event(json.dumps(data))
    assert err.value.problems[0]["field"] == "declared_route.2"  # the very item


@given(
    minutes=st.integers(min_value=-(10**6), max_value=10**6),
    offset_hours=st.integers(min_value=-12, max_value=14),
    checkpoint=st.sampled_from(ROUTE),
)
def test_any_aware_scan_round_trips(minutes, offset_hours, checkpoint):
    tz = timezone(timedelta(hours=offset_hours))
    ev = scan("SHP-H", checkpoint, minutes=minutes)
    ev = ev.model_copy(update={"occurred_at": ev.occurred_at.astimezone(tz)})
    back = parse_event(event_to_json(ev))
    assert back == ev
    assert back.occurred_at.utcoffset() == timedelta(hours=offset_hours)

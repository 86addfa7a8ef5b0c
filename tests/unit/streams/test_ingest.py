"""The ingest stage's verdicts: every record gets exactly one, hostile input is rejected
with a reason and never raises, and only believable event times move a partition's time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import event_to_json, load_registry
from streams import load_detection_config, process
from streams.ingest import Ingest, InputRecord
from streams.records import Mark
from streams.topics import Topics
from tests.factories import T0, case_step, declaration, scan

TOPICS = Topics()
CONFIG = load_detection_config()
LATENESS = timedelta(minutes=CONFIG.event_time.allowed_lateness_minutes)
RECEIVED = T0 + timedelta(hours=1)


def record(value: bytes | None, partition: int = 0, offset: int = 0, received=RECEIVED):
    return InputRecord(
        TOPICS.checkpoint_events,
        partition,
        offset,
        b"k",
        value,
        None if received is None else int(received.timestamp() * 1000),
    )


def heartbeat(at: datetime) -> bytes:
    return json.dumps(
        {"event_type": "stream.heartbeat", "occurred_at": at.isoformat(), "source": "t"}
    ).encode()


def test_an_event_passes_and_moves_its_partition_time():
    decl = declaration()
    out = Ingest(TOPICS, CONFIG).take([record(event_to_json(decl), partition=3)])
    assert [ev for _, ev in out.events] == [decl]
    assert out.marks == [Mark(3, decl.occurred_at - LATENESS)]
    assert out.rejected == []


def test_a_heartbeat_moves_time_and_is_not_passed_on():
    ingest = Ingest(TOPICS, CONFIG)
    out = ingest.take([record(heartbeat(T0), partition=1), record(heartbeat(T0), partition=2)])
    assert out.events == [] and out.rejected == []
    assert out.marks == [Mark(1, T0 - LATENESS), Mark(2, T0 - LATENESS)]
    assert ingest.take([record(heartbeat(T0 - timedelta(hours=1)), partition=1)]).marks == []


HOSTILE = {
    b"": "empty record",
    None: "empty record",
    b"[" * 100_000: "not JSON",
    b'{"event_id": ' + b"9" * 5000 + b"}": "not JSON",
    b"\xff\xfe\x00garbage": "not JSON",
    b"[1, 2]": "not a JSON object",
    b'{"event_type": "shipment.exploded"}': "invalid event",
    b'"just a string"': "not a JSON object",
}


def test_hostile_records_are_rejected_with_a_reason():
    out = Ingest(TOPICS, CONFIG).take([record(value, offset=i) for i, value in enumerate(HOSTILE)])
    assert out.events == [] and out.marks == []
    assert [r.record.offset for r in out.rejected] == list(range(len(HOSTILE)))
    for rejected, expected in zip(out.rejected, HOSTILE.values(), strict=True):
        assert rejected.reason.startswith(expected), rejected.reason


def test_times_that_cannot_be_right_are_rejected_and_move_nothing():
    decl = declaration()
    bad = {
        "in year 9999": decl.occurred_at.replace(year=9999),
        "in year 1": datetime(1, 1, 1, tzinfo=UTC),
        "at UTC+15:00": decl.occurred_at.astimezone(timezone(timedelta(hours=15))),
        "25 h after it was received": RECEIVED + timedelta(hours=25),
    }
    events = [decl.model_copy(update={"occurred_at": at}) for at in bad.values()]
    ingest = Ingest(TOPICS, CONFIG)
    out = ingest.take([record(event_to_json(ev), offset=i) for i, ev in enumerate(events)])
    assert out.events == [] and out.marks == [] and ingest.stream_time == {}
    reasons = [r.reason for r in out.rejected]
    assert "year 9999 is outside 2000..2099" in reasons[0]
    assert "year 1 is outside" in reasons[1]
    assert "UTC offset +15:00 is outside -12:00..+14:00" in reasons[2]
    assert "25.0 h after the broker received it" in reasons[3]
    # without a receive time (a CreateTime of -1), the horizon is not applied
    fine = decl.model_copy(update={"occurred_at": RECEIVED + timedelta(hours=25)})
    assert Ingest(TOPICS, CONFIG).take([record(event_to_json(fine), received=None)]).events


def an_alert():
    decl = declaration()
    state, alerts = None, []
    for ev in (decl, scan(decl.shipment_id, "TN-THAINGUYEN", 60)):
        outcome = process(state, ev, CONFIG, load_registry())
        state, alerts = outcome.state, alerts + outcome.alerts
    return alerts[0]


def test_case_steps_pass_and_bad_ones_are_rejected():
    step = case_step(an_alert(), "acknowledge")
    cases = TOPICS.alert_cases
    out = Ingest(TOPICS, CONFIG).take(
        [
            InputRecord(cases, 0, 0, None, step.model_dump_json().encode()),
            InputRecord(cases, 0, 1, None, b'{"step_id": 1}'),
            InputRecord(cases, 0, 2, None, None),
        ]
    )
    assert [s for _, s in out.cases] == [step]
    assert [r.reason.split(":")[0] for r in out.rejected] == [
        "invalid case step",
        "empty case step",
    ]
    assert out.marks == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300) | st.none(), max_size=20))
def test_any_bytes_get_exactly_one_verdict_and_never_raise(values):
    good = event_to_json(scan("SHP-1", "LS-HUUNGHI", 10))
    records = [record(v, offset=i) for i, v in enumerate([*values, good])]
    out = Ingest(TOPICS, CONFIG).take(records)
    seen = [r.offset for r, _ in out.events] + [r.record.offset for r in out.rejected]
    assert sorted(seen) == list(range(len(records)))
    assert out.events[-1][0].offset == len(values)

"""The detection stage on one partition, without Kafka: records in the partition's order
(events, case steps, watermark marks), judgements against the watermark that the marks of
every input give, state written once per batch, and a restart from that state giving the
same alerts."""

from __future__ import annotations

from datetime import timedelta

from schemas import AlertStatus, Rule, event_to_json, load_registry
from streams import load_detection_config
from streams.context import DetectionContext
from streams.detect import PROGRESS_KEY, PartitionTask
from streams.records import CASE, EVENT, WATERMARK, Mark, WatermarkVector, mark_record
from tests.factories import ROUTE, T0, declaration, scan

REG, CONFIG = load_registry(), load_detection_config()
SOURCES = 3


def task(context=None):
    return PartitionTask(0, CONFIG, REG, context or DetectionContext(REG), SOURCES)


def mark(source, at):
    return WATERMARK, mark_record(Mark(source, at))[1], ""


def marks(at):
    return [mark(source, at) for source in range(SOURCES)]


def event(ev):
    return EVENT, event_to_json(ev), f"checkpoint-events/0/{ev.event_id}"


def stopped_journey():
    """A shipment seen at the border and then nowhere: an unexplained stop once the
    watermark passes its leg's deadline (well within a day)."""
    decl = declaration()
    return decl, [event(decl), event(scan(decl.shipment_id, ROUTE[0], 10))]


def feed(t, records):
    for kind, value, source in records:
        t.take(kind, value, source)


def test_the_watermark_is_the_lowest_mark_of_every_input():
    vector = WatermarkVector.empty(3)
    assert vector.update(Mark(0, T0)) and vector.watermark is None  # not all inputs yet
    vector.update(Mark(1, T0 + timedelta(hours=2)))
    vector.update(Mark(2, T0 + timedelta(hours=1)))
    assert vector.watermark == T0
    assert not vector.update(Mark(0, T0 - timedelta(hours=1)))  # a mark never goes back
    vector.update(Mark(0, T0 + timedelta(hours=3)))
    assert vector.watermark == T0 + timedelta(hours=1)
    assert WatermarkVector.from_json(vector.to_json()) == vector


def test_a_stop_is_found_only_when_every_input_has_passed_its_deadline():
    decl, journey = stopped_journey()
    t = task()
    feed(t, journey)
    later = T0 + timedelta(days=1)
    feed(t, [mark(0, later), mark(1, later)])  # input 2 has said nothing yet
    assert t.drain().alerts == []
    feed(t, [mark(2, later)])
    out = t.drain()
    assert [(a.shipment_id, a.rule) for a in out.alerts] == [
        (decl.shipment_id, Rule.UNEXPLAINED_STOP)
    ]
    assert out.state[-1][0] == PROGRESS_KEY.encode()  # written last


def test_state_is_written_once_per_batch_and_a_restart_gives_the_same_alerts():
    decl, journey = stopped_journey()
    more = [event(scan(decl.shipment_id, ROUTE[1], 60 * 24 * 2))]  # the truck turns up
    whole = task()
    feed(whole, [*journey, *marks(T0 + timedelta(days=1)), *more])
    expected = {a.alert_id: a for a in whole.drain().alerts}

    first = task()
    feed(first, [*journey, *marks(T0 + timedelta(days=1))])
    written = first.drain()
    assert len([k for k, _, _ in written.state if k == decl.shipment_id.encode()]) == 1
    restarted = task()
    for key, value, headers in written.state:
        restarted.restore(key, value, headers)
    restarted.restored()
    feed(restarted, more)
    after = {a.alert_id: a for a in [*written.alerts, *restarted.drain().alerts]}
    assert {k: a.model_dump(exclude={"revision"}) for k, a in after.items()} == {
        k: a.model_dump(exclude={"revision"}) for k, a in expected.items()
    }
    (stop,) = after.values()
    assert stop.status == AlertStatus.OPEN and "until the next scan" in stop.evidence[0].detail


def test_records_it_cannot_process_are_set_aside_with_the_reason():
    t = task()
    feed(
        t,
        [
            (EVENT, b"{not json", "checkpoint-events/1/7"),
            (b"mystery", b"{}", "checkpoint-events/1/8"),
            (CASE, b'{"step_id": 1}', "alert-cases/0/3"),
            (WATERMARK, b"[]", ""),
        ],
    )
    out = t.drain()
    assert [source for source, _, _ in out.rejected] == [
        "checkpoint-events/1/7",
        "checkpoint-events/1/8",
        "alert-cases/0/3",
        "",
    ]
    assert all(r.startswith("detection could not process it") for _, _, r in out.rejected)


def test_a_shipment_is_forgotten_after_the_retention_with_a_tombstone():
    decl = declaration()
    t = task()
    feed(t, [event(decl), *marks(T0 + timedelta(days=1))])
    t.drain()
    assert t.store.get(decl.shipment_id) is not None
    feed(t, marks(T0 + timedelta(days=CONFIG.retention.state_days + 1)))
    out = t.drain()
    assert (decl.shipment_id.encode(), None, []) in out.state
    assert t.store.get(decl.shipment_id) is None

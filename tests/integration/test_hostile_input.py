"""Hostile and odd records, published by a client goodsflow did not write (kcat, an lz4
batch, librdkafka's own partitioner), neither stop the worker nor disappear: each goes to
the dead-letter topic with its reason, a record that fits the broker, its size and SHA-256;
a time that cannot be right moves no clock; the valid events around them are processed."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import time
from datetime import UTC, datetime, timedelta

from schemas import Alert, Rule, event_to_json
from streams.readers import TopicTail
from tests.factories import ROUTE, declaration, scan, unique
from tests.foreign import kcat_produce


def _garbage(size: int) -> bytes:
    rng = random.Random(size)
    return "".join(rng.choices(string.ascii_letters + " {}[]:,", k=size)).encode()


def test_hostile_records_are_dead_lettered_and_move_no_clock(settings, worker):
    decl = declaration()
    sid = decl.shipment_id
    at_border = scan(sid, ROUTE[0], 10)
    good_scan = json.loads(event_to_json(scan(sid, ROUTE[1], 60)))
    now = datetime.now(UTC)

    def shaped(**fields) -> bytes:
        return json.dumps({**good_scan, "event_id": unique("EV"), **fields}).encode()

    hostile = {
        "deep": b"[" * 100_000,
        "big int": b'{"event_id": ' + b"7" * 5000 + b"}",
        "lone surrogate": shaped(observed_plate="\\ud800").replace(b"\\\\ud800", b"\\ud800"),
        "year 9999": shaped(occurred_at="9999-01-01T00:00:00+07:00"),
        "year 0001": shaped(occurred_at="0001-01-01T00:00:00+07:00"),
        "offset +15": shaped(occurred_at="2026-11-25T08:00:00+15:00"),
        "tomorrow and more": shaped(occurred_at=(now + timedelta(hours=30)).isoformat()),
        "900 KB": _garbage(900_000),
    }
    expected_reason = {
        "deep": "not JSON",
        "big int": "not JSON",
        "lone surrogate": "not JSON",
        "year 9999": "occurred_at 9999-01-01",
        "year 0001": "occurred_at 0001-01-01",
        "offset +15": "occurred_at 2026-11-25T08:00:00+15:00",
        "tomorrow and more": "occurred_at",
        "900 KB": "not JSON",
    }
    key = sid.encode()
    with (
        TopicTail(settings.bootstrap_servers, settings.topics.dead_letters) as dlq,
        TopicTail(settings.bootstrap_servers, settings.topics.alerts) as alerts,
    ):
        topic = settings.topics.checkpoint_events
        kcat_produce(settings.bootstrap_servers, topic, [(key, event_to_json(decl))], codec="lz4")
        kcat_produce(
            settings.bootstrap_servers, topic, [(key, v) for v in hostile.values()], codec="lz4"
        )
        # the valid events after them: an off-route scan raises an alert
        off = scan(sid, "TN-THAINGUYEN", 120)
        kcat_produce(
            settings.bootstrap_servers,
            topic,
            [(key, event_to_json(at_border)), (key, event_to_json(off))],
            codec="lz4",
        )
        # event time on every partition: an hour past the last scan (no leg is overdue),
        # and a heartbeat dated 9999 that, accepted, would make every open leg a stop
        for partition in range(6):
            for beat_at in (
                off.occurred_at + timedelta(hours=1),
                off.occurred_at.replace(year=9999),
            ):
                beat = {"event_type": "stream.heartbeat", "occurred_at": beat_at.isoformat(),
                        "source": "test"}  # fmt: skip
                kcat_produce(
                    settings.bootstrap_servers, topic, [(None, json.dumps(beat).encode())],
                    partition=partition, codec="zstd",
                )  # fmt: skip

        def dead_beats(rs):
            return [r for r in rs if r.key is None and b"9999" in r.value]

        dead = dlq.collect(
            lambda rs: (
                len([r for r in rs if r.key == key]) >= len(hostile) and len(dead_beats(rs)) >= 6
            ),
            timeout_s=90,
        )
        raised = alerts.collect(
            lambda rs: any(Alert.model_validate_json(r.value).shipment_id == sid for r in rs),
            timeout_s=90,
        )
        time.sleep(5)  # time for a wrongly moved clock to show as stops
        raised += alerts.poll(1.0)

    assert len(dead_beats(dead)) == 6
    records = [json.loads(r.value) for r in dead if r.key == key]
    assert len(records) == len(hostile), worker.log_tail()
    for (name, payload), record, raw in zip(
        hostile.items(), records, [r for r in dead if r.key == key], strict=True
    ):
        assert record["reason"].startswith(expected_reason[name]), (name, record["reason"])
        assert len(raw.value) <= 1_000_000, name
        assert record["payload_size"] == len(payload), name
        assert record["payload_sha256"] == hashlib.sha256(payload).hexdigest(), name
        assert record["source"]["topic"] == settings.topics.checkpoint_events
        if not record["payload_truncated"]:
            assert base64.b64decode(record["payload_base64"]) == payload, name
    assert records[-1]["payload_truncated"] is True  # 900 KB, base64 and text, would not fit

    ours = [Alert.model_validate_json(r.value) for r in raised]
    ours = [a for a in ours if a.shipment_id == sid]
    rules = {a.rule for a in ours}  # (other tests' seizures may make its corridor hot)
    assert Rule.ROUTE_DEVIATION in rules, worker.log_tail()
    # no clock jumped to 9999: its open leg did not become an unexplained stop
    assert Rule.UNEXPLAINED_STOP not in rules
    assert worker.alive()

"""Bad input on checkpoint-events neither crashes the worker nor disappears: it goes to the
dead-letter topic with the reason, and the next valid event is processed."""

from __future__ import annotations

import base64
import json

from schemas import Alert, event_to_json
from streams.readers import TopicTail
from tests.factories import declaration, scan, unique
from tests.stack import publisher


def test_invalid_messages_are_dead_lettered_and_processing_goes_on(settings, worker):
    key = unique("SHP").encode()
    not_json = b'{"event_id": "broken'
    missing = json.dumps(
        {
            "event_type": "checkpoint.scanned",
            "shipment_id": key.decode(),
            "checkpoint_id": "LS-HUUNGHI",
        }
    ).encode()
    decl = declaration(shipment_id=key.decode())
    off = scan(decl.shipment_id, "NB-GIANKHAU")
    # poisoned: valid JSON and complete, with impossible values
    good = json.loads(event_to_json(scan(decl.shipment_id, "LS-HUUNGHI")))
    negative_weight = json.dumps({**good, "observed_weight_kg": -3180}).encode()
    nowhere = json.dumps({**good, "event_id": unique("EV"), "checkpoint_id": "XX-NOWHERE"}).encode()

    with (
        TopicTail(settings.bootstrap_servers, settings.topics.dead_letters) as dlq,
        TopicTail(settings.bootstrap_servers, settings.topics.alerts) as alerts,
    ):
        with publisher(settings) as kafka:
            kafka.publish_raw(key, not_json)
            kafka.publish_raw(key, missing)
            kafka.publish_raw(key, negative_weight)
            kafka.publish_raw(key, nowhere)
            kafka.publish_all([decl, off])
        dead = dlq.collect(lambda rs: len([r for r in rs if r.key == key]) >= 4, timeout_s=60)
        raised = alerts.collect(lambda rs: any(r.key == key for r in rs), timeout_s=60)

    records = [json.loads(r.value) for r in dead if r.key == key]
    assert len(records) == 4, worker.log_tail()
    broken, incomplete, negative, unknown = records
    assert negative["problems"] == [
        {"field": "observed_weight_kg", "error": "Input should be greater than 0"}
    ]
    assert unknown["problems"][0]["field"] == "checkpoint_id"
    assert "XX-NOWHERE" in unknown["reason"]
    assert broken["reason"].startswith("not JSON")
    assert base64.b64decode(broken["payload_base64"]) == not_json
    assert broken["source"]["topic"] == settings.topics.checkpoint_events
    assert broken["source"]["key"] == key.decode()
    assert incomplete["payload_text"] == missing.decode()
    assert {p["field"] for p in incomplete["problems"]} >= {"event_id", "occurred_at", "direction"}
    assert incomplete["source"]["offset"] == broken["source"]["offset"] + 1

    # the valid events after them were processed: the off-route scan raised its alert
    assert [
        Alert.model_validate_json(r.value).evidence[0].event_id for r in raised if r.key == key
    ] == [off.event_id]
    assert worker.alive()

"""Detection state written by an older version still reads (the state topic keeps it
across upgrades), what cannot be read is dropped for that shipment (and reported), not
fatal, and the store writes each changed shipment once, with its timers beside it."""

import json
from datetime import datetime

from schemas import VIETNAM_TZ, load_registry
from streams import load_detection_config
from streams.detect import ShipmentStore
from streams.handler import Timers
from streams.state import ShipmentState, decode_state

REG, CONFIG = load_registry(), load_detection_config()

# As stored by the first release (no localities on emitted alerts, no checkpoint or weight
# on declarations, no event-time fields).
FIRST_RELEASE = {
    "shipment_id": "SHP-OLD",
    "declarations": [{
        "event_id": "E1", "occurred_at": "2026-11-25T08:00:00+07:00",
        "route": ["LS-HUUNGHI", "BN-TUSON"], "origin_country": "CN",
        "categories": ["food"], "destination_locality": "HN",
    }],
    "scans": [{"event_id": "E2", "checkpoint_id": "LS-HUUNGHI",
               "occurred_at": "2026-11-25T09:00:00+07:00"}],
    "emitted": {"ALR-x": {"revision": 1, "evidence_ids": ["E2"]}},
}  # fmt: skip


def test_first_release_state_reads():
    state = decode_state(json.dumps(FIRST_RELEASE).encode())
    assert state.declaration is not None and state.declaration.weight_kg == 0.0
    assert state.emitted["ALR-x"].localities == []
    assert state.emitted["ALR-x"].fingerprint == ""  # re-sent once when next judged
    assert state.state_version == 1


def test_state_without_timer_headers_is_read_to_schedule_it():
    store = ShipmentStore(CONFIG, REG)
    store.restore("SHP-OLD", json.dumps(FIRST_RELEASE).encode(), [])
    ((sid, timers),) = store.timers()
    assert sid == "SHP-OLD" and timers.deadline is not None  # the open leg after E2


def test_unreadable_state_is_dropped_for_that_shipment_not_fatal():
    store = ShipmentStore(CONFIG, REG)
    store.restore("SHP-OLD", json.dumps(FIRST_RELEASE).encode(), [])
    bad = json.dumps({"shipment_id": 5, "scans": "nope"}).encode()
    store.restore("SHP-BAD", bad, [("gf-last", b"2026-11-25T09:00:00+07:00")])
    assert store.get("SHP-BAD") is None
    assert [sid for sid, _ in store.unreadable] == ["SHP-BAD"]
    assert [sid for sid, _ in store.timers()] == ["SHP-OLD"]
    assert store.get("SHP-OLD") is not None


def test_changes_write_each_shipment_once_with_its_timers_and_tombstones():
    store = ShipmentStore(CONFIG, REG)
    at = datetime(2026, 11, 25, 9, tzinfo=VIETNAM_TZ)
    timers = Timers(deadline=at, awaits=None, last_event_at=at)
    for _ in range(3):
        store.set("SHP-A", ShipmentState(shipment_id="SHP-A"), timers)
    store.set("SHP-B", ShipmentState(shipment_id="SHP-B"), timers)
    store.delete("SHP-B")
    changes = list(store.changes())
    assert [(key, value is None) for key, value, _ in changes] == [
        (b"SHP-A", False),
        (b"SHP-B", True),
    ]
    restored = ShipmentStore(CONFIG, REG)
    for key, value, headers in changes:
        restored.restore(key.decode(), value, headers)
    assert dict(restored.timers()) == {"SHP-A": timers}  # read back without decoding
    assert list(store.changes()) == []

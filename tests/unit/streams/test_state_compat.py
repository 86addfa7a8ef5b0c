"""Detection state written by an older version still reads (the Faust table keeps it
across upgrades), and what cannot be read is dropped for that shipment, not fatal."""

from streams.agents import FaustTableStore
from streams.state import ShipmentState

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
    state = ShipmentState.model_validate(FIRST_RELEASE)
    assert state.declaration is not None and state.declaration.weight_kg == 0.0
    assert state.emitted["ALR-x"].localities == []
    assert state.state_version == 1


def test_unreadable_state_is_dropped_for_that_shipment_not_fatal():
    table = {"SHP-OLD": FIRST_RELEASE, "SHP-BAD": {"shipment_id": 5, "scans": "nope"}}
    store = FaustTableStore(table, lambda _: 0)
    assert store.get("SHP-BAD") is None
    assert [key for key, _ in store.items()] == ["SHP-OLD"]


class FakeChangelogTable(dict):
    """A Faust table's local store and changelog sends."""

    def __init__(self) -> None:
        super().__init__()
        self.data = self
        self.sent: list[tuple[int, str]] = []

    def send_changelog(self, partition: int, key: str, value: object) -> None:
        self.sent.append((partition, key))


def test_state_goes_to_the_changelog_partition_of_its_own_shipment():
    table = FakeChangelogTable()
    store = FaustTableStore(table, {"SHP-A": 4, "SHP-B": 1}.__getitem__)
    for sid in ("SHP-A", "SHP-B"):
        store.set(sid, ShipmentState(shipment_id=sid))
    assert table.sent == [(4, "SHP-A"), (1, "SHP-B")]
    assert store.get("SHP-B") == ShipmentState(shipment_id="SHP-B")

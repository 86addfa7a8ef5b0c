"""Rings and brokers on a hand-built world: two rings of parties, each sharing a truck and
a driver, and one driver who worked for both."""

from graph.analytics import find_rings
from graph.results import ShipmentEntities


def _shipment(
    n: int, shipper: str, consignee: str, plate: str, driver: str, **kw
) -> ShipmentEntities:
    entities = [("party", shipper), ("party", consignee), ("vehicle", plate), ("driver", driver)]
    return ShipmentEntities(
        shipment_id=f"S{n:02d}", event_id=f"S{n:02d}-d", entities=entities,
        seizures=kw.get("seizures", 0), alerts=kw.get("alerts", 0),
    )  # fmt: skip


ROWS = [
    # ring A: shippers A1..A3 to consignee CA, truck 11A, driver DA; one shipment seized
    _shipment(1, "A1", "CA", "11A", "DA", seizures=1),
    _shipment(2, "A2", "CA", "11A", "DA"),
    _shipment(3, "A3", "CA", "11A", "DA"),
    _shipment(4, "A1", "CA", "11A", "DA"),
    # ring B: shippers B1..B3 to consignee CB, truck 22B, driver DB; one open alert
    _shipment(5, "B1", "CB", "22B", "DB", alerts=1),
    _shipment(6, "B2", "CB", "22B", "DB"),
    _shipment(7, "B3", "CB", "22B", "DB"),
    _shipment(8, "B2", "CB", "22B", "DB"),
    # the broker: driver X drove once for each ring
    _shipment(9, "A2", "CA", "11A", "X"),
    _shipment(10, "B1", "CB", "22B", "X"),
]


def test_two_rings_ranked_by_seizures_then_alerts():
    report = find_rings(ROWS)
    assert report.entities == 13
    assert len(report.rings) == 2
    first, second = report.rings
    assert {m.entity for m in first.members} >= {"party:A1", "party:CA", "vehicle:11A"}
    assert (first.seized_shipments, first.alerted_shipments) == (1, 0)
    assert (second.seized_shipments, second.alerted_shipments) == (0, 1)
    assert first.score > second.score
    truck = next(m for m in first.members if m.entity == "vehicle:11A")
    assert "S01-d" in truck.event_ids  # the evidence: declarations that tie it in


def test_the_driver_between_the_rings_is_the_top_broker():
    report = find_rings(ROWS)
    top = report.brokers[0]
    assert top.entity == "driver:X" and top.rings == [1, 2]


def test_the_same_rows_give_the_same_report_and_small_groups_are_no_ring():
    assert find_rings(ROWS) == find_rings(list(reversed(ROWS)))
    lonely = [_shipment(20, "L1", "L2", "99L", "DL")]
    assert find_rings(lonely, min_size=5).rings == []
    assert find_rings([]).rings == []

"""The investigator queries against the real Neo4j, on a small graph written by the
writer: a shipment with a retracted passage and an alert, a second shipment sharing its
driver and seized with its vehicle, a third consigned to the same party."""

from __future__ import annotations

from datetime import timedelta

import pytest

from graph.exceptions import GraphUnavailable, NotFound, QueryError
from graph.queries import Neo4jQueries
from schemas import load_registry
from tests.factories import ROUTE
from tests.graph_world import World, build_world

REG = load_registry()


@pytest.fixture
def world(neo4j_driver, settings, event_time_window, monkeypatch) -> World:
    return build_world(neo4j_driver, settings, monkeypatch)


@pytest.fixture
def queries(neo4j_driver, settings):
    return Neo4jQueries(neo4j_driver, settings.neo4j.database, timeout_s=10)


def test_trace_gives_the_route_in_order_with_alerts_and_a_map(world, queries):
    trace = queries.trace(world.a.shipment_id)
    assert [p.checkpoint_id for p in trace.passages] == [*ROUTE, "TN-THAINGUYEN"]
    assert [p.retracted for p in trace.passages] == [p is world.retracted for p in _scans(world)]
    assert trace.passages[0].occurred_at == world.t0
    assert trace.declared_weight_kg == float(world.a.total_weight_kg)
    (alert,) = trace.alerts
    assert alert.rule == "route_deviation" and alert.alert_id == world.alerts[-1].alert_id
    assert set(alert.evidence_event_ids) <= {ev.event_id for ev in world.a_events}
    geo = trace.geojson(REG)
    line, *points = geo["features"]
    assert len(points) == len(ROUTE)  # the retracted passage is not on the map
    hu = REG.checkpoint(ROUTE[0])
    assert line["geometry"]["coordinates"][0] == [hu.lon, hu.lat]
    assert "LS" in trace.localities and trace.localities[-1] == "TN"


def _scans(world):
    return [ev for ev in world.a_events if ev.event_type == "checkpoint.scanned"]


def test_trace_of_an_unknown_shipment_is_not_found(queries):
    with pytest.raises(NotFound, match="SHP-nope"):
        queries.trace("SHP-nope")


def test_what_passed_a_checkpoint_or_a_locality_in_a_window(world, queries):
    day = (world.t0, world.t0 + timedelta(days=1))
    at_gate = queries.passed(*day, checkpoint_id=ROUTE[0])
    assert [p.shipment_id for p in at_gate] == [
        world.a.shipment_id,
        world.c.shipment_id,
        world.b.shipment_id,
    ]  # by time: 0, 30, 100 minutes
    assert [
        p.shipment_id for p in queries.passed(*day, checkpoint_id=ROUTE[0], limit=1, offset=1)
    ] == [world.c.shipment_id]
    # a category filter: B carries the factory's supplements, A and C other goods? all same
    category = world.a.goods[0].category.value
    assert len(queries.passed(*day, checkpoint_id=ROUTE[0], category=category)) == 3
    assert queries.passed(*day, checkpoint_id=ROUTE[0], category="tobacco") == []
    # the locality of the retracted passage: it is left out
    locality = REG.checkpoint(world.retracted.checkpoint_id).locality
    ids = {p.event_id for p in queries.passed(*day, locality=locality)}
    assert world.retracted.event_id not in ids and ids
    # outside the window: nothing
    assert queries.passed(world.t0 - timedelta(days=1), world.t0, checkpoint_id=ROUTE[0]) == []


def test_flows_count_each_shipments_moves_between_localities(world, queries):
    flows = queries.flows(world.t0, world.t0 + timedelta(days=1))
    by_pair = {(f.from_locality, f.to_locality): f for f in flows}
    first_move = (REG.checkpoint(ROUTE[0]).locality, REG.checkpoint(ROUTE[1]).locality)
    if first_move[0] != first_move[1]:
        assert by_pair[first_move].shipments == 2  # A and C
    assert all(f.from_locality != f.to_locality for f in flows)
    weight = sum(float(line.weight_kg) for line in world.a.goods)
    assert by_pair[("HN", "TN")].weight_kg == pytest.approx(weight)  # A's detour
    assert by_pair[("HN", "TN")].shipments == 1


def test_hotspots_rank_places_by_alerts_and_seizures(world, queries):
    window = (world.t0, world.t0 + timedelta(days=1))
    final = {a.alert_id: a for a in world.alerts}  # the last revision of each
    (alert,) = [a for a in final.values() if a.status == "open"]
    assert alert.rule == "route_deviation"
    by_checkpoint = queries.hotspots(*window)
    counts = {h.id: (h.alerts, h.seizures) for h in by_checkpoint}
    assert counts == {"TN-THAINGUYEN": (1, 0), world.caught.checkpoint_id: (0, 1)}
    assert [h.id for h in by_checkpoint] == sorted(counts)  # a tie, then by id
    by_locality = {h.id: (h.alerts, h.seizures) for h in queries.hotspots(*window, by="locality")}
    seized_in = REG.checkpoint(world.caught.checkpoint_id).locality
    for code in alert.localities:
        assert by_locality[code] == (1, int(code == seized_in))
    assert queries.hotspots(world.t0 - timedelta(days=2), world.t0) == []


def test_neighbourhood_of_a_driver_reaches_the_seizure_and_the_shared_party(world, queries):
    near = queries.neighbourhood("driver", world.a.driver_id, hops=2)
    ids = {(n.kind, n.id) for n in near.nodes}
    assert ("shipment", world.a.shipment_id) in ids and ("shipment", world.b.shipment_id) in ids
    assert ("seizure", world.caught.seizure_id) in ids  # seizure -> B's driver, one hop
    assert ("vehicle", world.b.vehicle_plate) in ids  # B's vehicle, two hops
    assert ("shipment", world.c.shipment_id) not in ids  # three hops: B, consignee, C
    far = queries.neighbourhood("driver", world.a.driver_id, hops=3)
    assert ("shipment", world.c.shipment_id) in {(n.kind, n.id) for n in far.nodes}
    link = next(x for x in near.links if x.type == "DRIVEN_BY" and world.b.shipment_id in x.source)
    assert link.event_id == world.b.event_id and link.target == f"driver:{world.a.driver_id}"
    small = queries.neighbourhood("driver", world.a.driver_id, hops=3, limit=3)
    assert small.truncated and len(small.nodes) == 3


def test_connection_gives_the_shortest_paths_with_their_events(world, queries):
    paths = queries.connection(
        ("party", world.a.shipper.party_id), ("vehicle", world.b.vehicle_plate)
    )
    # A's shipper - A - the shared driver - then B, or B's seizure - B's vehicle
    assert [[n.kind for n in p.nodes] for p in paths] == [
        ["party", "shipment", "driver", "seizure", "vehicle"],
        ["party", "shipment", "driver", "shipment", "vehicle"],
    ]
    via_b = paths[1]
    assert {link.event_id for link in via_b.links} == {world.a.event_id, world.b.event_id}
    assert [link.type for link in via_b.links] == [
        "SHIPPED_BY",
        "DRIVEN_BY",
        "DRIVEN_BY",
        "CARRIED_BY",
    ]
    assert {link.event_id for link in paths[0].links} >= {world.caught.event_id}
    assert (
        queries.connection(
            ("party", world.a.shipper.party_id), ("vehicle", world.b.vehicle_plate), max_hops=3
        )
        == []
    )


def test_bad_parameters_are_refused_before_asking_neo4j(queries, world):
    t = world.t0
    with pytest.raises(QueryError, match="ends"):
        queries.passed(t, t - timedelta(hours=1), checkpoint_id=ROUTE[0])
    with pytest.raises(QueryError, match="one of them"):
        queries.passed(t, t + timedelta(hours=1))
    with pytest.raises(QueryError, match="limit"):
        queries.flows(t, t + timedelta(hours=1), limit=5000)
    with pytest.raises(QueryError, match="hops"):
        queries.neighbourhood("driver", world.a.driver_id, hops=9)
    with pytest.raises(QueryError, match="unknown kind"):
        queries.neighbourhood("ship", "x")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="vehicle 00X-0"):
        queries.neighbourhood("vehicle", "00X-0")


def test_an_unreachable_neo4j_is_graph_unavailable(settings):
    import neo4j

    from tests.factories import free_port

    url = f"bolt://127.0.0.1:{free_port()}"
    # without a short retry budget the driver keeps retrying for 30 s before giving up
    driver = neo4j.GraphDatabase.driver(url, auth=("neo4j", "x"), max_transaction_retry_time=0.5)
    with driver as d, pytest.raises(GraphUnavailable):
        Neo4jQueries(d).trace("SHP-1")

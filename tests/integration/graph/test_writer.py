"""Neo4jGraphWriter against the real Neo4j: batches are idempotent."""

from __future__ import annotations

import pytest

from graph.writer import Neo4jGraphWriter
from schemas import load_registry
from streams import load_detection_config, process
from tests.factories import ROUTE, declaration, scan

# The shipment's relationships by type, and the events they name (its provenance).
COUNTS = """
MATCH (s:Shipment {shipment_id: $id})
WITH s, COLLECT { MATCH (s)-[x]->() WHERE x.event_id IS NOT NULL
                  RETURN DISTINCT x.event_id } AS event_ids
OPTIONAL MATCH (s)-[r]-()
RETURN event_ids, type(r) AS type, count(r) AS n ORDER BY type
"""


@pytest.fixture(scope="module")
def writer(neo4j_driver, settings):
    w = Neo4jGraphWriter(neo4j_driver, settings.neo4j.database)
    w.init_schema(load_registry())
    return w


def _counts(driver, shipment_id):
    records, _, _ = driver.execute_query(COUNTS, id=shipment_id)
    return {r["type"]: r["n"] for r in records}, sorted(records[0]["event_ids"])


def test_replaying_a_batch_changes_nothing(writer, neo4j_driver):
    decl = declaration()
    # 90 minutes a leg (plausible speeds): only the off-route scan below raises an alert
    events = [decl, *(scan(decl.shipment_id, cp, 90 * i) for i, cp in enumerate(ROUTE[:3]))]
    state = None
    alerts = []
    for ev in [*events, scan(decl.shipment_id, "TN-THAINGUYEN", 400)]:
        outcome = process(state, ev, load_detection_config(), load_registry())
        state, alerts = outcome.state, alerts + outcome.alerts

    first = writer.write(events, alerts)
    once = _counts(neo4j_driver, decl.shipment_id)
    writer.write(events, alerts)
    writer.write(reversed(events))
    # a declaration's row (with its parties and route), 3 passages, 1 alert
    assert first == 1 + 3 + 1
    assert _counts(neo4j_driver, decl.shipment_id) == once
    rels, event_ids = once
    assert rels == {
        "CARRIED_BY": 1,
        "CONSIGNED_TO": 1,
        "CONTAINS": 1,  # one goods line
        "DESTINED_FOR": 1,
        "DRIVEN_BY": 1,
        "FLAGS": 1,
        "PASSED": 3,
        "PLANNED_STOP": len(ROUTE),
        "SHIPPED_BY": 1,
    }
    assert event_ids == sorted(ev.event_id for ev in events)


def test_init_schema_is_idempotent_and_loads_the_registry(writer, neo4j_driver):
    writer.init_schema(load_registry())
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (c:Checkpoint)-[:LOCATED_IN]->(l:Locality) "
        "RETURN count(c) AS c, count(DISTINCT l) AS l"
    )
    reg = load_registry()
    assert records[0]["c"] == len(reg.checkpoints)
    assert records[0]["l"] == len({cp.locality for cp in reg.checkpoints.values()})
    constraints, _, _ = neo4j_driver.execute_query("SHOW CONSTRAINTS YIELD name RETURN name")
    assert {"shipment_id", "checkpoint_id", "locality_code", "alert_id"} <= {
        r["name"] for r in constraints
    }


def _examples(shipment_id: str, to_shipment_id: str):
    """The documented examples, re-keyed to fresh shipment ids and event ids."""
    import json
    from pathlib import Path

    from schemas import parse_event

    lines = (Path(__file__).parents[3] / "docs/examples/events-v1.jsonl").read_text("utf-8")
    events = []
    for line in lines.splitlines():
        data = json.loads(line)
        data["shipment_id"] = shipment_id
        data["event_id"] = f"{shipment_id}:{data['event_id']}"
        if "to_shipment_id" in data:
            data["to_shipment_id"] = to_shipment_id
        if "corrected_event_id" in data:
            data["corrected_event_id"] = f"{shipment_id}:{data['corrected_event_id']}"
        if "seizure_id" in data:
            data["seizure_id"] = f"{shipment_id}:{data['seizure_id']}"
        events.append(parse_event(json.dumps(data)))
    return events


AROUND = """
MATCH (s:Shipment) WHERE s.shipment_id IN $ids
OPTIONAL MATCH (s)-[r]-(n)
RETURN type(r) AS type, count(DISTINCT r) AS relationships, count(DISTINCT n) AS nodes
ORDER BY type
"""


def _around(driver, ids):
    records, _, _ = driver.execute_query(AROUND, ids=ids)
    return [r.data() for r in records]


FACTS = """
MATCH (s:Shipment {shipment_id: $id})
OPTIONAL MATCH (s)-[:SHIPPED_BY]->(shipper:Party)
OPTIONAL MATCH (s)-[:CONSIGNED_TO]->(consignee:Party)
OPTIONAL MATCH (s)-[i:INSPECTED_AT]->(ic:Checkpoint)
OPTIONAL MATCH (z:Seizure)-[:SEIZED_FROM]->(s)
OPTIONAL MATCH (z)-[:IMPLICATES]->(implicated:Party)
OPTIONAL MATCH (s)-[t:TRANSFERRED_TO]->(to:Shipment)
OPTIONAL MATCH (x:Correction)-[:CORRECTS]->(s)
OPTIONAL MATCH (s)-[p:PASSED]->()
RETURN shipper.party_id AS shipper, consignee.tax_code AS consignee_tax,
       i.outcome AS outcome, i.finding_kinds AS kinds, ic.checkpoint_id AS inspected_at,
       z.reason AS seizure_reason, z.categories AS seized, implicated.party_id AS implicated,
       to.shipment_id AS transferred_to, t.checkpoint_id AS transferred_at,
       x.reason AS correction, p.retracted AS retracted, p.retracted_by AS retracted_by
"""


@pytest.mark.parametrize("correction_first", [False, True])
def test_every_event_type_lands_and_a_correction_marks_without_deleting(
    writer, neo4j_driver, correction_first
):
    from tests.factories import unique

    sid, other = unique("SHP"), unique("SHP")
    events = _examples(sid, other)
    correction = events[-1]
    if correction_first:  # the correction may be written before the event it retracts
        writer.write([correction])
        writer.write(events[:-1])
    else:
        writer.write(events)
    records, _, _ = neo4j_driver.execute_query(FACTS, id=sid)
    assert len(records) == 1
    facts = records[0].data()
    assert facts == {
        "shipper": "CN-PX-0012",
        "consignee_tax": "0108123456",
        "outcome": "discrepancy",
        "kinds": ["weight_mismatch"],
        "inspected_at": "BN-BACGIANG",
        "seizure_reason": "undeclared",
        "seized": ["cosmetics"],
        "implicated": "VN-0108123456",
        "transferred_to": other,
        "transferred_at": "BN-TUSON",
        "correction": "incorrect_data",
        "retracted": True,
        "retracted_by": correction.event_id,
    }
    # replaying everything changes nothing (counted around this test's shipments only: the
    # shared worker may be writing other tests' facts meanwhile)
    before = _around(neo4j_driver, [sid, other])
    writer.write(events)
    assert _around(neo4j_driver, [sid, other]) == before


@pytest.mark.parametrize("smallest_first", [False, True])
def test_two_corrections_of_one_event_mark_it_by_the_smallest_id_in_both_stores(
    writer, neo4j_driver, smallest_first
):
    from graph.embedded import EmbeddedGraph
    from tests.factories import correction

    decl = declaration()
    passage = scan(decl.shipment_id, ROUTE[0], 30)
    fixes = sorted(
        (correction(passage, minutes=60 + i) for i in range(2)), key=lambda x: x.event_id
    )
    embedded = EmbeddedGraph(load_registry())
    for batch in ([decl, passage], *([f] for f in (fixes if smallest_first else fixes[::-1]))):
        writer.write(batch)
        embedded.write(batch)
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (:Shipment {shipment_id: $id})-[p:PASSED]->() RETURN p.retracted_by AS by",
        id=decl.shipment_id,
    )
    (edge,) = [
        data
        for *_, data in embedded.g.edges(data=True)
        if data.get("type") == "PASSED" and data["event_id"] == passage.event_id
    ]
    assert [r["by"] for r in records] == [edge["retracted_by"]] == [fixes[0].event_id]


PROVENANCE = """
MATCH (s:Shipment) WHERE s.shipment_id IN $ids
MATCH (s)-[r]-()
RETURN type(r) AS type, coalesce(r.event_id, r.alert_id) AS made_by
"""


def test_vehicles_drivers_and_goods_are_nodes_and_every_relationship_has_provenance(
    writer, neo4j_driver
):
    from tests.factories import seizure

    decl = declaration()
    caught = seizure(decl, minutes=30)
    writer.write([decl, caught])
    records, _, _ = neo4j_driver.execute_query(
        """
        MATCH (s:Shipment {shipment_id: $id})-[:CARRIED_BY]->(v:Vehicle),
              (s)-[:DRIVEN_BY]->(d:Driver), (s)-[c:CONTAINS]->(g:GoodsCategory),
              (z:Seizure)-[:SEIZED_FROM]->(s)
        OPTIONAL MATCH (z)-[:IMPLICATES]->(n)
        RETURN v.plate AS plate, d.driver_id AS driver, g.code AS category,
               c.hs_code AS hs_code, c.weight_kg AS weight, v.event_ids AS vehicle_list,
               [(v)<-[r]-() | r.event_id] AS vehicle_events,
               collect(DISTINCT labels(n)[0]) AS implicated
        """,
        id=decl.shipment_id,
    )
    (facts,) = [r.data() for r in records]
    facts["implicated"] = sorted(facts["implicated"])
    facts["vehicle_events"] = sorted(facts["vehicle_events"])
    line = decl.goods[0]
    assert facts == {
        "plate": decl.vehicle_plate,
        "driver": decl.driver_id,
        "category": line.category.value,
        "hs_code": line.hs_code,
        "weight": float(line.weight_kg),
        # declared, then seized: the vehicle's relationships name both events (entity nodes
        # keep no list of their own, graph/cypher.py says why)
        "vehicle_list": None,
        "vehicle_events": sorted([decl.event_id, caught.event_id]),
        "implicated": ["Driver", "Party", "Vehicle"],
    }
    records, _, _ = neo4j_driver.execute_query(PROVENANCE, ids=[decl.shipment_id])
    made_by = {r["type"]: r["made_by"] for r in records}
    assert None not in made_by.values(), made_by
    assert made_by["SEIZED_FROM"] == caught.event_id


def _poisoned_batch():
    """A declaration and its scans, one of them at UTC+19:00: the contract takes any offset
    Python does (up to 23:59), Neo4j's datetime() only -18:00 to +18:00."""
    from datetime import timedelta, timezone

    from tests import factories

    decl = declaration()
    scans = [scan(decl.shipment_id, cp, 90 * i) for i, cp in enumerate(ROUTE)]
    far_east = factories.T0.astimezone(timezone(timedelta(hours=19)))
    poisoned = scan(decl.shipment_id, ROUTE[2], occurred_at=far_east + timedelta(minutes=200))
    return decl, [decl, *scans[:2], poisoned, *scans[2:]], poisoned


def test_write_isolating_writes_the_batch_but_the_event_neo4j_refuses(writer, neo4j_driver):
    decl, batch, poisoned = _poisoned_batch()
    good = [ev for ev in batch if ev is not poisoned]

    report = writer.write_isolating(batch)
    (refused,) = report.refused
    assert refused.item is poisoned
    assert refused.code == "Neo.ClientError.Statement.ArgumentError"
    assert "Zone offset hours not in valid range: value 19" in refused.message
    assert report.transactions > 1
    # a declaration's row (with its parties and route), one passage a good scan
    assert report.written_rows == 1 + len(ROUTE)
    rels, event_ids = once = _counts(neo4j_driver, decl.shipment_id)
    assert event_ids == sorted(ev.event_id for ev in good)
    assert rels["PASSED"] == len(ROUTE)

    # deterministic: the same batch again refuses the same event and changes nothing
    again = writer.write_isolating(batch)
    assert [(r.item, r.code, r.message) for r in again.refused] == [
        (poisoned, refused.code, refused.message)
    ]
    assert again.written_rows == report.written_rows
    assert _counts(neo4j_driver, decl.shipment_id) == once


def test_write_is_all_or_nothing_and_says_refused_not_unavailable(writer, neo4j_driver):
    from graph.exceptions import GraphRefused

    decl, batch, _ = _poisoned_batch()
    with pytest.raises(GraphRefused) as caught:
        writer.write(batch)
    assert caught.value.code == "Neo.ClientError.Statement.ArgumentError"
    records, _, _ = neo4j_driver.execute_query(COUNTS, id=decl.shipment_id)
    assert records == []  # nothing of the batch was written


def test_a_value_the_driver_cannot_send_is_refused_and_the_connection_stays_usable(
    writer, neo4j_driver
):
    from graph.writer import UNSENDABLE
    from tests.factories import seizure

    decl = declaration()
    # a lone surrogate: the JSON parser refuses it, but a model built in Python may hold one
    caught = seizure(decl, minutes=30).model_copy(update={"details": "seal \ud800 broken"})
    scans = [scan(decl.shipment_id, cp, 90 * i) for i, cp in enumerate(ROUTE[:2])]
    report = writer.write_isolating([decl, caught, *scans])
    assert [(r.item, r.code) for r in report.refused] == [(caught, UNSENDABLE)]
    assert "UnicodeEncodeError" in report.refused[0].message
    rels, event_ids = _counts(neo4j_driver, decl.shipment_id)
    assert event_ids == sorted([decl.event_id, *(s.event_id for s in scans)])
    assert "SEIZED_FROM" not in rels


def test_an_unreachable_neo4j_is_graph_unavailable_within_the_writers_retry_budget():
    import time

    import neo4j

    from graph.exceptions import GraphUnavailable
    from tests.factories import free_port

    # the driver's own budget stays at its 30 s default: the writer's session setting wins
    driver = neo4j.GraphDatabase.driver(f"bolt://127.0.0.1:{free_port()}", auth=("neo4j", "x"))
    with driver:
        writer = Neo4jGraphWriter(driver, max_transaction_retry_time=0.5)
        start = time.monotonic()
        with pytest.raises(GraphUnavailable):
            writer.write_isolating([declaration()])
        assert time.monotonic() - start < 5

"""Neo4jGraphWriter against the real Neo4j: batches are idempotent."""

from __future__ import annotations

import pytest

from graph.writer import Neo4jGraphWriter
from schemas import load_registry
from streams import DetectionConfig, process
from tests.factories import ROUTE, declaration, scan

COUNTS = """
MATCH (s:Shipment {shipment_id: $id})
OPTIONAL MATCH (s)-[r]-()
RETURN s.event_ids AS event_ids, type(r) AS type, count(r) AS n ORDER BY type
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
    events = [decl, *(scan(decl.shipment_id, cp, 20 * i) for i, cp in enumerate(ROUTE[:3]))]
    state = None
    alerts = []
    for ev in [*events, scan(decl.shipment_id, "TN-THAINGUYEN", 200)]:
        outcome = process(state, ev, DetectionConfig(), load_registry())
        state, alerts = outcome.state, alerts + outcome.alerts

    first = writer.write(events, alerts)
    once = _counts(neo4j_driver, decl.shipment_id)
    writer.write(events, alerts)
    writer.write(reversed(events))
    assert first == 1 + len(ROUTE) + 3 + 1
    assert _counts(neo4j_driver, decl.shipment_id) == once
    rels, event_ids = once
    assert rels == {"DESTINED_FOR": 1, "FLAGS": 1, "PASSED": 3, "PLANNED_STOP": len(ROUTE)}
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

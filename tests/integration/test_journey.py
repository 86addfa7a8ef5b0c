"""One shipment's whole journey through the real stack: kafka-python publisher ->
checkpoint-events -> Faust worker process -> alerts topic + Neo4j."""

from __future__ import annotations

import time
from datetime import timedelta

from producers.publisher import CHECKPOINT_HEADER
from schemas import Alert, Rule, alert_id_for
from streams.readers import TopicTail
from tests.factories import ROUTE, declaration, scan
from tests.stack import publisher

JOURNEY_QUERY = """
MATCH (s:Shipment {shipment_id: $id})-[p:PASSED]->(c:Checkpoint)-[:LOCATED_IN]->(l:Locality)
RETURN p.event_id AS event_id, p.occurred_at AS at, p.direction AS direction,
       p.observed_weight_kg AS weight, c.checkpoint_id AS checkpoint, l.code AS locality,
       l.name AS locality_name
ORDER BY p.occurred_at
"""


def _wait_for(query_fn, done, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        result = query_fn()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def test_declaration_and_two_scans_make_graph_and_alert(settings, worker, neo4j_driver):
    decl = declaration()
    on_route = scan(decl.shipment_id, ROUTE[0], 15, observed_weight_kg=1805)
    off_route = scan(decl.shipment_id, "TN-THAINGUYEN", 190)

    with (
        TopicTail(settings.bootstrap_servers, settings.topics.alerts) as alerts,
        TopicTail(settings.bootstrap_servers, settings.topics.checkpoint_events) as sent,
    ):
        with publisher(settings) as kafka:
            kafka.publish_all([decl, on_route, off_route])

        # What went onto the wire: keyed by shipment id, checkpoint id in a header, one
        # partition for the whole shipment.
        records = sent.collect(
            lambda rs: len([r for r in rs if r.key == decl.shipment_id.encode()]) >= 3, 30
        )
        ours = [r for r in records if r.key == decl.shipment_id.encode()]
        assert len({r.partition for r in ours}) == 1
        assert [dict(r.headers)[CHECKPOINT_HEADER].decode() for r in ours] == [
            ROUTE[0],
            ROUTE[0],
            "TN-THAINGUYEN",
        ]

        mine = alerts.collect(
            lambda rs: any(r.key == decl.shipment_id.encode() for r in rs), timeout_s=60
        )
    got = [Alert.model_validate_json(r.value) for r in mine if r.key == decl.shipment_id.encode()]
    assert len(got) == 1, worker.log_tail()
    alert = got[0]
    assert alert.alert_id == alert_id_for(decl.shipment_id, Rule.ROUTE_DEVIATION)
    assert alert.rule == Rule.ROUTE_DEVIATION
    assert [e.event_id for e in alert.evidence] == [off_route.event_id]
    assert alert.evidence[0].checkpoint_id == "TN-THAINGUYEN"
    assert {"LS", "TN", "HN"} <= set(alert.localities)
    assert alert.raised_at == off_route.occurred_at

    def passages():
        records, _, _ = neo4j_driver.execute_query(JOURNEY_QUERY, id=decl.shipment_id)
        return records

    rows = _wait_for(passages, lambda rs: len(rs) == 2)
    assert [r["event_id"] for r in rows] == [on_route.event_id, off_route.event_id]
    assert [r["checkpoint"] for r in rows] == [ROUTE[0], "TN-THAINGUYEN"]
    assert [r["locality"] for r in rows] == ["LS", "TN"]
    assert rows[1]["locality_name"] == "Thái Nguyên"
    assert rows[0]["at"].to_native() == on_route.occurred_at
    assert rows[0]["at"].to_native().utcoffset() == timedelta(hours=7)  # the event's own offset
    assert rows[0]["weight"] == 1805.0
    assert rows[0]["direction"] == "passing"

    shipment, _, _ = neo4j_driver.execute_query(
        """
        MATCH (s:Shipment {shipment_id: $id})-[:DESTINED_FOR]->(d:Locality)
        OPTIONAL MATCH (s)-[ps:PLANNED_STOP]->(c:Checkpoint)
        WITH s, d, ps, c ORDER BY ps.position
        RETURN s, d.code AS destination, collect(c.checkpoint_id) AS planned
        """,
        id=decl.shipment_id,
    )
    node = shipment[0]["s"]
    assert shipment[0]["destination"] == "HN"
    assert shipment[0]["planned"] == ROUTE
    assert node["origin_country"] == "CN"
    provenance, _, _ = neo4j_driver.execute_query(
        """
        MATCH (:Shipment {shipment_id: $id})-[r]->() WHERE r.event_id IS NOT NULL
        RETURN collect(DISTINCT r.event_id) AS events
        """,
        id=decl.shipment_id,
    )
    assert sorted(provenance[0]["events"]) == sorted(
        [decl.event_id, on_route.event_id, off_route.event_id]
    )

    def alert_nodes():
        records, _, _ = neo4j_driver.execute_query(
            """
            MATCH (a:Alert)-[:FLAGS]->(:Shipment {shipment_id: $id})
            OPTIONAL MATCH (a)-[:INVOLVES]->(l:Locality)
            RETURN a, collect(l.code) AS localities
            """,
            id=decl.shipment_id,
        )
        return records

    flagged = _wait_for(alert_nodes, lambda rs: len(rs) == 1)
    assert flagged[0]["a"]["alert_id"] == alert.alert_id
    assert flagged[0]["a"]["severity"] == alert.severity
    assert sorted(flagged[0]["localities"]) == sorted(alert.localities)


def test_a_correction_withdraws_the_alert_and_marks_the_passage(settings, worker, neo4j_driver):
    from schemas import AlertStatus, CorrectionReason
    from tests.factories import correction

    decl = declaration()
    wrong = scan(decl.shipment_id, "TN-THAINGUYEN", 190)
    key = decl.shipment_id.encode()
    with TopicTail(settings.bootstrap_servers, settings.topics.alerts) as alerts:
        with publisher(settings) as kafka:
            kafka.publish_all([decl, wrong])
        alerts.collect(lambda rs: any(r.key == key for r in rs), timeout_s=60)
        fix = correction(wrong, reason=CorrectionReason.DID_NOT_OCCUR)
        with publisher(settings) as kafka:
            kafka.publish_all([fix])
        records = alerts.collect(lambda rs: len([r for r in rs if r.key == key]) >= 2, 60)
    ours = [Alert.model_validate_json(r.value) for r in records if r.key == key]
    assert [(a.revision, a.status) for a in ours] == [
        (1, AlertStatus.OPEN),
        (2, AlertStatus.WITHDRAWN),
    ]
    assert ours[1].withdrawn_by == [fix.event_id]

    def graph():
        rows, _, _ = neo4j_driver.execute_query(
            """
            MATCH (a:Alert)-[:FLAGS]->(s:Shipment {shipment_id: $id})-[p:PASSED]->()
            RETURN a.detection_status AS status, a.revision AS revision,
                   p.retracted AS retracted, p.retracted_by AS by
            """,
            id=decl.shipment_id,
        )
        return [r.data() for r in rows]

    expected = [{"status": "withdrawn", "revision": 2, "retracted": True, "by": fix.event_id}]
    assert _wait_for(graph, lambda rows: rows == expected) == expected

"""All of graph/'s Cypher, as constants. Values are always ``$parameters``; batches are
``UNWIND $rows AS row`` with keyed MERGEs, so a replayed batch changes nothing.

Provenance: ``event_ids`` on a node lists the events that created or changed it; each
relationship carries the ``event_id`` (or ``alert_id``) that made it.
"""

SCHEMA_QUERIES = (
    "CREATE CONSTRAINT shipment_id IF NOT EXISTS FOR (n:Shipment) REQUIRE n.shipment_id IS UNIQUE",
    "CREATE CONSTRAINT checkpoint_id IF NOT EXISTS "
    "FOR (n:Checkpoint) REQUIRE n.checkpoint_id IS UNIQUE",
    "CREATE CONSTRAINT locality_code IF NOT EXISTS FOR (n:Locality) REQUIRE n.code IS UNIQUE",
    "CREATE CONSTRAINT alert_id IF NOT EXISTS FOR (n:Alert) REQUIRE n.alert_id IS UNIQUE",
    "CREATE INDEX passed_event_id IF NOT EXISTS FOR ()-[r:PASSED]-() ON (r.event_id)",
    "CREATE INDEX passed_occurred_at IF NOT EXISTS FOR ()-[r:PASSED]-() ON (r.occurred_at)",
)

MERGE_LOCALITIES_QUERY = """
UNWIND $rows AS row
MERGE (l:Locality {code: row.code})
SET l.name = row.name, l.name_ascii = row.name_ascii,
    l.location = point({latitude: row.lat, longitude: row.lon})
"""

MERGE_CHECKPOINTS_QUERY = """
UNWIND $rows AS row
MERGE (c:Checkpoint {checkpoint_id: row.checkpoint_id})
SET c.name = row.name, c.name_ascii = row.name_ascii, c.kind = row.kind,
    c.corridor = row.corridor, c.location = point({latitude: row.lat, longitude: row.lon})
WITH c, row
MATCH (l:Locality {code: row.locality})
MERGE (c)-[:LOCATED_IN]->(l)
"""

# Appends $event_id to n.event_ids once (used inside the statements below).
_ADD_PROVENANCE = """
SET {var}.event_ids = CASE
    WHEN row.{key} IN coalesce({var}.event_ids, []) THEN {var}.event_ids
    ELSE coalesce({var}.event_ids, []) + row.{key} END
"""

MERGE_DECLARATIONS_QUERY = (
    """
UNWIND $rows AS row
MERGE (s:Shipment {shipment_id: row.shipment_id})
SET s.declaration_event_id = row.event_id, s.declared_at = row.declared_at,
    s.origin_country = row.origin_country, s.destination_locality = row.destination_locality,
    s.vehicle_plate = row.vehicle_plate, s.driver_id = row.driver_id,
    s.categories = row.categories, s.declared_weight_kg = row.declared_weight_kg
"""
    + _ADD_PROVENANCE.format(var="s", key="event_id")
    + """
WITH s, row
MATCH (l:Locality {code: row.destination_locality})
MERGE (s)-[d:DESTINED_FOR]->(l)
SET d.event_id = row.event_id
"""
)

MERGE_PLANNED_STOPS_QUERY = """
UNWIND $rows AS row
MATCH (s:Shipment {shipment_id: row.shipment_id})
MATCH (c:Checkpoint {checkpoint_id: row.checkpoint_id})
MERGE (s)-[r:PLANNED_STOP {position: row.position}]->(c)
SET r.event_id = row.event_id
"""

MERGE_PASSAGES_QUERY = (
    """
UNWIND $rows AS row
MERGE (s:Shipment {shipment_id: row.shipment_id})
"""
    + _ADD_PROVENANCE.format(var="s", key="event_id")
    + """
WITH s, row
MATCH (c:Checkpoint {checkpoint_id: row.checkpoint_id})
MERGE (s)-[p:PASSED {event_id: row.event_id}]->(c)
SET p.occurred_at = row.occurred_at, p.direction = row.direction,
    p.observed_weight_kg = row.observed_weight_kg, p.seal_status = row.seal_status
"""
)

# An older revision arriving late never overwrites a newer one.
MERGE_ALERTS_QUERY = """
UNWIND $rows AS row
MERGE (a:Alert {alert_id: row.alert_id})
WITH a, row
WHERE coalesce(a.revision, 0) <= row.revision
SET a.revision = row.revision, a.rule = row.rule, a.severity = row.severity,
    a.raised_at = row.raised_at, a.explanation_vi = row.explanation_vi,
    a.explanation_en = row.explanation_en, a.evidence_event_ids = row.evidence_event_ids,
    a.status = coalesce(a.status, 'open')
MERGE (s:Shipment {shipment_id: row.shipment_id})
MERGE (a)-[:FLAGS]->(s)
WITH a, row
UNWIND row.localities AS code
MATCH (l:Locality {code: code})
MERGE (a)-[:INVOLVES]->(l)
"""

WRITE_QUERIES = {
    "declarations": MERGE_DECLARATIONS_QUERY,
    "planned_stops": MERGE_PLANNED_STOPS_QUERY,
    "passages": MERGE_PASSAGES_QUERY,
    "alerts": MERGE_ALERTS_QUERY,
}

SHIPMENT_ROUTE_QUERY = """
MATCH (s:Shipment {shipment_id: $shipment_id})-[p:PASSED]->(c:Checkpoint)
MATCH (c)-[:LOCATED_IN]->(l:Locality)
RETURN p.event_id AS event_id, p.occurred_at AS occurred_at, c.checkpoint_id AS checkpoint_id,
       c.name AS checkpoint_name, l.code AS locality, p.direction AS direction,
       p.observed_weight_kg AS observed_weight_kg
ORDER BY p.occurred_at, p.event_id
LIMIT $limit
"""

NODE_COUNTS_QUERY = """
MATCH (n) UNWIND labels(n) AS label
RETURN label, count(*) AS count ORDER BY label
"""

RELATIONSHIP_COUNTS_QUERY = """
MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS count ORDER BY type
"""

# How many distinct events of these shipments the graph holds (provenance on Shipment).
RECORDED_EVENT_COUNT_QUERY = """
MATCH (s:Shipment) WHERE s.shipment_id IN $shipment_ids
RETURN coalesce(sum(size(s.event_ids)), 0) AS events
"""

"""All of graph/'s Cypher, as constants. Values are always ``$parameters``; batches are
``UNWIND $rows AS row`` with keyed MERGEs, so a replayed batch changes nothing. Times in
write rows arrive as ISO text and are read with ``datetime()`` (graph/writer.py says why).

Provenance: each relationship carries the ``event_id`` (or ``alert_id``, or a case step's
``step_id``) that made it, and nothing else does: every event about a shipment leaves at
least one relationship of that shipment (out of it, or SEIZED_FROM and CORRECTS into it)
naming the event, so the events the graph holds are read from those
(:data:`RECORDED_EVENT_COUNT_QUERY`). Nodes keep no list of event ids: such a list was
rewritten whole by every event (a Shipment's on each scan, a popular party's or driver's on
each declaration, growing without bound), a sixth of the cost of writing a scan.

Corrections never delete: a retracted event's relationships (and a retracted Seizure) get
``retracted = true`` and ``retracted_by`` (the smallest id of the corrections of that
event), whichever of the event and its correction is written first (the correction leaves a
Correction node that later writes look up). Facts never retracted carry neither property
(readers take a missing ``retracted`` as false): writing ``false`` on every relationship
cost a property write each, for the rare correction.
"""

SCHEMA_QUERIES = (
    "CREATE CONSTRAINT shipment_id IF NOT EXISTS FOR (n:Shipment) REQUIRE n.shipment_id IS UNIQUE",
    "CREATE CONSTRAINT checkpoint_id IF NOT EXISTS "
    "FOR (n:Checkpoint) REQUIRE n.checkpoint_id IS UNIQUE",
    "CREATE CONSTRAINT locality_code IF NOT EXISTS FOR (n:Locality) REQUIRE n.code IS UNIQUE",
    "CREATE CONSTRAINT alert_id IF NOT EXISTS FOR (n:Alert) REQUIRE n.alert_id IS UNIQUE",
    "CREATE CONSTRAINT party_id IF NOT EXISTS FOR (n:Party) REQUIRE n.party_id IS UNIQUE",
    "CREATE CONSTRAINT seizure_id IF NOT EXISTS FOR (n:Seizure) REQUIRE n.seizure_id IS UNIQUE",
    "CREATE CONSTRAINT vehicle_plate IF NOT EXISTS FOR (n:Vehicle) REQUIRE n.plate IS UNIQUE",
    "CREATE CONSTRAINT driver_id IF NOT EXISTS FOR (n:Driver) REQUIRE n.driver_id IS UNIQUE",
    "CREATE CONSTRAINT goods_category IF NOT EXISTS FOR (n:GoodsCategory) REQUIRE n.code IS UNIQUE",
    "CREATE CONSTRAINT correction_event_id IF NOT EXISTS "
    "FOR (n:Correction) REQUIRE n.event_id IS UNIQUE",
    "CREATE INDEX correction_target IF NOT EXISTS FOR (n:Correction) ON (n.corrected_event_id)",
    # Every query finds a shipment's PASSED through the shipment: an index of their event
    # ids (made by earlier versions) cost an index entry per scan, about a tenth of a scan's
    # write, and served no query.
    "DROP INDEX passed_event_id IF EXISTS",
    "CREATE INDEX passed_occurred_at IF NOT EXISTS FOR ()-[r:PASSED]-() ON (r.occurred_at)",
    "CREATE INDEX alert_raised_at IF NOT EXISTS FOR (n:Alert) ON (n.raised_at)",
    "CREATE INDEX shipment_declared_at IF NOT EXISTS FOR (n:Shipment) ON (n.declared_at)",
    "CREATE INDEX seizure_event_id IF NOT EXISTS FOR (n:Seizure) ON (n.event_id)",
    "CREATE INDEX seizure_occurred_at IF NOT EXISTS FOR (n:Seizure) ON (n.occurred_at)",
    "CREATE CONSTRAINT case_step_id IF NOT EXISTS FOR (n:CaseStep) REQUIRE n.step_id IS UNIQUE",
    "CREATE INDEX alert_case_status IF NOT EXISTS FOR (n:Alert) ON (n.case_status)",
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


def _mark_if_retracted(var: str, carry: str) -> str:
    """Mark ``var`` retracted when a correction of row.event_id is already in the graph
    (the earliest correction by id); nothing is written otherwise."""
    return f"""
WITH {carry}, row
CALL ({var}, row) {{
    MATCH (x:Correction {{corrected_event_id: row.event_id}})
    WITH {var}, x ORDER BY x.event_id LIMIT 1
    SET {var}.retracted = true, {var}.retracted_by = x.event_id
}}
"""


# The event's shipment (created when new) ...
_SHIPMENT_EVENT = """
UNWIND $rows AS row
MERGE (s:Shipment {shipment_id: row.shipment_id})
"""
# ... and the checkpoint where the event happened.
_AT_CHECKPOINT = """
WITH s, row
MATCH (c:Checkpoint {checkpoint_id: row.checkpoint_id})
"""

# A declaration, in one statement: the shipment (its own properties follow its latest
# declaration by event time), its destination, vehicle, driver and goods lines, its shipper
# and consignee (their names follow the latest write, a tax code once known stays; merged in
# that order, as the embedded store applies them), and its route: one PLANNED_STOP a
# checkpoint, by position (from 1). The correction that may retract it is looked up once.
MERGE_DECLARATIONS_QUERY = """
UNWIND $rows AS row
MERGE (s:Shipment {shipment_id: row.shipment_id})
WITH s, row
CALL (s, row) {
    WITH s, row WHERE s.declared_at IS NULL OR s.declared_at <= datetime(row.declared_at)
    SET s.declaration_event_id = row.event_id, s.declared_at = datetime(row.declared_at),
        s.origin_country = row.origin_country,
        s.destination_locality = row.destination_locality,
        s.vehicle_plate = row.vehicle_plate, s.driver_id = row.driver_id,
        s.categories = row.categories, s.declared_weight_kg = row.declared_weight_kg
}
CALL (row) {
    OPTIONAL MATCH (x:Correction {corrected_event_id: row.event_id})
    RETURN min(x.event_id) AS retracted_by
}
CALL (s, row, retracted_by) {
    MATCH (l:Locality {code: row.destination_locality})
    MERGE (s)-[d:DESTINED_FOR {event_id: row.event_id}]->(l)
    WITH d WHERE retracted_by IS NOT NULL
    SET d.retracted = true, d.retracted_by = retracted_by
}
MERGE (v:Vehicle {plate: row.vehicle_plate})
MERGE (s)-[:CARRIED_BY {event_id: row.event_id}]->(v)
MERGE (dr:Driver {driver_id: row.driver_id})
MERGE (s)-[:DRIVEN_BY {event_id: row.event_id}]->(dr)
WITH s, row, retracted_by
CALL (s, row) {
    UNWIND row.goods AS line
    MERGE (g:GoodsCategory {code: line.category})
    MERGE (s)-[c:CONTAINS {event_id: row.event_id, line: line.line}]->(g)
    SET c.hs_code = line.hs_code, c.description = line.description,
        c.quantity = line.quantity, c.unit = line.unit, c.weight_kg = line.weight_kg,
        c.value_vnd = line.value_vnd
}
CALL (row) {
    UNWIND [row.shipper, row.consignee] AS party
    MERGE (p:Party {party_id: party.party_id})
    SET p.name = party.name, p.tax_code = coalesce(party.tax_code, p.tax_code)
    RETURN collect(p) AS parties
}
WITH s, row, retracted_by, parties[0] AS shipper, parties[1] AS consignee
MERGE (s)-[:SHIPPED_BY {event_id: row.event_id}]->(shipper)
MERGE (s)-[:CONSIGNED_TO {event_id: row.event_id}]->(consignee)
WITH s, row, retracted_by
CALL (s, row, retracted_by) {
    UNWIND range(1, size(row.route)) AS position
    MATCH (c:Checkpoint {checkpoint_id: row.route[position - 1]})
    MERGE (s)-[r:PLANNED_STOP {event_id: row.event_id, position: position}]->(c)
    WITH r WHERE retracted_by IS NOT NULL
    SET r.retracted = true, r.retracted_by = retracted_by
}
"""

MERGE_PASSAGES_QUERY = (
    _SHIPMENT_EVENT
    + _AT_CHECKPOINT
    + """
MERGE (s)-[p:PASSED {event_id: row.event_id}]->(c)
SET p.occurred_at = datetime(row.occurred_at), p.direction = row.direction,
    p.observed_weight_kg = row.observed_weight_kg, p.seal_status = row.seal_status,
    p.observed_plate = row.observed_plate
"""
    + _mark_if_retracted("p", "p")
)

MERGE_INSPECTIONS_QUERY = (
    _SHIPMENT_EVENT
    + _AT_CHECKPOINT
    + """
MERGE (s)-[i:INSPECTED_AT {event_id: row.event_id}]->(c)
SET i.occurred_at = datetime(row.occurred_at), i.outcome = row.outcome, i.findings = row.findings,
    i.finding_kinds = row.finding_kinds, i.measured_weight_kg = row.measured_weight_kg,
    i.inspector_id = row.inspector_id
"""
    + _mark_if_retracted("i", "i")
)

MERGE_SEIZURES_QUERY = (
    _SHIPMENT_EVENT
    + _AT_CHECKPOINT
    + """
MERGE (z:Seizure {seizure_id: row.seizure_id})
SET z.event_id = row.event_id, z.occurred_at = datetime(row.occurred_at), z.reason = row.reason,
    z.details = row.details, z.goods = row.goods, z.categories = row.categories,
    z.vehicle_plate = row.vehicle_plate, z.driver_id = row.driver_id
MERGE (z)-[:SEIZED_FROM {event_id: row.event_id}]->(s)
MERGE (z)-[:SEIZED_AT {event_id: row.event_id}]->(c)
WITH z, row
CALL (z, row) {
    UNWIND row.parties AS party
    MERGE (p:Party {party_id: party.party_id})
    SET p.name = party.name, p.tax_code = coalesce(party.tax_code, p.tax_code)
    MERGE (z)-[:IMPLICATES {event_id: row.event_id}]->(p)
}
CALL (z, row) {
    WITH z, row WHERE row.vehicle_plate IS NOT NULL
    MERGE (v:Vehicle {plate: row.vehicle_plate})
    MERGE (z)-[:IMPLICATES {event_id: row.event_id}]->(v)
}
CALL (z, row) {
    WITH z, row WHERE row.driver_id IS NOT NULL
    MERGE (d:Driver {driver_id: row.driver_id})
    MERGE (z)-[:IMPLICATES {event_id: row.event_id}]->(d)
}
"""
    + _mark_if_retracted("z", "z")
)

MERGE_TRANSFERS_QUERY = (
    _SHIPMENT_EVENT
    + """
MERGE (to:Shipment {shipment_id: row.to_shipment_id})
WITH s, to, row
MERGE (s)-[t:TRANSFERRED_TO {event_id: row.event_id}]->(to)
SET t.occurred_at = datetime(row.occurred_at), t.checkpoint_id = row.checkpoint_id,
    t.goods = row.goods, t.from_vehicle_plate = row.from_vehicle_plate,
    t.to_vehicle_plate = row.to_vehicle_plate
"""
    + _mark_if_retracted("t", "t")
)

# The Correction node, then every fact of the corrected event already in the graph, marked
# by the smallest id of its corrections (as the writes' own marking and the embedded store).
MERGE_CORRECTIONS_QUERY = """
UNWIND $rows AS row
MERGE (x:Correction {event_id: row.event_id})
SET x.corrected_event_id = row.corrected_event_id, x.reason = row.reason,
    x.occurred_at = datetime(row.occurred_at), x.corrective_event_ids = row.corrective_event_ids,
    x.checkpoint_id = row.checkpoint_id, x.note = row.note
MERGE (s:Shipment {shipment_id: row.shipment_id})
MERGE (x)-[:CORRECTS {event_id: row.event_id}]->(s)
WITH s, row
CALL (s, row) {
    OPTIONAL MATCH (s)-[r:PASSED|PLANNED_STOP|INSPECTED_AT|TRANSFERRED_TO|DESTINED_FOR
                       {event_id: row.corrected_event_id}]->()
    SET r.retracted = true, r.retracted_by = CASE
        WHEN r.retracted_by < row.event_id THEN r.retracted_by ELSE row.event_id END
}
CALL (row) {
    OPTIONAL MATCH (z:Seizure {event_id: row.corrected_event_id})
    SET z.retracted = true, z.retracted_by = CASE
        WHEN z.retracted_by < row.event_id THEN z.retracted_by ELSE row.event_id END
}
"""

# An older revision arriving late never overwrites a newer one.
MERGE_ALERTS_QUERY = """
UNWIND $rows AS row
MERGE (a:Alert {alert_id: row.alert_id})
WITH a, row
WHERE coalesce(a.revision, 0) <= row.revision
SET a.revision = row.revision, a.rule = row.rule, a.severity = row.severity,
    a.detection_status = row.status, a.withdrawn_by = row.withdrawn_by,
    a.raised_at = datetime(row.raised_at), a.explanation_vi = row.explanation_vi,
    a.explanation_en = row.explanation_en, a.evidence_event_ids = row.evidence_event_ids,
    a.evidence = row.evidence, a.severity_factors = row.severity_factors,
    a.shipment_id = row.shipment_id, a.localities = row.localities
MERGE (s:Shipment {shipment_id: row.shipment_id})
MERGE (a)-[:FLAGS {alert_id: row.alert_id}]->(s)
WITH a, row
UNWIND row.localities AS code
MATCH (l:Locality {code: code})
MERGE (a)-[:INVOLVES {alert_id: row.alert_id}]->(l)
"""

# A task force's step on an alert: kept as a CaseStep node, ON the alert (TO the locality a
# transfer hands it to). The alert shows the latest step by (at, step_id), and the locality
# of the latest transfer, whatever order the steps arrive in (schemas/cases.py,
# case_after). A step may arrive before its alert (another topic): the alert node is then
# made bare, and the queries skip alerts without a revision until detection's row comes.
MERGE_CASE_STEPS_QUERY = """
UNWIND $rows AS row
MERGE (c:CaseStep {step_id: row.step_id})
ON CREATE SET c.alert_id = row.alert_id, c.rule = row.rule, c.action = row.action,
    c.actor = row.actor, c.via = row.via, c.at = datetime(row.at), c.note = row.note,
    c.outcome = row.outcome, c.to_locality = row.to_locality,
    c.from_locality = row.from_locality
MERGE (a:Alert {alert_id: row.alert_id})
MERGE (c)-[:ON {step_id: row.step_id}]->(a)
WITH a, c, row, datetime(row.at) AS at
CALL (a, row, at) {
    WITH a, row, at
    WHERE a.case_at IS NULL OR at > a.case_at
       OR (at = a.case_at AND row.step_id > a.case_step_id)
    SET a.case_status = row.status, a.case_outcome = row.outcome, a.case_at = at,
        a.case_step_id = row.step_id, a.case_actor = row.actor
}
CALL (a, c, row, at) {
    WITH a, c, row, at
    WHERE row.to_locality IS NOT NULL
    MATCH (l:Locality {code: row.to_locality})
    MERGE (c)-[:TO {step_id: row.step_id}]->(l)
    WITH a, row, at
    WHERE a.assigned_at IS NULL OR at > a.assigned_at
       OR (at = a.assigned_at AND row.step_id > a.assigned_step_id)
    SET a.assigned_to = row.to_locality, a.assigned_at = at, a.assigned_step_id = row.step_id
}
"""

# Statement order matters: nodes before the relationships that bind them.
WRITE_QUERIES = {
    "declarations": MERGE_DECLARATIONS_QUERY,
    "passages": MERGE_PASSAGES_QUERY,
    "inspections": MERGE_INSPECTIONS_QUERY,
    "seizures": MERGE_SEIZURES_QUERY,
    "transfers": MERGE_TRANSFERS_QUERY,
    "corrections": MERGE_CORRECTIONS_QUERY,
    "alerts": MERGE_ALERTS_QUERY,
    "case_steps": MERGE_CASE_STEPS_QUERY,
}

SHIPMENT_ROUTE_QUERY = """
MATCH (s:Shipment {shipment_id: $shipment_id})-[p:PASSED]->(c:Checkpoint)
MATCH (c)-[:LOCATED_IN]->(l:Locality)
RETURN p.event_id AS event_id, p.occurred_at AS occurred_at, c.checkpoint_id AS checkpoint_id,
       c.name AS checkpoint_name, l.code AS locality, p.direction AS direction,
       p.observed_weight_kg AS observed_weight_kg, coalesce(p.retracted, false) AS retracted
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

# How many distinct events of these shipments the graph holds: the event ids on each
# shipment's own relationships (see the provenance note above).
RECORDED_EVENT_COUNT_QUERY = """
MATCH (s:Shipment) WHERE s.shipment_id IN $shipment_ids
CALL (s) {
    MATCH (s)-[r]->() WHERE r.event_id IS NOT NULL
    RETURN r.event_id AS event_id
    UNION
    MATCH (s)<-[r:SEIZED_FROM|CORRECTS]-()
    RETURN r.event_id AS event_id
}
RETURN count(event_id) AS events
"""


# -- investigator queries (graph/queries.py) -------------------------------------------------
TRACE_QUERY = """
MATCH (s:Shipment {shipment_id: $shipment_id})
OPTIONAL MATCH (s)-[p:PASSED]->(c:Checkpoint)-[:LOCATED_IN]->(l:Locality)
WITH s, p, c, l ORDER BY p.occurred_at, p.event_id
WITH s, collect(CASE WHEN p IS NOT NULL THEN {
    shipment_id: s.shipment_id, event_id: p.event_id, occurred_at: p.occurred_at,
    checkpoint_id: c.checkpoint_id, locality: l.code, direction: p.direction,
    observed_weight_kg: p.observed_weight_kg, retracted: coalesce(p.retracted, false)
} END)[0..$limit] AS passages
OPTIONAL MATCH (a:Alert)-[:FLAGS]->(s)
WITH s, passages, a ORDER BY a.raised_at, a.alert_id
RETURN s {.shipment_id, .declared_at, .origin_country, .destination_locality, .categories,
          .declared_weight_kg} AS shipment,
       passages,
       collect(a {.alert_id, .rule, .severity, status: coalesce(a.detection_status, 'open'),
                  .raised_at,
                  .explanation_vi, .explanation_en, .evidence_event_ids}) AS alerts
"""

PASSED_QUERY = """
MATCH (s:Shipment)-[p:PASSED]->(c:Checkpoint)-[:LOCATED_IN]->(l:Locality)
WHERE p.occurred_at >= $since AND p.occurred_at < $until
  AND NOT coalesce(p.retracted, false)
  AND ($checkpoint_id IS NULL OR c.checkpoint_id = $checkpoint_id)
  AND ($locality IS NULL OR l.code = $locality)
  AND ($category IS NULL OR $category IN s.categories)
RETURN s.shipment_id AS shipment_id, p.event_id AS event_id, p.occurred_at AS occurred_at,
       c.checkpoint_id AS checkpoint_id, l.code AS locality, p.direction AS direction,
       p.observed_weight_kg AS observed_weight_kg, false AS retracted
ORDER BY occurred_at, event_id
SKIP $offset LIMIT $limit
"""

# Consecutive standing passages of a shipment inside the window that change locality; each
# (shipment, from, to) counts once, with the declared weight of each goods category.
FLOWS_QUERY = """
MATCH (s:Shipment)-[p:PASSED]->(:Checkpoint)-[:LOCATED_IN]->(l:Locality)
WHERE p.occurred_at >= $since AND p.occurred_at < $until
  AND NOT coalesce(p.retracted, false)
WITH s, p, l ORDER BY p.occurred_at, p.event_id
WITH s, collect(l.code) AS codes
UNWIND range(0, size(codes) - 2) AS i
WITH s, codes[i] AS a, codes[i + 1] AS b
WHERE a <> b
WITH DISTINCT s, a, b
MATCH (s)-[c:CONTAINS]->(g:GoodsCategory)
WHERE c.event_id = s.declaration_event_id AND ($category IS NULL OR g.code = $category)
WITH a, b, g.code AS category, s, sum(c.weight_kg) AS weight
RETURN a AS from_locality, b AS to_locality, category, count(s) AS shipments,
       round(sum(weight), 3) AS weight_kg
ORDER BY shipments DESC, weight_kg DESC, from_locality, to_locality, category
SKIP $offset LIMIT $limit
"""

# Open alerts raised in the window, placed at the checkpoints of their evidence (or at the
# localities they involve), and seizures made in the window.
HOTSPOTS_BY_CHECKPOINT_QUERY = """
CALL () {
    MATCH (a:Alert)-[:FLAGS]->(s:Shipment)-[p:PASSED]->(c:Checkpoint)
    WHERE a.raised_at >= $since AND a.raised_at < $until AND a.detection_status = 'open'
      AND p.event_id IN a.evidence_event_ids
    RETURN c.checkpoint_id AS id, count(DISTINCT a) AS alerts, 0 AS seizures
    UNION ALL
    MATCH (z:Seizure)-[:SEIZED_AT]->(c:Checkpoint)
    WHERE z.occurred_at >= $since AND z.occurred_at < $until
      AND NOT coalesce(z.retracted, false)
    RETURN c.checkpoint_id AS id, 0 AS alerts, count(z) AS seizures
}
WITH id, sum(alerts) AS alerts, sum(seizures) AS seizures
RETURN 'checkpoint' AS kind, id, alerts, seizures
ORDER BY alerts + seizures DESC, id
SKIP $offset LIMIT $limit
"""

HOTSPOTS_BY_LOCALITY_QUERY = """
CALL () {
    MATCH (a:Alert)-[:INVOLVES]->(l:Locality)
    WHERE a.raised_at >= $since AND a.raised_at < $until AND a.detection_status = 'open'
    RETURN l.code AS id, count(DISTINCT a) AS alerts, 0 AS seizures
    UNION ALL
    MATCH (z:Seizure)-[:SEIZED_AT]->(:Checkpoint)-[:LOCATED_IN]->(l:Locality)
    WHERE z.occurred_at >= $since AND z.occurred_at < $until
      AND NOT coalesce(z.retracted, false)
    RETURN l.code AS id, 0 AS alerts, count(z) AS seizures
}
WITH id, sum(alerts) AS alerts, sum(seizures) AS seizures
RETURN 'locality' AS kind, id, alerts, seizures
ORDER BY alerts + seizures DESC, id
SKIP $offset LIMIT $limit
"""

# Alerts by locality (of the latest revision, or the one it was last transferred to),
# status, case status, rule and window; newest first.
ALERTS_QUERY = """
MATCH (a:Alert)
WHERE a.revision IS NOT NULL
  AND ($status IS NULL OR coalesce(a.detection_status, 'open') = $status)
  AND ($case_status IS NULL OR coalesce(a.case_status, 'new') = $case_status)
  AND ($locality IS NULL OR $locality IN a.localities OR a.assigned_to = $locality)
  AND ($rule IS NULL OR a.rule = $rule)
  AND ($since IS NULL OR a.raised_at >= $since) AND ($until IS NULL OR a.raised_at < $until)
RETURN a {.alert_id, .rule, .severity, status: coalesce(a.detection_status, 'open'),
          .raised_at, .explanation_vi, .explanation_en, .evidence_event_ids, .shipment_id,
          .localities, .revision, case_status: coalesce(a.case_status, 'new'),
          .assigned_to} AS alert
ORDER BY a.raised_at DESC, a.alert_id
SKIP $offset LIMIT $limit
"""

ALERT_QUERY = """
MATCH (a:Alert {alert_id: $alert_id})
WHERE a.revision IS NOT NULL
OPTIONAL MATCH (c:CaseStep)-[:ON]->(a)
WITH a, c ORDER BY c.at, c.step_id
RETURN a {.alert_id, .rule, .severity, status: coalesce(a.detection_status, 'open'),
          .raised_at, .explanation_vi, .explanation_en, .evidence_event_ids, .shipment_id,
          .localities, .revision, .evidence, .severity_factors,
          case_status: coalesce(a.case_status, 'new'), .assigned_to, .case_outcome} AS alert,
       collect(c {.step_id, .action, .actor, .via, .at, .note, .outcome, .to_locality,
                  .from_locality}) AS steps
"""

# Closed cases by rule and outcome, closed in a window, of a locality's alerts.
OUTCOMES_QUERY = """
MATCH (a:Alert)
WHERE a.case_status = 'closed' AND a.revision IS NOT NULL
  AND ($since IS NULL OR a.case_at >= $since) AND ($until IS NULL OR a.case_at < $until)
  AND ($locality IS NULL OR $locality IN a.localities OR a.assigned_to = $locality)
RETURN a.rule AS rule, a.case_outcome AS outcome, count(*) AS alerts
"""

# Which of these (shipment, event id) facts the graph holds: evidence traced to what a
# checkpoint reported.
RECORDED_EVIDENCE_QUERY = """
UNWIND $facts AS fact
OPTIONAL MATCH (:Shipment {shipment_id: fact.shipment_id})-[r]->()
  WHERE r.event_id = fact.event_id
OPTIONAL MATCH (z:Seizure {event_id: fact.event_id})
WITH fact, count(r) + count(z) AS found
WHERE found > 0
RETURN DISTINCT fact.event_id AS event_id
"""

"""The embedded graph: the same projection and the same questions as Neo4j, kept in a
networkx MultiDiGraph in memory (the embedded mode, and tests without a server).

:class:`EmbeddedGraph` applies the rows of :func:`graph.projection.project` with the same
keyed-merge rules as the Cypher in graph/cypher.py (a replay changes nothing; corrections
mark, never delete; an older alert revision never overwrites a newer one), and the same
provenance: each relationship's event id, and no list of event ids on any node (the
graph/cypher.py docstring says why).
:class:`graph.embedded_queries.EmbeddedQueries` answers the investigator queries from it;
tests/integration/graph/test_backends.py asks it and Neo4j the same questions over the same
simulated traffic and compares the answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import networkx as nx

from graph.projection import GraphRows, Row, project, reference_rows
from schemas import Alert, CaseStep, Event, Registry

Node = tuple[str, str]  # (label, key)
# What a CaseStep node keeps of its step, besides alert_id and rule (the queries read these).
CASE_STEP_FIELDS = (
    "action", "actor", "via", "at", "note", "outcome", "to_locality", "from_locality",
)  # fmt: skip
# Relationships a correction marks retracted (as graph/cypher.py does); the Seizure node
# itself is marked too.
RETRACTABLE = frozenset(
    {"PASSED", "PLANNED_STOP", "INSPECTED_AT", "TRANSFERRED_TO", "DESTINED_FOR"}
)


class EmbeddedGraph:
    """The supply-chain graph in memory."""

    def __init__(self, registry: Registry) -> None:
        self.g = nx.MultiDiGraph()
        self._by_event: dict[str, list[tuple[Node, Node, str]]] = defaultdict(list)
        self._corrected: dict[str, str] = {}  # corrected event id -> earliest correction id
        self.seizure_events: set[str] = set()
        localities, checkpoints = reference_rows(registry)
        for loc in localities:
            self.g.add_node(("Locality", loc["code"]), **loc)
        for cp in checkpoints:
            node = ("Checkpoint", cp["checkpoint_id"])
            self.g.add_node(node, **cp)
            self.g.add_edge(node, ("Locality", cp["locality"]), key="LOCATED_IN", type="LOCATED_IN")

    # -- writing -------------------------------------------------------------------------
    def write(
        self,
        events: Iterable[Event] = (),
        alerts: Iterable[Alert] = (),
        steps: Iterable[CaseStep] = (),
    ) -> int:
        rows = project(events, alerts, steps)
        self.write_rows(rows)
        return len(rows)

    def write_rows(self, rows: GraphRows) -> None:
        for name, batch in rows.statements().items():
            apply = getattr(self, f"_{name}")
            for row in batch:
                apply(row)

    def _node(self, label: str, key: str) -> Node:
        """The node, made when new."""
        node = (label, key)
        if node not in self.g:
            self.g.add_node(node)
        return node

    def _edge(
        self, u: Node, v: Node, type_: str, event_id: str, extra: str = "", **props: Any
    ) -> None:
        key = f"{type_}|{event_id}|{extra}"
        if not self.g.has_edge(u, v, key):
            self.g.add_edge(u, v, key=key, type=type_, event_id=event_id)
            self._by_event[event_id].append((u, v, key))
        data = self.g.edges[u, v, key]
        data.update(props)
        by = self._corrected.get(event_id)
        if type_ in RETRACTABLE and by is not None:
            data["retracted"], data["retracted_by"] = True, by

    def _declarations(self, row: Row) -> None:
        s = self._node("Shipment", row["shipment_id"])
        props = self.g.nodes[s]
        if props.get("declared_at") is None or props["declared_at"] <= row["declared_at"]:
            props.update(
                declaration_event_id=row["event_id"],
                declared_at=row["declared_at"],
                origin_country=row["origin_country"],
                destination_locality=row["destination_locality"],
                vehicle_plate=row["vehicle_plate"],
                driver_id=row["driver_id"],
                categories=row["categories"],
                declared_weight_kg=row["declared_weight_kg"],
            )
        eid = row["event_id"]
        self._edge(s, ("Locality", row["destination_locality"]), "DESTINED_FOR", eid)
        self._edge(s, self._node("Vehicle", row["vehicle_plate"]), "CARRIED_BY", eid)
        self._edge(s, self._node("Driver", row["driver_id"]), "DRIVEN_BY", eid)
        for line in row["goods"]:
            category = self._node("GoodsCategory", line["category"])
            self._edge(s, category, "CONTAINS", eid, str(line["line"]), **line)
        for party, type_ in ((row["shipper"], "SHIPPED_BY"), (row["consignee"], "CONSIGNED_TO")):
            p = self._node("Party", party["party_id"])
            props = self.g.nodes[p]
            props["name"] = party["name"]
            props["tax_code"] = party.get("tax_code") or props.get("tax_code")
            self._edge(s, p, type_, eid)
        for position, checkpoint_id in enumerate(row["route"], start=1):
            self._edge(s, ("Checkpoint", checkpoint_id), "PLANNED_STOP", eid, str(position))

    def _at(self, row: Row, type_: str, **props: Any) -> None:
        s = self._node("Shipment", row["shipment_id"])
        c = ("Checkpoint", row["checkpoint_id"])
        self._edge(s, c, type_, row["event_id"], occurred_at=row["occurred_at"], **props)

    def _passages(self, row: Row) -> None:
        keys = ("direction", "observed_weight_kg", "seal_status", "observed_plate")
        self._at(row, "PASSED", **{k: row[k] for k in keys})

    def _inspections(self, row: Row) -> None:
        keys = ("outcome", "findings", "finding_kinds", "measured_weight_kg", "inspector_id")
        self._at(row, "INSPECTED_AT", **{k: row[k] for k in keys})

    def _seizures(self, row: Row) -> None:
        s = self._node("Shipment", row["shipment_id"])
        z = self._node("Seizure", row["seizure_id"])
        eid = row["event_id"]
        self.seizure_events.add(eid)
        props = self.g.nodes[z]
        props.update(
            event_id=eid,
            occurred_at=row["occurred_at"],
            reason=row["reason"],
            categories=row["categories"],
            checkpoint_id=row["checkpoint_id"],
        )
        by = self._corrected.get(eid)
        if by is not None:
            props["retracted"], props["retracted_by"] = True, by
        self._edge(z, s, "SEIZED_FROM", eid)
        self._edge(z, ("Checkpoint", row["checkpoint_id"]), "SEIZED_AT", eid)
        for party in row["parties"]:
            p = self._node("Party", party["party_id"])
            self.g.nodes[p]["name"] = party["name"]
            self._edge(z, p, "IMPLICATES", eid)
        if row["vehicle_plate"] is not None:
            self._edge(z, self._node("Vehicle", row["vehicle_plate"]), "IMPLICATES", eid)
        if row["driver_id"] is not None:
            self._edge(z, self._node("Driver", row["driver_id"]), "IMPLICATES", eid)

    def _transfers(self, row: Row) -> None:
        s = self._node("Shipment", row["shipment_id"])
        to = self._node("Shipment", row["to_shipment_id"])
        self._edge(s, to, "TRANSFERRED_TO", row["event_id"], occurred_at=row["occurred_at"])

    def _corrections(self, row: Row) -> None:
        x = self._node("Correction", row["event_id"])
        self.g.nodes[x].update(corrected_event_id=row["corrected_event_id"])
        self._edge(x, self._node("Shipment", row["shipment_id"]), "CORRECTS", row["event_id"])
        target = row["corrected_event_id"]
        earlier = self._corrected.get(target)
        by = row["event_id"] if earlier is None else min(earlier, row["event_id"])
        self._corrected[target] = by
        for u, v, key in self._by_event.get(target, []):
            data = self.g.edges[u, v, key]
            if data["type"] in RETRACTABLE:
                data["retracted"], data["retracted_by"] = True, by
        for node, props in self.g.nodes(data=True):
            if node[0] == "Seizure" and props.get("event_id") == target:
                props["retracted"], props["retracted_by"] = True, by

    def _alerts(self, row: Row) -> None:
        a = self._node("Alert", row["alert_id"])
        props = self.g.nodes[a]
        if props.get("revision", 0) > row["revision"]:
            return
        props.update(
            revision=row["revision"],
            rule=row["rule"],
            severity=row["severity"],
            detection_status=row["status"],
            raised_at=row["raised_at"],
            explanation_vi=row["explanation_vi"],
            explanation_en=row["explanation_en"],
            evidence_event_ids=row["evidence_event_ids"],
            evidence=row["evidence"],
            severity_factors=row["severity_factors"],
            shipment_id=row["shipment_id"],
            localities=row["localities"],
        )
        s = self._node("Shipment", row["shipment_id"])
        self.g.add_edge(a, s, key="FLAGS", type="FLAGS", alert_id=row["alert_id"])
        for code in row["localities"]:
            self.g.add_edge(
                a, ("Locality", code), key="INVOLVES", type="INVOLVES", alert_id=row["alert_id"]
            )

    def _case_steps(self, row: Row) -> None:
        c = self._node("CaseStep", row["step_id"])
        props = self.g.nodes[c]
        if "action" not in props:  # as ON CREATE SET: a replay changes nothing
            props.update({k: row[k] for k in ("alert_id", "rule", *CASE_STEP_FIELDS)})
        a = self._node("Alert", row["alert_id"])
        self.g.add_edge(c, a, key="ON", type="ON", step_id=row["step_id"])
        alert, order = self.g.nodes[a], (row["at"], row["step_id"])
        if "case_at" not in alert or order > (alert["case_at"], alert["case_step_id"]):
            alert.update(
                case_status=row["status"],
                case_outcome=row["outcome"],
                case_at=row["at"],
                case_step_id=row["step_id"],
                case_actor=row["actor"],
            )
        if row["to_locality"] is not None:
            self.g.add_edge(
                c, ("Locality", row["to_locality"]), key="TO", type="TO", step_id=row["step_id"]
            )
            if "assigned_at" not in alert or order > (
                alert["assigned_at"],
                alert["assigned_step_id"],
            ):
                alert.update(
                    assigned_to=row["to_locality"],
                    assigned_at=row["at"],
                    assigned_step_id=row["step_id"],
                )

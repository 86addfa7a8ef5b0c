"""The graph projection: which nodes and relationships events and alerts make. Pure.

:func:`project` turns a batch of events and alerts into parameter rows, one list per
Cypher statement in :data:`graph.cypher.WRITE_QUERIES`; the writer sends each list as
``$rows`` to its ``UNWIND`` statement. Every row carries the event id (or alert id) that
made it, so the graph records its provenance. Neo4j properties cannot hold maps, so goods
lists travel as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas import (
    Alert,
    CargoTransferred,
    CaseStep,
    CheckpointScanned,
    Event,
    EventCorrected,
    GoodsQuantity,
    InspectionRecorded,
    Registry,
    SeizureRecorded,
    ShipmentDeclared,
)
from schemas.cases import STATUS_AFTER

Row = dict[str, Any]


@dataclass
class GraphRows:
    """Rows for each write statement, in the order the writer runs them.

    A declaration makes one row, with its shipper, consignee and route (in order): a row
    for each party link or stop looked the same shipment up again for each, and three
    statements a declaration (itself, its parties, its route) cost Neo4j a sixth more than
    one (bench/graph_write.py).
    """

    declarations: list[Row] = field(default_factory=list)
    passages: list[Row] = field(default_factory=list)
    inspections: list[Row] = field(default_factory=list)
    seizures: list[Row] = field(default_factory=list)
    transfers: list[Row] = field(default_factory=list)
    corrections: list[Row] = field(default_factory=list)
    alerts: list[Row] = field(default_factory=list)
    case_steps: list[Row] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.statements().values())

    def statements(self) -> dict[str, list[Row]]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def reference_rows(registry: Registry) -> tuple[list[Row], list[Row]]:
    """Rows for the Locality and Checkpoint nodes of the reference registry."""
    localities = [loc.model_dump() for loc in registry.localities.values()]
    checkpoints = [
        {**cp.model_dump(exclude={"id"}), "checkpoint_id": cp.id, "kind": cp.kind.value}
        for cp in registry.checkpoints.values()
    ]
    return localities, checkpoints


def _goods_json(goods: list[GoodsQuantity]) -> str:
    return json.dumps([g.model_dump(mode="json") for g in goods], ensure_ascii=False)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _declaration(rows: GraphRows, ev: ShipmentDeclared) -> None:
    rows.declarations.append(
        {
            "shipment_id": ev.shipment_id,
            "event_id": ev.event_id,
            "declared_at": ev.occurred_at,
            "origin_country": ev.origin_country,
            "destination_locality": ev.destination_locality,
            "vehicle_plate": ev.vehicle_plate,
            "driver_id": ev.driver_id,
            "categories": sorted({g.category.value for g in ev.goods}),
            "declared_weight_kg": float(ev.total_weight_kg),
            "goods": [
                {
                    "line": n,
                    "category": g.category.value,
                    "hs_code": g.hs_code,
                    "description": g.description,
                    "quantity": float(g.quantity),
                    "unit": g.unit,
                    "weight_kg": float(g.weight_kg),
                    "value_vnd": _number(g.value_vnd),
                }
                for n, g in enumerate(ev.goods, start=1)
            ],
            "shipper": ev.shipper.model_dump(),
            "consignee": ev.consignee.model_dump(),
            "route": list(ev.declared_route),
        }
    )


def _event_rows(rows: GraphRows, ev: Event) -> None:
    base = {
        "shipment_id": ev.shipment_id,
        "event_id": ev.event_id,
        "checkpoint_id": ev.checkpoint_id,
        "occurred_at": ev.occurred_at,
    }
    if isinstance(ev, ShipmentDeclared):
        _declaration(rows, ev)
    elif isinstance(ev, CheckpointScanned):
        rows.passages.append(
            {
                **base,
                "direction": ev.direction.value,
                "observed_weight_kg": _number(ev.observed_weight_kg),
                "seal_status": ev.seal_status.value,
                "observed_plate": ev.observed_plate,
            }
        )
    elif isinstance(ev, InspectionRecorded):
        rows.inspections.append(
            {
                **base,
                "outcome": ev.outcome.value,
                "findings": [f"{f.kind.value}: {f.description}" for f in ev.findings],
                "finding_kinds": sorted({f.kind.value for f in ev.findings}),
                "measured_weight_kg": _number(ev.measured_weight_kg),
                "inspector_id": ev.inspector_id,
            }
        )
    elif isinstance(ev, SeizureRecorded):
        rows.seizures.append(
            {
                **base,
                "seizure_id": ev.seizure_id,
                "reason": ev.reason.value,
                "details": ev.details,
                "goods": _goods_json(ev.goods),
                "categories": sorted({g.category.value for g in ev.goods}),
                "parties": [p.model_dump() for p in ev.parties_implicated],
                "vehicle_plate": ev.vehicle_plate,
                "driver_id": ev.driver_id,
            }
        )
    elif isinstance(ev, CargoTransferred):
        rows.transfers.append(
            {
                **base,
                "to_shipment_id": ev.to_shipment_id,
                "goods": _goods_json(ev.goods),
                "from_vehicle_plate": ev.from_vehicle_plate,
                "to_vehicle_plate": ev.to_vehicle_plate,
            }
        )
    elif isinstance(ev, EventCorrected):
        rows.corrections.append(
            {
                **base,
                "corrected_event_id": ev.corrected_event_id,
                "reason": ev.reason.value,
                "corrective_event_ids": list(ev.corrective_event_ids),
                "note": ev.note,
            }
        )


def project(
    events: Iterable[Event], alerts: Iterable[Alert] = (), steps: Iterable[CaseStep] = ()
) -> GraphRows:
    """Rows for a batch of events, alerts and case steps."""
    rows = GraphRows()
    for event in events:
        _event_rows(rows, event)
    for alert in alerts:
        rows.alerts.append(
            {
                "alert_id": alert.alert_id,
                "revision": alert.revision,
                "status": alert.status.value,
                "rule": alert.rule.value,
                "severity": alert.severity,
                "shipment_id": alert.shipment_id,
                "localities": alert.localities,
                "raised_at": alert.raised_at,
                "explanation_vi": alert.explanation_vi,
                "explanation_en": alert.explanation_en,
                "evidence_event_ids": [ev.event_id for ev in alert.evidence],
                "evidence": json.dumps(
                    [ev.model_dump(mode="json") for ev in alert.evidence], ensure_ascii=False
                ),
                "severity_factors": json.dumps(alert.severity_factors),
                "withdrawn_by": alert.withdrawn_by,
            }
        )
    for step in steps:
        rows.case_steps.append(
            {
                "step_id": step.step_id,
                "alert_id": step.alert_id,
                "shipment_id": step.shipment_id,
                "rule": step.rule.value,
                "action": step.action.value,
                "status": STATUS_AFTER[step.action].value,
                "actor": step.actor,
                "via": step.via,
                "at": step.at,
                "note": step.note,
                "outcome": step.outcome.value if step.outcome else None,
                "to_locality": step.to_locality,
                "from_locality": step.from_locality,
            }
        )
    return rows

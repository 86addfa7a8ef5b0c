"""The graph projection: which nodes and relationships events and alerts make. Pure.

:func:`project` turns a batch of events and alerts into parameter rows, one list per
Cypher statement in :mod:`graph.cypher`; the writer sends each list as ``$rows`` to one
``UNWIND`` statement. Every row carries the event id (or alert id) that made it, so the
graph records its provenance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas import Alert, CheckpointScanned, Registry, ShipmentDeclared

Row = dict[str, Any]


@dataclass
class GraphRows:
    """Rows for each write statement, in the order the writer runs them."""

    declarations: list[Row] = field(default_factory=list)
    planned_stops: list[Row] = field(default_factory=list)
    passages: list[Row] = field(default_factory=list)
    alerts: list[Row] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.statements().values())

    def statements(self) -> dict[str, list[Row]]:
        return {
            "declarations": self.declarations,
            "planned_stops": self.planned_stops,
            "passages": self.passages,
            "alerts": self.alerts,
        }


def reference_rows(registry: Registry) -> tuple[list[Row], list[Row]]:
    """Rows for the Locality and Checkpoint nodes of the reference registry."""
    localities = [loc.model_dump() for loc in registry.localities.values()]
    checkpoints = [
        {**cp.model_dump(exclude={"id"}), "checkpoint_id": cp.id, "kind": cp.kind.value}
        for cp in registry.checkpoints.values()
    ]
    return localities, checkpoints


def project(
    events: Iterable[ShipmentDeclared | CheckpointScanned], alerts: Iterable[Alert] = ()
) -> GraphRows:
    """Rows for a batch of events and alerts."""
    rows = GraphRows()
    for event in events:
        if isinstance(event, ShipmentDeclared):
            rows.declarations.append(
                {
                    "shipment_id": event.shipment_id,
                    "event_id": event.event_id,
                    "declared_at": event.occurred_at,
                    "origin_country": event.origin_country,
                    "destination_locality": event.destination_locality,
                    "vehicle_plate": event.vehicle_plate,
                    "driver_id": event.driver_id,
                    "categories": sorted({g.category.value for g in event.goods}),
                    "declared_weight_kg": float(event.total_weight_kg),
                }
            )
            rows.planned_stops.extend(
                {
                    "shipment_id": event.shipment_id,
                    "checkpoint_id": cp,
                    "position": position,
                    "event_id": event.event_id,
                }
                for position, cp in enumerate(event.declared_route, start=1)
            )
        else:
            rows.passages.append(
                {
                    "shipment_id": event.shipment_id,
                    "checkpoint_id": event.checkpoint_id,
                    "event_id": event.event_id,
                    "occurred_at": event.occurred_at,
                    "direction": event.direction.value,
                    "observed_weight_kg": (
                        None
                        if event.observed_weight_kg is None
                        else float(event.observed_weight_kg)
                    ),
                    "seal_status": event.seal_status.value,
                }
            )
    for alert in alerts:
        rows.alerts.append(
            {
                "alert_id": alert.alert_id,
                "revision": alert.revision,
                "rule": alert.rule.value,
                "severity": alert.severity,
                "shipment_id": alert.shipment_id,
                "localities": alert.localities,
                "raised_at": alert.raised_at,
                "explanation_vi": alert.explanation_vi,
                "explanation_en": alert.explanation_en,
                "evidence_event_ids": [ev.event_id for ev in alert.evidence],
            }
        )
    return rows

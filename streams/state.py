"""Per-shipment state the detection engine keeps (JSON-serialisable for Faust tables)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from schemas import CheckpointScanned, ShipmentDeclared


class Declaration(BaseModel):
    """What the engine keeps of a shipment.declared event."""

    event_id: str
    occurred_at: AwareDatetime
    route: list[str]
    origin_country: str
    categories: list[str]
    destination_locality: str


class Scan(BaseModel):
    """What the engine keeps of a checkpoint.scanned event."""

    event_id: str
    checkpoint_id: str
    occurred_at: AwareDatetime


class EmittedAlert(BaseModel):
    """The last revision of an alert sent out, and the evidence it carried."""

    revision: int
    evidence_ids: list[str]


class ShipmentState(BaseModel):
    """Everything the engine knows about one shipment."""

    shipment_id: str
    declaration: Declaration | None = None
    scans: list[Scan] = Field(default_factory=list)  # sorted by event time, then event id
    emitted: dict[str, EmittedAlert] = Field(default_factory=dict)  # by alert id

    def has_seen(self, event_id: str) -> bool:
        if self.declaration is not None and self.declaration.event_id == event_id:
            return True
        return any(scan.event_id == event_id for scan in self.scans)

    def with_event(self, event: ShipmentDeclared | CheckpointScanned) -> ShipmentState:
        """A copy of this state with the event recorded."""
        if isinstance(event, ShipmentDeclared):
            decl = Declaration(
                event_id=event.event_id,
                occurred_at=event.occurred_at,
                route=list(event.declared_route),
                origin_country=event.origin_country,
                categories=sorted({line.category.value for line in event.goods}),
                destination_locality=event.destination_locality,
            )
            return self.model_copy(update={"declaration": decl})
        scan = Scan(
            event_id=event.event_id,
            checkpoint_id=event.checkpoint_id,
            occurred_at=event.occurred_at,
        )
        scans = sorted([*self.scans, scan], key=lambda s: (s.occurred_at, s.event_id))
        return self.model_copy(update={"scans": scans})

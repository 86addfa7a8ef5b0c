"""Per-shipment state the detection engine keeps (JSON-serialisable for Faust tables).

Nothing is deleted: a corrected event stays in the state, marked as retracted, and the
rules look only at the active (not retracted) events.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from schemas import (
    CaseOutcome,
    CaseState,
    CaseStatus,
    CaseStep,
    CheckpointScanned,
    Event,
    EventCorrected,
    InspectionOutcome,
    InspectionRecorded,
    SeizureRecorded,
    ShipmentDeclared,
    case_after,
)


class Declaration(BaseModel):
    """What the engine keeps of a shipment.declared event."""

    event_id: str
    occurred_at: AwareDatetime
    route: list[str]
    origin_country: str
    categories: list[str]
    destination_locality: str
    # Fields added after the first release have defaults, so state stored by an older
    # version still reads (the Faust table keeps it across upgrades).
    checkpoint_id: str = ""  # where it was filed
    weight_kg: float = 0.0  # declared total; 0 when unknown
    # Who and what carries it: (kind, value) pairs, kind "party", "vehicle" or "driver".
    entities: list[tuple[str, str]] = Field(default_factory=list)


class SeizureFact(BaseModel):
    """What the engine keeps of a seizure.recorded event: who and what it implicates."""

    event_id: str
    seizure_id: str
    occurred_at: AwareDatetime
    checkpoint_id: str
    implicated: list[tuple[str, str]]  # (kind, value), as in Declaration.entities


class Scan(BaseModel):
    """What the engine keeps of a checkpoint.scanned event."""

    event_id: str
    checkpoint_id: str
    occurred_at: AwareDatetime
    direction: str = "passing"
    weight_kg: float | None = None  # observed at a weighbridge


class Correction(BaseModel):
    """What the engine keeps of an event.corrected event."""

    event_id: str
    corrected_event_id: str
    occurred_at: AwareDatetime
    reason: str


class EmittedAlert(BaseModel):
    """The last revision of an alert sent out, and what it carried."""

    revision: int
    evidence_ids: list[str]
    localities: list[str] = Field(default_factory=list)
    withdrawn: bool = False


class AlertCase(BaseModel):
    """What the engine keeps of the task forces' steps on one of the shipment's alerts."""

    rule: str
    case: CaseState = Field(default_factory=CaseState)

    @property
    def outcome(self) -> CaseOutcome | None:
        """The outcome of the case, when its latest step closed it."""
        return self.case.outcome if self.case.status == CaseStatus.CLOSED else None


def _by_time(item: Declaration | Scan | Correction) -> tuple[AwareDatetime, str]:
    return (item.occurred_at, item.event_id)


STATE_VERSION = 1


class ShipmentState(BaseModel):
    """Everything the engine knows about one shipment.

    Stored as JSON in the Faust table: a field added later must have a default, so that
    state written by an older version still reads; ``state_version`` is for migrations
    that cannot be expressed that way.
    """

    state_version: int = STATE_VERSION
    shipment_id: str
    declarations: list[Declaration] = Field(default_factory=list)  # by event time
    scans: list[Scan] = Field(default_factory=list)  # by event time, then event id
    corrections: list[Correction] = Field(default_factory=list)  # by event time
    other_event_ids: list[str] = Field(default_factory=list)  # events no rule reads yet
    # Event time: the partition's watermark when this shipment was last judged, events that
    # arrived after it had passed them (late), and when the goods were held (a seizure).
    watermark: AwareDatetime | None = None
    late_event_ids: list[str] = Field(default_factory=list)
    held_at: AwareDatetime | None = None
    seizures: list[SeizureFact] = Field(default_factory=list)
    # The declaration the rules about other shipments (links, corridors) last judged, once
    # the global low watermark had passed it; "" while they still wait for it.
    context_judged_for: str = ""
    emitted: dict[str, EmittedAlert] = Field(default_factory=dict)  # by alert id
    cases: dict[str, AlertCase] = Field(default_factory=dict)  # by alert id

    def with_case_step(self, step: CaseStep) -> ShipmentState:
        """A copy with the task force's step on one of this shipment's alerts recorded (a
        repeated step changes nothing: schemas.cases.case_after)."""
        known = self.cases.get(step.alert_id) or AlertCase(rule=step.rule.value)
        after = known.model_copy(update={"case": case_after(known.case, step)})
        if after == known:
            return self
        return self.model_copy(update={"cases": {**self.cases, step.alert_id: after}})

    def own_facts(self, event_ids: list[str]) -> list[tuple[str, str, AwareDatetime]]:
        """(event id, checkpoint id, event time) of the declarations and scans of this
        shipment among ``event_ids``, in that order."""
        known = {d.event_id: d for d in self.declarations} | {s.event_id: s for s in self.scans}
        return [
            (eid, known[eid].checkpoint_id, known[eid].occurred_at)
            for eid in event_ids
            if eid in known
        ]

    def has_seen(self, event_id: str) -> bool:
        return (
            event_id in self.other_event_ids
            or any(d.event_id == event_id for d in self.declarations)
            or any(s.event_id == event_id for s in self.scans)
            or any(c.event_id == event_id for c in self.corrections)
        )

    @property
    def retracted(self) -> dict[str, Correction]:
        """Retracted event id -> the correction that retracted it (the earliest one, by
        event time, when an event was corrected twice)."""
        if not self.corrections:  # nearly every shipment
            return {}
        result: dict[str, Correction] = {}
        for correction in self.corrections:  # sorted by event time
            result.setdefault(correction.corrected_event_id, correction)
        return result

    @property
    def declaration(self) -> Declaration | None:
        """The latest declaration that was not retracted."""
        if not self.corrections:  # nearly every shipment; rules ask for it many times
            return self.declarations[-1] if self.declarations else None
        retracted = self.retracted
        active = [d for d in self.declarations if d.event_id not in retracted]
        return active[-1] if active else None

    @property
    def active_scans(self) -> list[Scan]:
        retracted = self.retracted
        return [s for s in self.scans if s.event_id not in retracted] if retracted else self.scans

    def with_event(self, event: Event) -> ShipmentState:
        """A copy of this state with the event recorded."""
        if isinstance(event, ShipmentDeclared):
            decl = Declaration(
                event_id=event.event_id,
                occurred_at=event.occurred_at,
                checkpoint_id=event.checkpoint_id,
                route=list(event.declared_route),
                origin_country=event.origin_country,
                categories=sorted({line.category.value for line in event.goods}),
                destination_locality=event.destination_locality,
                weight_kg=float(event.total_weight_kg),
                entities=entities_of_declaration(event),
            )
            return self.model_copy(
                update={"declarations": sorted([*self.declarations, decl], key=_by_time)}
            )
        if isinstance(event, CheckpointScanned):
            scan = Scan(
                event_id=event.event_id,
                checkpoint_id=event.checkpoint_id,
                occurred_at=event.occurred_at,
                direction=event.direction.value,
                weight_kg=None
                if event.observed_weight_kg is None
                else float(event.observed_weight_kg),
            )
            return self.model_copy(update={"scans": sorted([*self.scans, scan], key=_by_time)})
        if isinstance(event, EventCorrected):
            correction = Correction(
                event_id=event.event_id,
                corrected_event_id=event.corrected_event_id,
                occurred_at=event.occurred_at,
                reason=event.reason.value,
            )
            corrections = sorted([*self.corrections, correction], key=_by_time)
            return self.model_copy(update={"corrections": corrections})
        update: dict[str, object] = {"other_event_ids": [*self.other_event_ids, event.event_id]}
        if isinstance(event, SeizureRecorded):
            update["seizures"] = [*self.seizures, seizure_fact(event)]
        held = isinstance(event, SeizureRecorded) or (
            isinstance(event, InspectionRecorded) and event.outcome == InspectionOutcome.SEIZED
        )
        if held and (self.held_at is None or event.occurred_at < self.held_at):
            update["held_at"] = event.occurred_at
        return self.model_copy(update=update)


def entities_of_declaration(event: ShipmentDeclared) -> list[tuple[str, str]]:
    """The parties, vehicle and driver of a declaration, as (kind, value) pairs."""
    return _unique(
        [
            ("party", event.shipper.party_id),
            ("party", event.consignee.party_id),
            ("vehicle", event.vehicle_plate),
            ("driver", event.driver_id),
        ]
    )


def seizure_fact(event: SeizureRecorded) -> SeizureFact:
    implicated = [("party", p.party_id) for p in event.parties_implicated]
    if event.vehicle_plate:
        implicated.append(("vehicle", event.vehicle_plate))
    if event.driver_id:
        implicated.append(("driver", event.driver_id))
    return SeizureFact(
        event_id=event.event_id,
        seizure_id=event.seizure_id,
        occurred_at=event.occurred_at,
        checkpoint_id=event.checkpoint_id,
        implicated=_unique(implicated),
    )


def _unique(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pairs))

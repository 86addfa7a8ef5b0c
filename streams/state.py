"""Per-shipment state the detection engine keeps (JSON-serialisable for Faust tables).

Nothing is deleted: a corrected event stays in the state, marked as retracted, and the
rules look only at the active (not retracted) events.
"""

from __future__ import annotations

from collections.abc import Iterator

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
from streams.facts import (
    CaseFact,
    DeclarationFact,
    Fact,
    SeizureFact,
    entities_of_declaration,
    implicated_by,
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


class Seizure(BaseModel):
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
    # A digest of everything the alert says (engine._fingerprint): a new revision goes out
    # when it changes, so the latest revision never depends on when it was judged.
    fingerprint: str = ""
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
    seizures: list[Seizure] = Field(default_factory=list)
    # The latest event time of any of its events: the state is kept for the retention after
    # it (streams/handler.py), then dropped.
    last_event_at: AwareDatetime | None = None
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

    def facts(self) -> Iterator[Fact]:
        """What other shipments' rules read of this one: its declarations (retracted ones
        too: they still say who travelled together), seizures and closed cases."""
        for decl in self.declarations:
            yield DeclarationFact(
                self.shipment_id,
                decl.event_id,
                decl.occurred_at,
                decl.checkpoint_id,
                tuple((k, v) for k, v in decl.entities),
            )
        for seizure in self.seizures:
            yield SeizureFact(
                self.shipment_id,
                seizure.event_id,
                seizure.seizure_id,
                seizure.occurred_at,
                seizure.checkpoint_id,
                tuple((k, v) for k, v in seizure.implicated),
            )
        for alert_id in self.cases:
            yield self.case_fact(alert_id)

    def case_fact(self, alert_id: str) -> CaseFact:
        """The task forces' latest word on one of this shipment's alerts, with the alert's
        own facts (for corridor incidents when it was confirmed)."""
        alert_case = self.cases[alert_id]
        emitted = self.emitted.get(alert_id)
        outcome = alert_case.outcome
        return CaseFact(
            alert_id=alert_id,
            rule=alert_case.rule,
            shipment_id=self.shipment_id,
            outcome=None if outcome is None else outcome.value,
            facts=tuple(self.own_facts(emitted.evidence_ids if emitted else [])),
        )

    def with_event(self, event: Event) -> ShipmentState:
        """A copy of this state with the event recorded."""
        update: dict[str, object] = {}
        if self.last_event_at is None or event.occurred_at > self.last_event_at:
            update["last_event_at"] = event.occurred_at
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
                entities=list(entities_of_declaration(event)),
            )
            update["declarations"] = sorted([*self.declarations, decl], key=_by_time)
        elif isinstance(event, CheckpointScanned):
            scan = Scan(
                event_id=event.event_id,
                checkpoint_id=event.checkpoint_id,
                occurred_at=event.occurred_at,
                direction=event.direction.value,
                weight_kg=None
                if event.observed_weight_kg is None
                else float(event.observed_weight_kg),
            )
            update["scans"] = sorted([*self.scans, scan], key=_by_time)
        elif isinstance(event, EventCorrected):
            correction = Correction(
                event_id=event.event_id,
                corrected_event_id=event.corrected_event_id,
                occurred_at=event.occurred_at,
                reason=event.reason.value,
            )
            update["corrections"] = sorted([*self.corrections, correction], key=_by_time)
        else:
            update["other_event_ids"] = [*self.other_event_ids, event.event_id]
            if isinstance(event, SeizureRecorded):
                update["seizures"] = [*self.seizures, _seizure(event)]
            held = isinstance(event, SeizureRecorded) or (
                isinstance(event, InspectionRecorded) and event.outcome == InspectionOutcome.SEIZED
            )
            if held and (self.held_at is None or event.occurred_at < self.held_at):
                update["held_at"] = event.occurred_at
        return self.model_copy(update=update)


def _seizure(event: SeizureRecorded) -> Seizure:
    return Seizure(
        event_id=event.event_id,
        seizure_id=event.seizure_id,
        occurred_at=event.occurred_at,
        checkpoint_id=event.checkpoint_id,
        implicated=list(implicated_by(event)),
    )


def encode_state(state: ShipmentState) -> bytes:
    """The state as stored in the detection-state topic (JSON)."""
    return state.model_dump_json().encode()


def decode_state(value: bytes) -> ShipmentState:
    """A stored state (pydantic's ValidationError when it does not read)."""
    return ShipmentState.model_validate_json(value)

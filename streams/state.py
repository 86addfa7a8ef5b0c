"""Per-shipment state the detection engine keeps, and its JSON (the detection-state topic).

Nothing is deleted: a corrected event stays in the state, marked as retracted, and the
rules look only at the active (not retracted) events.

Why a slotted class of tuples, not a pydantic model: the engine makes a new state for every
event it judges, and at 5,000 events/s pydantic's copies, and the garbage collector's walks
over their dicts, were most of the cost. Events arrive mostly in time order, so recording
one is an append to a tuple (an insertion where it belongs when late), never a re-sort. A
state is a value: treat it and what it holds as read-only (the engine changes only a copy
it has just made, before anyone else sees it).

The JSON is the one pydantic wrote for the model this replaced, field for field, so states
written by earlier versions read, and earlier versions read these.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, Protocol, TypeVar

from pydantic import TypeAdapter
from pydantic_core import to_json

from schemas import (
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
from streams.kept import (
    AlertCase,
    Correction,
    Declaration,
    EmittedAlert,
    Scan,
    Seizure,
    Time,
    canonical,
    cases_json,
    corrections_json,
    declarations_json,
    emitted_json,
    scans_json,
    seizures_json,
)

__all__ = [
    "AlertCase",
    "Correction",
    "Declaration",
    "EmittedAlert",
    "Scan",
    "Seizure",
    "ShipmentState",
    "canonical",
    "decode_state",
    "encode_state",
]

STATE_VERSION = 1


@dataclass(slots=True)
class ShipmentState:
    """Everything the engine knows about one shipment.

    Stored as JSON (:func:`encode_state`): a field added later must have a default, so
    that state written by an older version still reads; ``state_version`` is for
    migrations that cannot be expressed that way (:func:`decode_state`).
    """

    shipment_id: str
    state_version: int = STATE_VERSION
    declarations: tuple[Declaration, ...] = ()  # by event time
    scans: tuple[Scan, ...] = ()  # by event time, then event id
    corrections: tuple[Correction, ...] = ()  # by event time
    other_event_ids: tuple[str, ...] = ()  # events no rule reads yet
    # Event time: the partition's watermark when this shipment was last judged, events that
    # arrived after it had passed them (late), and when the goods were held (a seizure).
    watermark: Time | None = None
    late_event_ids: tuple[str, ...] = ()
    held_at: Time | None = None
    seizures: tuple[Seizure, ...] = ()
    # The latest event time of any of its events: the state is kept for the retention after
    # it (streams/handler.py), then dropped.
    last_event_at: Time | None = None
    # The declaration the rules about other shipments (links, corridors) last judged, once
    # the global low watermark had passed it; "" while they still wait for it.
    context_judged_for: str = ""
    emitted: dict[str, EmittedAlert] = field(default_factory=dict)  # by alert id
    cases: dict[str, AlertCase] = field(default_factory=dict)  # by alert id
    # What the rules derived at its last judgement (streams.rules.base.Derived), for the
    # next judgement to extend; neither stored nor compared.
    derived: Any = field(default=None, init=False, repr=False, compare=False)

    def copy(self) -> ShipmentState:
        """A shallow copy (what it holds is immutable or replaced, never changed)."""
        new = _blank(ShipmentState)
        new.shipment_id = self.shipment_id
        new.state_version = self.state_version
        new.declarations = self.declarations
        new.scans = self.scans
        new.corrections = self.corrections
        new.other_event_ids = self.other_event_ids
        new.watermark = self.watermark
        new.late_event_ids = self.late_event_ids
        new.held_at = self.held_at
        new.seizures = self.seizures
        new.last_event_at = self.last_event_at
        new.context_judged_for = self.context_judged_for
        new.emitted = self.emitted
        new.cases = self.cases
        new.derived = self.derived
        return new

    def with_case_step(self, step: CaseStep) -> ShipmentState:
        """A copy with the task force's step on one of this shipment's alerts recorded (a
        repeated step changes nothing, and returns this same state:
        schemas.cases.case_after)."""
        known = self.cases.get(step.alert_id) or AlertCase(rule=step.rule.value)
        after = AlertCase(known.rule, case_after(known.case, step))
        if after == known:
            return self
        new = self.copy()
        new.cases = {**self.cases, step.alert_id: after}
        return new

    def own_facts(self, event_ids: list[str]) -> list[tuple[str, str, datetime]]:
        """(event id, checkpoint id, event time) of the declarations and scans of this
        shipment among ``event_ids``, in that order."""
        known: dict[str, Declaration | Scan] = {d.event_id: d for d in self.declarations}
        known |= {s.event_id: s for s in self.scans}
        return [
            (eid, known[eid].checkpoint_id, known[eid].occurred_at)
            for eid in event_ids
            if eid in known
        ]

    def has_seen(self, event_id: str) -> bool:
        return (
            event_id in self.other_event_ids
            or event_id in map(_event_id, self.scans)
            or event_id in map(_event_id, self.declarations)
            or event_id in map(_event_id, self.corrections)
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
    def active_scans(self) -> tuple[Scan, ...]:
        if not self.corrections:
            return self.scans
        retracted = self.retracted
        return tuple(s for s in self.scans if s.event_id not in retracted)

    def facts(self) -> Iterator[Fact]:
        """What other shipments' rules read of this one: its declarations (retracted ones
        too: they still say who travelled together), seizures and closed cases."""
        for decl in self.declarations:
            yield DeclarationFact(
                self.shipment_id,
                decl.event_id,
                decl.occurred_at,
                decl.checkpoint_id,
                decl.entities,
            )
        for seizure in self.seizures:
            yield SeizureFact(
                self.shipment_id,
                seizure.event_id,
                seizure.seizure_id,
                seizure.occurred_at,
                seizure.checkpoint_id,
                seizure.implicated,
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
        new = self.copy()
        new.record(event)
        return new

    def record(self, event: Event) -> None:
        """Record the event in this state, in place: only for a copy just made (the
        engine's, before it returns it), never for a state someone else holds."""
        at = canonical(event.occurred_at)
        if self.last_event_at is None or at > self.last_event_at:
            self.last_event_at = at
        if isinstance(event, CheckpointScanned):  # most events
            weight = event.observed_weight_kg
            scan = Scan(
                event.event_id,
                event.checkpoint_id,
                at,
                _text(event.direction),
                None if weight is None else float(weight),
                event.observed_plate,
                _text(event.seal_status),
            )
            scans = self.scans
            if not scans or scans[-1].occurred_at < at:  # in order: nearly every scan
                self.scans = (*scans, scan)
            else:
                self.scans = _inserted(scans, scan)
        elif isinstance(event, ShipmentDeclared):
            decl = Declaration(
                event.event_id,
                at,
                tuple(event.declared_route),
                event.origin_country,
                tuple(sorted({_text(line.category) for line in event.goods})),
                event.destination_locality,
                event.checkpoint_id,
                float(event.total_weight_kg),
                entities_of_declaration(event),
            )
            self.declarations = _inserted(self.declarations, decl)
        elif isinstance(event, EventCorrected):
            correction = Correction(
                event.event_id, event.corrected_event_id, at, _text(event.reason)
            )
            self.corrections = _inserted(self.corrections, correction)
        else:
            self.other_event_ids = (*self.other_event_ids, event.event_id)
            if isinstance(event, SeizureRecorded):
                seizure = Seizure(
                    event.event_id,
                    event.seizure_id,
                    at,
                    event.checkpoint_id,
                    implicated_by(event),
                )
                self.seizures = (*self.seizures, seizure)
            held = isinstance(event, SeizureRecorded) or (
                isinstance(event, InspectionRecorded) and event.outcome == InspectionOutcome.SEIZED
            )
            if held and (self.held_at is None or at < self.held_at):
                self.held_at = at


_blank = object.__new__
_text = str.__str__  # a StrEnum member's value, as a plain str (its .value is slow)
_event_id = itemgetter(0)  # of a Scan, Declaration or Correction


def _by_time(item: _Timed) -> tuple[datetime, str]:
    return (item.occurred_at, item.event_id)


class _Timed(Protocol):
    @property
    def occurred_at(self) -> datetime: ...

    @property
    def event_id(self) -> str: ...


K = TypeVar("K", bound=_Timed)


def _inserted(items: tuple[K, ...], item: K) -> tuple[K, ...]:
    """``items`` (by event time, then event id) with ``item`` where it belongs: at the end
    for an event in order (nearly all), after any equal key (as a stable sort would)."""
    key = (item.occurred_at, item.event_id)
    if not items or (items[-1].occurred_at, items[-1].event_id) <= key:
        return (*items, item)
    i = bisect.bisect_right(items, key, key=_by_time)
    return (*items[:i], item, *items[i:])


# -- JSON ------------------------------------------------------------------------------


def encode_state(state: ShipmentState) -> bytes:
    """The state as stored in the detection-state topic (JSON)."""
    return to_json(
        {
            "state_version": state.state_version,
            "shipment_id": state.shipment_id,
            "declarations": declarations_json(state.declarations),
            "scans": scans_json(state.scans),
            "corrections": corrections_json(state.corrections),
            "other_event_ids": state.other_event_ids,
            "watermark": state.watermark,
            "late_event_ids": state.late_event_ids,
            "held_at": state.held_at,
            "seizures": seizures_json(state.seizures),
            "last_event_at": state.last_event_at,
            "context_judged_for": state.context_judged_for,
            "emitted": emitted_json(state.emitted),
            "cases": cases_json(state.cases),
        }
    )


# Reads the JSON above (pydantic_core's parser and validation; times made canonical): the
# same lax reading as the pydantic model this class replaced, so whatever read then reads.
_STORED: TypeAdapter[ShipmentState] = TypeAdapter(ShipmentState)


def decode_state(value: bytes) -> ShipmentState:
    """A stored state. Raises pydantic's ValidationError (a ValueError) when it does not
    read.

    Reads what every version wrote: the fields added since the first release have
    defaults. A future change of format that they cannot express bumps ``state_version``
    and converts older states here, before validation."""
    return _STORED.validate_json(value)

"""What the detection engine keeps of a shipment's events and of the alerts it sent, as
plain values (:class:`streams.state.ShipmentState` holds them).

Why named tuples of plain values, not pydantic models: a state is copied for every event
judged, and a named tuple is one object to make, compare and (for the garbage collector)
walk, where a model is three or four. (The collector stops tracking only plain tuples and
dicts of plain values, not named tuples: the context's indexes use plain ones for that.)

Times are kept with one shared ``timezone`` object per UTC offset
(:func:`schemas.times.canonical`, which says why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, NamedTuple

from pydantic import AfterValidator

from schemas import CaseOutcome, CaseState, CaseStatus
from schemas.times import canonical
from streams.facts import Entity

# A time as kept: with its offset's shared timezone (also when read from JSON).
Time = Annotated[datetime, AfterValidator(canonical)]


class Declaration(NamedTuple):
    """What the engine keeps of a shipment.declared event."""

    event_id: str
    occurred_at: Time
    route: tuple[str, ...]
    origin_country: str
    categories: tuple[str, ...]
    destination_locality: str
    # Fields added after the first release have defaults, so state stored by an older
    # version still reads.
    checkpoint_id: str = ""  # where it was filed
    weight_kg: float = 0.0  # declared total; 0 when unknown
    # Who and what carries it: (kind, value) pairs, kind "party", "vehicle" or "driver".
    entities: tuple[Entity, ...] = ()


class Seizure(NamedTuple):
    """What the engine keeps of a seizure.recorded event: who and what it implicates."""

    event_id: str
    seizure_id: str
    occurred_at: Time
    checkpoint_id: str
    implicated: tuple[Entity, ...]  # (kind, value), as in Declaration.entities


class Scan(NamedTuple):
    """What the engine keeps of a checkpoint.scanned event."""

    event_id: str
    checkpoint_id: str
    occurred_at: Time
    direction: str = "passing"
    weight_kg: float | None = None  # observed at a weighbridge
    # Added after the first release (defaults: a stored state without them still reads).
    plate: str | None = None  # the plate read at the checkpoint, as written
    seal: str = "not_checked"  # intact, broken, absent or not_checked


class Correction(NamedTuple):
    """What the engine keeps of an event.corrected event."""

    event_id: str
    corrected_event_id: str
    occurred_at: Time
    reason: str


@dataclass(frozen=True, slots=True)
class EmittedAlert:
    """The last revision of an alert sent out, and what it carried."""

    revision: int
    evidence_ids: list[str]
    # A digest of everything the alert says (engine._fingerprint): a new revision goes out
    # when it changes, so the latest revision never depends on when it was judged.
    fingerprint: str = ""
    localities: list[str] = field(default_factory=list)
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class AlertCase:
    """What the engine keeps of the task forces' steps on one of the shipment's alerts."""

    rule: str
    case: CaseState = field(default_factory=CaseState)

    @property
    def outcome(self) -> CaseOutcome | None:
        """The outcome of the case, when its latest step closed it."""
        return self.case.outcome if self.case.status == CaseStatus.CLOSED else None


# -- JSON: as pydantic wrote the models these replaced, so every version reads them ------


# Writers, one per field of a state: what pydantic_core.to_json writes as the JSON of a
# tuple of records, their fields in the order pydantic wrote them (times, tuples of strings
# or pairs, and the case models are written as they are, the way pydantic wrote them).


def declarations_json(decls: tuple[Declaration, ...]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": d.event_id,
            "occurred_at": d.occurred_at,
            "route": d.route,
            "origin_country": d.origin_country,
            "categories": d.categories,
            "destination_locality": d.destination_locality,
            "checkpoint_id": d.checkpoint_id,
            "weight_kg": d.weight_kg,
            "entities": d.entities,
        }
        for d in decls
    ]


def scans_json(scans: tuple[Scan, ...]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": s.event_id,
            "checkpoint_id": s.checkpoint_id,
            "occurred_at": s.occurred_at,
            "direction": s.direction,
            "weight_kg": s.weight_kg,
            "plate": s.plate,
            "seal": s.seal,
        }
        for s in scans
    ]


def corrections_json(corrections: tuple[Correction, ...]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": c.event_id,
            "corrected_event_id": c.corrected_event_id,
            "occurred_at": c.occurred_at,
            "reason": c.reason,
        }
        for c in corrections
    ]


def seizures_json(seizures: tuple[Seizure, ...]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": z.event_id,
            "seizure_id": z.seizure_id,
            "occurred_at": z.occurred_at,
            "checkpoint_id": z.checkpoint_id,
            "implicated": z.implicated,
        }
        for z in seizures
    ]


def emitted_json(emitted: dict[str, EmittedAlert]) -> dict[str, dict[str, Any]]:
    return {
        alert_id: {
            "revision": e.revision,
            "evidence_ids": e.evidence_ids,
            "fingerprint": e.fingerprint,
            "localities": e.localities,
            "withdrawn": e.withdrawn,
        }
        for alert_id, e in emitted.items()
    }


def cases_json(cases: dict[str, AlertCase]) -> dict[str, dict[str, Any]]:
    return {alert_id: {"rule": c.rule, "case": c.case} for alert_id, c in cases.items()}

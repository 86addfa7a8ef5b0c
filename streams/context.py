"""Facts about *other* shipments that two rules need: who was implicated in seizures, who
travelled with whom, where seizures happened, and which alerts the task forces confirmed
(and where). Pure; no Kafka, Faust or Neo4j.

The handler feeds it every declaration and seizure it processes, every state a case step
changed (and, after a restart, the states its store recovered), and sets
:attr:`DetectionContext.watermark` to the global low watermark: the lowest watermark over
all partitions. Rules ask only about facts earlier in event time than a shipment's
declaration, and only once that watermark has passed the declaration
(:meth:`DetectionContext.settled`); by then every such fact that was not late has been fed
in, whatever order the partitions were read in. So the answers, and the alerts, do not
depend on arrival order.

Every index keeps event times, so a question "before t" is answered the same way however
much later data has arrived. A repeated event id is ignored.

Case outcomes are the task forces' word, given in wall-clock time long after the events:
a confirmed alert counts from when it arrives, as an incident at the event times of its
own facts (declaration, passages) on their corridors, for shipments judged after that.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from schemas import CaseOutcome, Registry
from streams.state import Declaration, SeizureFact, ShipmentState

Entity = tuple[str, str]  # ("party" | "vehicle" | "driver", identifier)


@dataclass(frozen=True, order=True)
class SeizureRef:
    """A seizure implicating an entity (or made on a corridor), as evidence for others."""

    occurred_at: datetime
    event_id: str
    seizure_id: str
    checkpoint_id: str
    shipment_id: str


@dataclass(frozen=True, order=True)
class Sighting:
    """A declaration on which two entities appeared together."""

    occurred_at: datetime
    event_id: str
    checkpoint_id: str
    shipment_id: str


@dataclass(frozen=True, order=True)
class IncidentRef:
    """One fact of an alert a task force confirmed: an incident on its checkpoint's
    corridor."""

    occurred_at: datetime
    event_id: str
    alert_id: str
    rule: str
    checkpoint_id: str
    shipment_id: str


class DetectionContext:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.watermark: datetime | None = None  # the global low watermark, set by the handler
        self._indexed: set[str] = set()  # event ids already fed in
        self._seized: dict[Entity, list[SeizureRef]] = {}  # each list sorted
        self._on_corridor: dict[str, list[SeizureRef]] = {}  # each list sorted
        self._together: dict[Entity, dict[Entity, Sighting]] = {}  # the earliest sighting
        self._incidents: dict[str, list[IncidentRef]] = {}  # by corridor, each list sorted
        self._confirmed: set[str] = set()  # alert ids whose case closed as confirmed
        self._outcomes: dict[str, tuple[str, CaseOutcome]] = {}  # alert id -> rule, outcome

    def settled(self, declared_at: datetime) -> bool:
        """Whether every fact earlier than ``declared_at`` is in (barring late events)."""
        return self.watermark is not None and declared_at < self.watermark

    # -- feeding -----------------------------------------------------------------------
    def add_declaration(self, shipment_id: str, decl: Declaration) -> None:
        if decl.event_id in self._indexed:
            return
        self._indexed.add(decl.event_id)
        sighting = Sighting(decl.occurred_at, decl.event_id, decl.checkpoint_id, shipment_id)
        for entity in decl.entities:
            seen = self._together.setdefault(entity, {})
            for other in decl.entities:
                if other != entity and (other not in seen or sighting < seen[other]):
                    seen[other] = sighting

    def add_seizure(self, shipment_id: str, fact: SeizureFact) -> None:
        if fact.event_id in self._indexed:
            return
        self._indexed.add(fact.event_id)
        ref = SeizureRef(
            fact.occurred_at, fact.event_id, fact.seizure_id, fact.checkpoint_id, shipment_id
        )
        for entity in fact.implicated:
            bisect.insort(self._seized.setdefault(entity, []), ref)
        corridor = self.registry.checkpoint(fact.checkpoint_id).corridor
        bisect.insort(self._on_corridor.setdefault(corridor, []), ref)

    def add_state(self, state: ShipmentState) -> None:
        """Everything a stored state holds (after a restart, the store recovered it)."""
        for decl in state.declarations:
            self.add_declaration(state.shipment_id, decl)
        for fact in state.seizures:
            self.add_seizure(state.shipment_id, fact)
        for alert_id in state.cases:
            self._add_case(state, alert_id)

    def _add_case(self, state: ShipmentState, alert_id: str) -> None:
        alert_case = state.cases[alert_id]
        outcome = alert_case.outcome
        if outcome is None:
            self._outcomes.pop(alert_id, None)
        else:
            self._outcomes[alert_id] = (alert_case.rule, outcome)
        if outcome != CaseOutcome.CONFIRMED:
            self._confirmed.discard(alert_id)
            return
        if alert_id in self._confirmed:
            return
        self._confirmed.add(alert_id)
        emitted = state.emitted.get(alert_id)
        evidence_ids = emitted.evidence_ids if emitted else []
        for event_id, checkpoint_id, occurred_at in state.own_facts(evidence_ids):
            ref = IncidentRef(
                occurred_at, event_id, alert_id, alert_case.rule, checkpoint_id, state.shipment_id
            )
            corridor = self.registry.checkpoint(checkpoint_id).corridor
            refs = self._incidents.setdefault(corridor, [])
            if ref not in refs:
                bisect.insort(refs, ref)

    def outcomes(self) -> dict[str, Counter[CaseOutcome]]:
        """Per rule, how the task forces closed its alerts (the latest step of each)."""
        counts: dict[str, Counter[CaseOutcome]] = {}
        for rule, outcome in self._outcomes.values():
            counts.setdefault(rule, Counter())[outcome] += 1
        return counts

    # -- questions (all "strictly before" a time) ----------------------------------------
    def seizures_of(self, entity: Entity, before: datetime) -> list[SeizureRef]:
        """Seizures implicating ``entity`` before ``before``, earliest first."""
        refs = self._seized.get(entity, [])
        return refs[: bisect.bisect_left(refs, before, key=lambda r: r.occurred_at)]

    def seen_with(self, entity: Entity, before: datetime) -> Iterator[tuple[Entity, Sighting]]:
        """Entities that appeared with ``entity`` on a declaration before ``before``."""
        for other, sighting in self._together.get(entity, {}).items():
            if sighting.occurred_at < before:
                yield other, sighting

    def corridor_seizures(
        self, corridor: str, since: datetime, before: datetime
    ) -> list[SeizureRef]:
        """Seizures at checkpoints of ``corridor`` in ``[since, before)``, earliest first."""
        refs = self._on_corridor.get(corridor, [])
        lo = bisect.bisect_left(refs, since, key=lambda r: r.occurred_at)
        hi = bisect.bisect_left(refs, before, key=lambda r: r.occurred_at)
        return refs[lo:hi]

    def corridor_incidents(
        self, corridor: str, since: datetime, before: datetime
    ) -> list[IncidentRef]:
        """Facts of confirmed alerts at checkpoints of ``corridor`` in ``[since, before)``,
        earliest first."""
        refs = self._incidents.get(corridor, [])
        lo = bisect.bisect_left(refs, since, key=lambda r: r.occurred_at)
        hi = bisect.bisect_left(refs, before, key=lambda r: r.occurred_at)
        return [ref for ref in refs[lo:hi] if ref.alert_id in self._confirmed]

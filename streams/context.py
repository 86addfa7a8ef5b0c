"""Facts about *other* shipments that two rules need: who was implicated in seizures, who
travelled with whom, where seizures happened, and which alerts the task forces confirmed
(and where). Pure; no Kafka, Faust or Neo4j.

It is fed :mod:`streams.facts` (by the worker's facts reader from the facts topic, or by an
in-process run directly) and told, in :attr:`DetectionContext.watermark`, how far in event
time the facts are complete: the lowest watermark over every input partition the facts
come from. Rules ask only about facts earlier in event time than a shipment's declaration,
and only once that watermark has passed the declaration (:meth:`DetectionContext.settled`);
by then every such fact that was not late is in, whatever order the partitions were read
in. So the answers, and the alerts, do not depend on arrival order, on the producer's
partitioner or on how many workers share the partitions.

Every index keeps event times and every question has a window ``[since, before)``, so a
question is answered the same way however much later data has arrived, and facts older
than the retention (:meth:`DetectionContext.prune`) can be dropped without changing any
answer within it. A repeated fact is ignored.

Case outcomes are the task forces' word, given in wall-clock time long after the events: a
confirmed alert counts from when it arrives, as an incident at the event times of its own
facts (declaration, passages) on their corridors, for shipments judged after that.
"""

from __future__ import annotations

import bisect
import heapq
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, TypeVar

from schemas import CaseOutcome, Registry
from schemas.times import canonical
from streams.facts import CaseFact, DeclarationFact, Entity, Fact, SeizureFact, normalized
from streams.state import ShipmentState

__all__ = ["DetectionContext", "Entity", "IncidentRef", "SeizureRef", "Sighting"]


# Answers are named tuples: they sort by event time first, as the indexes need. Inside, the
# indexes hold the same values as plain tuples, in tuples and dicts of plain values, which
# the garbage collector stops tracking: a context holds months of declarations, and walking
# hundreds of thousands of lists and named tuples at every full collection was a good part
# of detection's cost.


class SeizureRef(NamedTuple):
    """A seizure implicating an entity (or made on a corridor), as evidence for others."""

    occurred_at: datetime
    event_id: str
    seizure_id: str
    checkpoint_id: str
    shipment_id: str


class Sighting(NamedTuple):
    """A declaration on which two entities appeared together."""

    occurred_at: datetime
    event_id: str
    checkpoint_id: str
    shipment_id: str


class IncidentRef(NamedTuple):
    """One fact of an alert a task force confirmed: an incident on its checkpoint's
    corridor."""

    occurred_at: datetime
    event_id: str
    alert_id: str
    rule: str
    checkpoint_id: str
    shipment_id: str


# The same, as kept in the indexes: (occurred_at, ...) in the fields' order.
_Seizure = tuple[datetime, str, str, str, str]
_Sighting = tuple[datetime, str, str, str]
_Incident = tuple[datetime, str, str, str, str, str]
_as_seizure: Callable[[_Seizure], SeizureRef] = partial(tuple.__new__, SeizureRef)
_as_sighting: Callable[[_Sighting], Sighting] = partial(tuple.__new__, Sighting)
_as_incident: Callable[[_Incident], IncidentRef] = partial(tuple.__new__, IncidentRef)

Ref = TypeVar("Ref", _Seizure, _Sighting, _Incident)
Refs = TypeVar("Refs", tuple[_Seizure, ...], tuple[_Sighting, ...], list[_Seizure], list[_Incident])


def _window(refs: Sequence[Ref], since: datetime | None, before: datetime) -> Sequence[Ref]:
    # (t,) sorts before every reference at t and after every earlier one
    lo = 0 if since is None else bisect.bisect_left(refs, (since,))
    return refs[lo : bisect.bisect_left(refs, (before,))]


def _drop_before(refs: Refs, cutoff: datetime) -> Refs:
    return refs[bisect.bisect_left(refs, (cutoff,)) :]


T = TypeVar("T", bound=tuple[Any, ...])


def _with(refs: tuple[T, ...], ref: T) -> tuple[T, ...]:
    """A sorted tuple with ``ref`` in its place: at the end for a fact in order."""
    if not refs or refs[-1] < ref:
        return (*refs, ref)
    i = bisect.bisect_right(refs, ref)
    return (*refs[:i], ref, *refs[i:])


class DetectionContext:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        # Event time up to which the facts are complete, set by whoever feeds them.
        self.watermark: datetime | None = None
        self._cutoff: datetime | None = None  # facts before this were pruned
        self._indexed: dict[str, datetime] = {}  # fact keys already fed in -> event time
        # the same facts, a heap by event time: (time, event id, declared?, entities)
        self._by_time: list[tuple[datetime, str, bool, tuple[Entity, ...]]] = []
        self._seized: dict[Entity, tuple[_Seizure, ...]] = {}  # each sorted
        self._on_corridor: dict[str, list[_Seizure]] = {}  # each sorted
        self._together: dict[Entity, dict[Entity, tuple[_Sighting, ...]]] = {}  # each sorted
        self._incidents: dict[str, list[_Incident]] = {}  # by corridor, each sorted
        self._cases: dict[str, CaseFact] = {}  # the latest word on each closed alert

    def settled(self, declared_at: datetime) -> bool:
        """Whether every fact earlier than ``declared_at`` is in (barring late events)."""
        return self.watermark is not None and declared_at < self.watermark

    @property
    def size(self) -> int:
        """How many facts are held (for metrics and the retention's effect)."""
        return len(self._indexed) + len(self._cases)

    # -- feeding -----------------------------------------------------------------------
    def add(self, fact: Fact) -> None:
        """Index one fact (a repeat, or a fact older than the retention, changes nothing)."""
        if isinstance(fact, CaseFact):
            self._add_case(fact)
            return
        if fact.event_id in self._indexed or (
            self._cutoff is not None and fact.occurred_at < self._cutoff
        ):
            return
        at = canonical(fact.occurred_at)
        self._indexed[fact.event_id] = at
        # ids as links compare them (a fact written before they were so is read so)
        if isinstance(fact, DeclarationFact):
            if (entities := normalized(fact.entities)) != fact.entities:
                fact = replace(fact, entities=entities)
        elif (implicated := normalized(fact.implicated)) != fact.implicated:
            fact = replace(fact, implicated=implicated)
        if isinstance(fact, DeclarationFact):
            self._add_declaration(fact, at)
            entities = fact.entities
        else:
            self._add_seizure(fact, at)
            entities = fact.implicated
        declared = isinstance(fact, DeclarationFact)
        heapq.heappush(self._by_time, (at, fact.event_id, declared, entities))

    def add_state(self, state: ShipmentState) -> None:
        """Everything a shipment's state holds that other shipments' rules read."""
        for fact in state.facts():
            self.add(fact)

    def _add_declaration(self, fact: DeclarationFact, at: datetime) -> None:
        if len(fact.entities) < 2:
            return  # nobody travelled with anybody
        sighting = (at, fact.event_id, fact.checkpoint_id, fact.shipment_id)
        for entity in fact.entities:
            seen = self._together.setdefault(entity, {})
            for other in fact.entities:
                if other != entity:
                    seen[other] = _with(seen.get(other, ()), sighting)

    def _add_seizure(self, fact: SeizureFact, at: datetime) -> None:
        ref = (at, fact.event_id, fact.seizure_id, fact.checkpoint_id, fact.shipment_id)
        for entity in fact.implicated:
            self._seized[entity] = _with(self._seized.get(entity, ()), ref)
        corridor = self.registry.checkpoint(fact.checkpoint_id).corridor
        bisect.insort(self._on_corridor.setdefault(corridor, []), ref)

    def _add_case(self, fact: CaseFact) -> None:
        known = self._cases.get(fact.alert_id)
        if known == fact:
            return
        self._cases[fact.alert_id] = fact
        if fact.outcome != CaseOutcome.CONFIRMED:
            return  # incidents of an alert no longer confirmed stop counting (see below)
        for event_id, checkpoint_id, occurred_at in fact.facts:
            ref = (
                canonical(occurred_at),
                event_id,
                fact.alert_id,
                fact.rule,
                checkpoint_id,
                fact.shipment_id,
            )
            refs = self._incidents.setdefault(self.registry.checkpoint(checkpoint_id).corridor, [])
            if ref not in refs:
                bisect.insort(refs, ref)

    def prune(self, cutoff: datetime) -> int:
        """Forget facts earlier in event time than ``cutoff`` (the retention: no rule asks
        about them any more); returns how many facts were dropped.

        Only what the dropped facts touched is visited: a day's prune of a month of facts
        used to walk every index."""
        if self._cutoff is not None and cutoff <= self._cutoff:
            return 0
        cutoff = self._cutoff = canonical(cutoff)
        by_time, dropped = self._by_time, 0
        pairs: set[tuple[Entity, Entity]] = set()
        implicated: set[Entity] = set()
        while by_time and by_time[0][0] < cutoff:
            _, event_id, declared, entities = heapq.heappop(by_time)
            del self._indexed[event_id]
            dropped += 1
            if declared:
                pairs.update((a, b) for a in entities for b in entities if a != b)
            else:
                implicated.update(entities)
        for entity in implicated:
            _prune_key(self._seized, entity, cutoff)
        for entity, other in pairs:
            seen = self._together.get(entity)
            if seen is not None:
                _prune_key(seen, other, cutoff)
                if not seen:
                    del self._together[entity]
        for corridor in list(self._on_corridor):  # a few corridors
            _prune_key(self._on_corridor, corridor, cutoff)
        for corridor in list(self._incidents):
            _prune_key(self._incidents, corridor, cutoff)
        stale = [
            alert_id
            for alert_id, case in self._cases.items()
            if all(at < cutoff for _, _, at in case.facts)
        ]
        for alert_id in stale:
            del self._cases[alert_id]
        return dropped + len(stale)

    def outcomes(self) -> dict[str, Counter[CaseOutcome]]:
        """Per rule, how the task forces closed its alerts (the latest step of each)."""
        counts: dict[str, Counter[CaseOutcome]] = {}
        for case in self._cases.values():
            if case.outcome is not None:
                counts.setdefault(case.rule, Counter())[CaseOutcome(case.outcome)] += 1
        return counts

    # -- questions (all within [since, before)) ------------------------------------------
    def seizures_of(
        self, entity: Entity, before: datetime, since: datetime | None = None
    ) -> list[SeizureRef]:
        """Seizures implicating ``entity`` in ``[since, before)``, earliest first."""
        return list(map(_as_seizure, _window(self._seized.get(entity, ()), since, before)))

    def seen_with(
        self, entity: Entity, before: datetime, since: datetime | None = None
    ) -> Iterator[tuple[Entity, Sighting]]:
        """Entities that appeared with ``entity`` on a declaration in ``[since, before)``,
        each with the earliest such sighting."""
        for other, sightings in self._together.get(entity, {}).items():
            within = _window(sightings, since, before)
            if within:
                yield other, _as_sighting(within[0])

    def seized_seen_with(
        self, entity: Entity, before: datetime
    ) -> Iterator[tuple[Entity, Sighting]]:
        """What :meth:`seen_with` yields (since the beginning), only for entities implicated
        in some seizure, at any time, in no particular order: the candidates for one hop
        (a busy party was seen with thousands that no seizure implicates)."""
        together, seized = self._together.get(entity), self._seized
        if not together:
            return
        others = together.keys() if len(together) <= len(seized) else seized.keys()
        for other in others:
            if other in seized and (sightings := together.get(other)):
                first = sightings[0]  # what _window(sightings, None, before) starts with
                if first[0] < before:
                    yield other, _as_sighting(first)

    def corridor_seizures(
        self, corridor: str, since: datetime, before: datetime
    ) -> list[SeizureRef]:
        """Seizures at checkpoints of ``corridor`` in ``[since, before)``, earliest first."""
        return list(map(_as_seizure, _window(self._on_corridor.get(corridor, []), since, before)))

    def latest_corridor_seizures(
        self, corridor: str, since: datetime, before: datetime, besides: str, latest: int
    ) -> tuple[int, list[SeizureRef]]:
        """How many seizures at checkpoints of ``corridor`` in ``[since, before)`` were made
        on shipments other than ``besides``, and the ``latest`` most recent of them, the
        most recent first. (A busy corridor has hundreds in a week; a rule shows a few.)"""
        refs = self._on_corridor.get(corridor)
        if not refs:
            return 0, []
        lo, hi = bisect.bisect_left(refs, (since,)), bisect.bisect_left(refs, (before,))
        count, found = 0, list[SeizureRef]()
        for i in range(hi - 1, lo - 1, -1):
            ref = refs[i]
            if ref[4] != besides:
                count += 1
                if len(found) < latest:
                    found.append(_as_seizure(ref))
        return count, found

    def corridor_incidents(
        self, corridor: str, since: datetime, before: datetime
    ) -> list[IncidentRef]:
        """Facts of confirmed alerts at checkpoints of ``corridor`` in ``[since, before)``,
        earliest first."""
        return [
            _as_incident(ref)
            for ref in _window(self._incidents.get(corridor, []), since, before)
            if (case := self._cases.get(ref[2])) is not None
            and case.outcome == CaseOutcome.CONFIRMED
        ]


K = TypeVar("K")


def _prune_key(index: dict[K, Refs], key: K, cutoff: datetime) -> None:
    refs = index.get(key)
    if refs is None:
        return
    kept = _drop_before(refs, cutoff)
    if kept:
        index[key] = kept
    else:
        del index[key]

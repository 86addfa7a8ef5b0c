"""Detection around the engine: timers in event time, the context rules' wait, retention.
Pure (no Kafka, Faust or Neo4j), one class for each runtime's shape:

- :class:`PartitionDetector` judges the shipments of one partition against a watermark it
  is *given*: the worker's detection stage gives it the watermark that travelled in the
  log (streams/processor.py), so the answers do not depend on which worker runs it or when.
  It wakes shipments whose open leg reaches its deadline as the watermark passes it (an
  unexplained stop is found from event time alone), judges the rules about other
  shipments once the context's watermark passes a declaration, and drops the state of
  shipments whose last event is older than the retention.
- :class:`DetectionHandler` runs one stream of events in-process (``goodsflow evaluate``,
  the embedded demo, tests): its watermark is its latest event time minus the allowed
  lateness, and it feeds its own context.

Where state lives and where alerts go are the caller's: a store with get/set/delete and a
sink with emit.

Example:
    >>> handler = DetectionHandler(DictStore(), ListSink(), config, registry)
    >>> handler.handle(event)  # doctest: +SKIP
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from schemas import Alert, CaseStep, Event, Registry
from streams.config import DetectionConfig
from streams.context import DetectionContext
from streams.engine import Outcome, advance, judge_context, process, waits_for_context
from streams.event_time import problem
from streams.facts import CaseFact, facts_of_event
from streams.rules import View, open_leg_deadline
from streams.state import ShipmentState


@dataclass(frozen=True)
class Timers:
    """When a stored shipment next needs the detector, in event time: its open leg's
    deadline, the declaration time the context must pass, and its latest event (for the
    retention). Kept beside the state so a restart schedules them without reading it."""

    deadline: datetime | None = None
    awaits: datetime | None = None
    last_event_at: datetime | None = None


def timers_of(state: ShipmentState, config: DetectionConfig, registry: Registry) -> Timers:
    return Timers(
        open_leg_deadline(View(state, config, registry)),
        waits_for_context(state),
        state.last_event_at,
    )


class StateStore(Protocol):
    def get(self, shipment_id: str) -> ShipmentState | None: ...

    def set(self, shipment_id: str, state: ShipmentState, timers: Timers) -> None: ...

    def delete(self, shipment_id: str) -> None: ...

    def timers(self) -> Iterable[tuple[str, Timers]]: ...


class AlertSink(Protocol):
    def emit(self, alert: Alert) -> None: ...


class DictStore:
    """In-process state store."""

    def __init__(self) -> None:
        self.states: dict[str, ShipmentState] = {}
        self._timers: dict[str, Timers] = {}

    def get(self, shipment_id: str) -> ShipmentState | None:
        return self.states.get(shipment_id)

    def set(self, shipment_id: str, state: ShipmentState, timers: Timers) -> None:
        self.states[shipment_id] = state
        self._timers[shipment_id] = timers

    def delete(self, shipment_id: str) -> None:
        self.states.pop(shipment_id, None)
        self._timers.pop(shipment_id, None)

    def timers(self) -> Iterable[tuple[str, Timers]]:
        return self._timers.items()


class ListSink:
    """In-process alert sink."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def emit(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def drain(self) -> list[Alert]:
        alerts, self.alerts = self.alerts, []
        return alerts


class _Queue:
    """Shipments by the event time they are due; the entry that counts for a shipment is
    the one in ``due`` (older ones are skipped when they come up)."""

    def __init__(self) -> None:
        self.heap: list[tuple[datetime, str]] = []
        self.due: dict[str, datetime] = {}

    def put(self, shipment_id: str, at: datetime | None) -> None:
        if at is None:
            self.due.pop(shipment_id, None)
        elif self.due.get(shipment_id) != at:
            self.due[shipment_id] = at
            heapq.heappush(self.heap, (at, shipment_id))

    def pop_before(self, limit: datetime, inclusive: bool = False) -> Iterable[str]:
        heap, due = self.heap, self.due
        while heap and (heap[0][0] <= limit if inclusive else heap[0][0] < limit):
            at, shipment_id = heapq.heappop(heap)
            if due.get(shipment_id) == at:
                del due[shipment_id]
                yield shipment_id

    def discard(self, shipment_id: str) -> None:
        self.due.pop(shipment_id, None)


class PartitionDetector:
    """Detection for the shipments of one partition, against the watermark it is given.

    Args:
        store: where the partition's shipment states live (restored before use).
        sink: where alerts go.
        context: facts about other shipments; shared by every partition of a worker.
    """

    def __init__(
        self,
        store: StateStore,
        sink: AlertSink,
        config: DetectionConfig,
        registry: Registry,
        context: DetectionContext,
    ) -> None:
        self.store, self.sink = store, sink
        self.config, self.registry, self.context = config, registry, context
        self.retention = timedelta(days=config.retention.state_days)
        self.watermark: datetime | None = None
        self._deadlines = _Queue()  # open legs
        self._settling = _Queue()  # declarations waiting for the context
        self._expiring = _Queue()  # latest event + retention

    def restore(self) -> None:
        """Schedule the shipments the store holds (after it was restored)."""
        for shipment_id, timers in self.store.timers():
            self._schedule(shipment_id, timers)

    def handle(self, event: Event) -> None:
        """Judge one event of a shipment of this partition."""
        self._keep(
            process(
                self.store.get(event.shipment_id),
                event,
                self.config,
                self.registry,
                self.watermark,
                self.context,
            )
        )

    def handle_case(self, step: CaseStep) -> CaseFact | None:
        """Record a task force's step on one of a shipment's alerts; return the case's
        fact for the context when the step changed the case. Case steps carry wall-clock
        times, so they move no watermark."""
        shipment_id = step.shipment_id
        state = self.store.get(shipment_id) or ShipmentState(shipment_id=shipment_id)
        after = state.with_case_step(step)
        if after is state:
            return None
        self._set(after, self._deadlines.due.get(shipment_id))
        return after.case_fact(step.alert_id)

    def advance(self, watermark: datetime) -> None:
        """Move the watermark on (never back) and wake the shipments whose open leg's
        deadline it passed."""
        if self.watermark is not None and watermark <= self.watermark:
            return
        self.watermark = watermark
        for shipment_id in list(self._deadlines.pop_before(watermark)):
            state = self.store.get(shipment_id)
            if state is not None:
                self._keep(advance(state, watermark, self.config, self.registry, self.context))

    def judge_settled(self) -> None:
        """Judge, by the rules about other shipments, the shipments whose declaration the
        context's watermark has passed."""
        if self.context.watermark is None:
            return
        for shipment_id in list(self._settling.pop_before(self.context.watermark)):
            state = self.store.get(shipment_id)
            if state is not None:
                self._keep(judge_context(state, self.config, self.registry, self.context))

    def expire(self) -> list[str]:
        """Drop the shipments whose latest event is older than the retention at the
        watermark; return their ids (the caller writes tombstones)."""
        if self.watermark is None:
            return []
        gone = list(self._expiring.pop_before(self.watermark))
        for shipment_id in gone:
            self.store.delete(shipment_id)
            self._deadlines.discard(shipment_id)
            self._settling.discard(shipment_id)
        return gone

    def _keep(self, outcome: Outcome) -> None:
        if not outcome.judged:
            return
        self._set(outcome.state, outcome.deadline)
        for alert in outcome.alerts:
            self.sink.emit(alert)

    def _set(self, state: ShipmentState, deadline: datetime | None) -> None:
        timers = Timers(deadline, waits_for_context(state), state.last_event_at)
        self.store.set(state.shipment_id, state, timers)
        self._schedule(state.shipment_id, timers)

    def _schedule(self, shipment_id: str, timers: Timers) -> None:
        deadline = timers.deadline
        if deadline is not None and self.watermark is not None and deadline < self.watermark:
            # already judged against a watermark past it: what the rule says no longer
            # changes as the watermark moves on
            deadline = None
        self._deadlines.put(shipment_id, deadline)
        self._settling.put(shipment_id, timers.awaits)
        last = timers.last_event_at
        self._expiring.put(shipment_id, None if last is None else last + self.retention)


class DetectionHandler:
    """One stream of events through detection, in-process: the watermark is the latest
    event time seen minus the allowed lateness, and the context is fed directly.

    The worker reaches the same latest revision of every alert for the same events (and
    heartbeats), as long as no event is later than the allowed lateness: what differs is
    only when judgements happen, never what they find (docs/STREAMS.md).
    """

    def __init__(
        self,
        store: StateStore,
        sink: AlertSink,
        config: DetectionConfig,
        registry: Registry,
    ) -> None:
        self.store, self.sink, self.config = store, sink, config
        self.context = DetectionContext(registry)
        self.detector = PartitionDetector(store, sink, config, registry, self.context)
        self.lateness = timedelta(minutes=config.event_time.allowed_lateness_minutes)
        self.context_retention = timedelta(days=config.retention.context_days)
        self.rejected: list[tuple[Event, str]] = []  # what the worker would dead-letter
        self._stream_time: datetime | None = None
        self._pruned_at: datetime | None = None

    def stream_time(self) -> datetime | None:
        """The latest event time seen: "now", in event time."""
        return self._stream_time

    @property
    def watermark(self) -> datetime | None:
        return self.detector.watermark

    def handle(self, event: Event) -> None:
        """One event (judged against the watermark before it, then time moves on)."""
        why = problem(event.occurred_at, None, self.config.event_time)
        if why is not None:
            self.rejected.append((event, why))
            return
        for fact in facts_of_event(event):
            self.context.add(fact)
        self.detector.handle(event)
        self.tick(event.occurred_at)

    def tick(self, at: datetime) -> None:
        """Event time reached ``at`` (an event, or a heartbeat)."""
        if self._stream_time is not None and at <= self._stream_time:
            return
        self._stream_time = at
        watermark = at - self.lateness
        self.detector.advance(watermark)
        self.context.watermark = watermark
        self.detector.judge_settled()
        self.detector.expire()
        if self._pruned_at is None or watermark - self._pruned_at > timedelta(days=1):
            self.context.prune(watermark - self.context_retention)
            self._pruned_at = watermark

    def handle_case(self, step: CaseStep) -> None:
        """A task force's step: into the shipment's state and the context."""
        fact = self.detector.handle_case(step)
        if fact is not None:
            self.context.add(fact)

"""One detection handler for both runtimes (the Faust agent and in-process runs).

It keeps each partition's stream time (its latest event time; the watermark is that minus
the allowed lateness), runs events through the engine, and wakes shipments whose open leg
reaches its deadline as the watermark passes it, so unexplained stops are found from event
time alone. It also keeps the detection context (other shipments' declarations and
seizures, streams/context.py) and the global low watermark (the lowest over all
partitions), and judges a shipment's links and corridors once that has passed its
declaration. Where state lives and where alerts go are the runtime's: a store with get/set
and a sink with emit.

Example:
    >>> handler = DetectionHandler(
    ...     DictStore(), ListSink(), config, registry, partition_for, partitions=6
    ... )
    >>> handler.handle(event, partition=3)  # doctest: +SKIP
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from schemas import Alert, CaseStep, Event, Registry, SeizureRecorded, ShipmentDeclared
from streams.config import DetectionConfig
from streams.context import DetectionContext
from streams.engine import Outcome, advance, judge_context, process, waits_for_context
from streams.rules import View, open_leg_deadline
from streams.state import ShipmentState


class StateStore(Protocol):
    def get(self, shipment_id: str) -> ShipmentState | None: ...

    def set(self, shipment_id: str, state: ShipmentState) -> None: ...

    def items(self) -> Iterable[tuple[str, ShipmentState]]: ...


class AlertSink(Protocol):
    def emit(self, alert: Alert) -> None: ...


class DictStore:
    """In-process state store."""

    def __init__(self) -> None:
        self.states: dict[str, ShipmentState] = {}

    def get(self, shipment_id: str) -> ShipmentState | None:
        return self.states.get(shipment_id)

    def set(self, shipment_id: str, state: ShipmentState) -> None:
        self.states[shipment_id] = state

    def items(self) -> Iterable[tuple[str, ShipmentState]]:
        return self.states.items()


class ListSink:
    """In-process alert sink."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def emit(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def drain(self) -> list[Alert]:
        alerts, self.alerts = self.alerts, []
        return alerts


class DetectionHandler:
    def __init__(
        self,
        store: StateStore,
        sink: AlertSink,
        config: DetectionConfig,
        registry: Registry,
        partition_of: Callable[[str], int],
        partitions: int,
    ) -> None:
        """``partitions``: how many partitions the events come in (all of them count for
        the global low watermark)."""
        self.store, self.sink = store, sink
        self.config, self.registry = config, registry
        self.partition_of, self.partitions = partition_of, partitions
        self.lateness = timedelta(minutes=config.event_time.allowed_lateness_minutes)
        self.context = DetectionContext(registry)
        self._context_loaded = False
        self._stream_time: dict[int, datetime] = {}
        # per partition, two queues of (event time, shipment id): open-leg deadlines, and
        # declarations waiting for the global low watermark; the entry that counts for a
        # shipment is the one in _deadline / _awaiting
        self._wakeups: dict[int, list[tuple[datetime, str]]] = {}
        self._deadline: dict[str, datetime] = {}
        self._waiting: dict[int, list[tuple[datetime, str]]] = {}
        self._awaiting: dict[str, datetime] = {}

    def stream_time(self, partition: int) -> datetime | None:
        """The latest event time seen in ``partition``: "now", in event time."""
        return self._stream_time.get(partition)

    def watermark(self, partition: int) -> datetime | None:
        t = self._stream_time.get(partition)
        return None if t is None else t - self.lateness

    def global_watermark(self) -> datetime | None:
        """The lowest watermark over all partitions; None until each has had an event."""
        if len(self._stream_time) < self.partitions:
            return None
        return min(self._stream_time.values()) - self.lateness

    def _load_context(self) -> None:
        if not self._context_loaded:
            for _, state in self.store.items():  # what the store recovered
                self.context.add_state(state)
            self._context_loaded = True

    def handle_case(self, step: CaseStep) -> None:
        """Record a task force's step on one of a shipment's alerts: a close feeds the
        outcome counts, a confirmed one the corridor incidents. Case steps carry wall-clock
        times, so they move no watermark."""
        self._load_context()
        state = self.store.get(step.shipment_id) or ShipmentState(shipment_id=step.shipment_id)
        after = state.with_case_step(step)
        if after is not state:
            self.store.set(step.shipment_id, after)
            self.context.add_state(after)

    def handle(self, event: Event, partition: int) -> None:
        """Process one event of ``partition`` (events of a shipment always share one)."""
        self._load_context()
        current = self._stream_time.get(partition)
        if current is None:
            self._restore(partition)
        if current is None or event.occurred_at > current:
            self._stream_time[partition] = event.occurred_at
        watermark = self.watermark(partition)
        self.context.watermark = self.global_watermark()
        outcome = process(
            self.store.get(event.shipment_id),
            event,
            self.config,
            self.registry,
            watermark,
            self.context,
        )
        self._keep(outcome)
        if isinstance(event, ShipmentDeclared | SeizureRecorded):  # what the context indexes
            self.context.add_state(outcome.state)
        if outcome.judged:
            self._schedule(partition, outcome.state.shipment_id, outcome.deadline)
            self._await_context(partition, outcome.state)
        if watermark is not None:
            self._wake(partition, watermark)
        self._judge_settled()

    def _restore(self, partition: int) -> None:
        """The first event of a partition (after a start or a restart): schedule the open
        legs, and the judgements waiting for the global low watermark, of the shipments
        already stored for it (the table recovered them). Until a partition's first event
        its stream time is unknown, which is why it happens here."""
        for shipment_id, state in self.store.items():
            if self.partition_of(shipment_id) == partition:
                view = View(state, self.config, self.registry)
                self._schedule(partition, shipment_id, open_leg_deadline(view))
                self._await_context(partition, state)

    def _keep(self, outcome: Outcome) -> None:
        self.store.set(outcome.state.shipment_id, outcome.state)
        for alert in outcome.alerts:
            self.sink.emit(alert)

    def _schedule(self, partition: int, sid: str, deadline: datetime | None) -> None:
        if deadline is None:
            self._deadline.pop(sid, None)
        elif self._deadline.get(sid) != deadline:
            self._deadline[sid] = deadline
            heapq.heappush(self._wakeups.setdefault(partition, []), (deadline, sid))

    def _await_context(self, partition: int, state: ShipmentState) -> None:
        declared_at = waits_for_context(state)
        sid = state.shipment_id
        if declared_at is None:
            self._awaiting.pop(sid, None)
        elif self._awaiting.get(sid) != declared_at:
            self._awaiting[sid] = declared_at
            heapq.heappush(self._waiting.setdefault(partition, []), (declared_at, sid))

    def _judge_settled(self) -> None:
        """Judge the shipments, of any partition, whose declaration the global low
        watermark has passed. (The store writes each shipment's state to its own partition,
        whichever partition's event moved the watermark.)"""
        for queue in self._waiting.values():
            while queue and self.context.settled(queue[0][0]):
                declared_at, shipment_id = heapq.heappop(queue)
                if self._awaiting.get(shipment_id) != declared_at:
                    continue  # superseded: judged already, or declared again
                del self._awaiting[shipment_id]
                state = self.store.get(shipment_id)
                if state is not None:
                    self._keep(judge_context(state, self.config, self.registry, self.context))

    def _wake(self, partition: int, watermark: datetime) -> None:
        queue = self._wakeups.get(partition, [])
        while queue and queue[0][0] < watermark:
            deadline, shipment_id = heapq.heappop(queue)
            if self._deadline.get(shipment_id) != deadline:
                continue  # superseded: the shipment moved on since
            del self._deadline[shipment_id]
            state = self.store.get(shipment_id)
            if state is not None:
                outcome = advance(state, watermark, self.config, self.registry, self.context)
                self._keep(outcome)
                if outcome.judged:
                    self._schedule(partition, shipment_id, outcome.deadline)

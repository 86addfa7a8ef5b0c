"""The detection stage's work on one partition of ``goodsflow-shipment-events``. Pure: no
Kafka, Faust or Neo4j; the worker (streams/processor.py) feeds it records and writes out
what it returns.

A :class:`PartitionTask` holds the partition's shipment states (restored from the
detection-state topic, decoded only when needed), its watermark vector (the latest mark of
every input partition; the watermark is their minimum) and a
:class:`~streams.handler.PartitionDetector`. For each record it is given (events, case
steps, marks, in the partition's order) it judges; after a batch it hands back the alerts
to send, the facts to share, the records it could not process, and the state changes to
write (each changed shipment once per batch, tombstones for expired ones, and the
watermark vector last).

Example:
    >>> task = PartitionTask(3, config, registry, context, sources=6)  # doctest: +SKIP
    >>> task.take(EVENT, value, source)  # doctest: +SKIP
    >>> out = task.drain()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from schemas import Alert, CaseStep, Event, Registry, parse_record
from schemas.heartbeat import StreamHeartbeat
from streams.config import DetectionConfig
from streams.context import DetectionContext
from streams.facts import CaseFact
from streams.handler import ListSink, PartitionDetector, Timers, timers_of
from streams.records import CASE, EVENT, WATERMARK, WatermarkVector, read_mark
from streams.state import ShipmentState, decode_state, encode_state

PROGRESS_KEY = "~progress"
DEADLINE, AWAITS, LAST = "gf-deadline", "gf-awaits", "gf-last"

Headers = list[tuple[str, bytes]]


class ShipmentStore:
    """One partition's shipment states: restored ones stay as bytes until read; what
    changed since the last :meth:`changes` is remembered."""

    def __init__(self, config: DetectionConfig, registry: Registry) -> None:
        self.config, self.registry = config, registry
        self._raw: dict[str, bytes] = {}
        self._states: dict[str, ShipmentState] = {}
        self._timers: dict[str, Timers] = {}
        self._changed: set[str] = set()
        self._deleted: set[str] = set()
        self.unreadable: list[tuple[str, str]] = []  # (shipment id, why) found on reading

    def __len__(self) -> int:
        return len(self._timers)

    def restore(self, key: str, value: bytes | None, headers: Headers) -> None:
        """One record of the state topic, in order (a tombstone deletes)."""
        self._states.pop(key, None)
        if value is None:
            self._raw.pop(key, None)
            self._timers.pop(key, None)
            return
        self._raw[key] = value
        timers = _timers_from(headers)
        if timers is None:  # written without them: read the state to know
            state = self.get(key)
            timers = Timers() if state is None else timers_of(state, self.config, self.registry)
        self._timers[key] = timers

    def get(self, shipment_id: str) -> ShipmentState | None:
        state = self._states.get(shipment_id)
        if state is not None:
            return state
        raw = self._raw.pop(shipment_id, None)
        if raw is None:
            return None
        try:
            state = decode_state(raw)
        except ValueError as exc:  # written by an incompatible version: start afresh
            self.unreadable.append((shipment_id, str(exc).splitlines()[0]))
            self._timers.pop(shipment_id, None)
            return None
        self._states[shipment_id] = state
        return state

    def set(self, shipment_id: str, state: ShipmentState, timers: Timers) -> None:
        self._raw.pop(shipment_id, None)
        self._states[shipment_id] = state
        self._timers[shipment_id] = timers
        self._changed.add(shipment_id)
        self._deleted.discard(shipment_id)

    def delete(self, shipment_id: str) -> None:
        self._raw.pop(shipment_id, None)
        self._states.pop(shipment_id, None)
        self._timers.pop(shipment_id, None)
        self._changed.discard(shipment_id)
        self._deleted.add(shipment_id)

    def timers(self) -> Iterable[tuple[str, Timers]]:
        return list(self._timers.items())

    def changes(self) -> Iterator[tuple[bytes, bytes | None, Headers]]:
        """(key, value or None for a tombstone, headers) of everything changed since the
        last call, each shipment once."""
        for shipment_id in sorted(self._changed):
            state, timers = self._states[shipment_id], self._timers[shipment_id]
            yield shipment_id.encode(), encode_state(state), _timer_headers(timers)
        for shipment_id in sorted(self._deleted):
            yield shipment_id.encode(), None, []
        self._changed.clear()
        self._deleted.clear()


@dataclass
class Output:
    """What a batch (or the passing of time) produced on one partition."""

    alerts: list[Alert] = field(default_factory=list)
    facts: list[CaseFact] = field(default_factory=list)
    steps: list[CaseStep] = field(default_factory=list)
    rejected: list[tuple[str, bytes | None, str]] = field(default_factory=list)
    state: list[tuple[bytes, bytes | None, Headers]] = field(default_factory=list)


class PartitionTask:
    """Detection for one partition of the shipment-events topic.

    Args:
        partition: its number (alerts and state go to the same partition of theirs).
        context: the worker's facts about other shipments (shared by its partitions).
        sources: how many input partitions send watermark marks.
    """

    def __init__(
        self,
        partition: int,
        config: DetectionConfig,
        registry: Registry,
        context: DetectionContext,
        sources: int,
        parse: Callable[[bytes], Event | StreamHeartbeat] = parse_record,
    ) -> None:
        self.partition = partition
        self._parse = parse  # parse_record, or the worker's handoff (streams/handoff.py)
        self.store = ShipmentStore(config, registry)
        self.sink = ListSink()
        self.detector = PartitionDetector(self.store, self.sink, config, registry, context)
        self.vector = WatermarkVector.empty(sources)
        self._out = Output()
        self._vector_changed = False

    # -- restoring -------------------------------------------------------------------
    def restore(self, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        """One record of the partition's state topic, in order."""
        name = (key or b"").decode("utf-8", errors="replace")
        if name == PROGRESS_KEY:
            if value is not None:
                self.vector = WatermarkVector.from_json(value)
            return
        self.store.restore(name, value, headers)

    def restored(self) -> None:
        """Everything is restored: schedule the shipments, then catch up with the
        watermark they were last judged against (due timers fire now)."""
        self.detector.restore()
        watermark = self.vector.watermark
        if watermark is not None:
            self.detector.advance(watermark)

    # -- processing ------------------------------------------------------------------
    @property
    def watermark(self) -> datetime | None:
        return self.detector.watermark

    def take(self, kind: bytes | None, value: bytes | None, source: str) -> None:
        """One record of the partition. A record that cannot be processed is kept aside
        (``Output.rejected``) with the reason; it never stops the partition."""
        try:
            if kind == WATERMARK and value is not None:
                if self.vector.update(read_mark(value)):
                    self._vector_changed = True
                    watermark = self.vector.watermark
                    if watermark is not None:
                        self.detector.advance(watermark)
            elif kind == EVENT and value is not None:
                event = self._parse(value)
                if isinstance(event, StreamHeartbeat):
                    raise ValueError("a heartbeat is not forwarded to detection")
                self._handle(event)
            elif kind == CASE and value is not None:
                step = CaseStep.model_validate_json(value)
                fact = self.detector.handle_case(step)
                self._out.steps.append(step)
                if fact is not None:
                    self._out.facts.append(fact)
            else:
                raise ValueError(f"unknown record kind {kind!r}")
        except Exception as exc:  # one record, never the partition
            reason = f"detection could not process it: {type(exc).__name__}: {exc}"
            self._out.rejected.append((source, value, reason.splitlines()[0][:2000]))

    def _handle(self, event: Event) -> None:
        self.detector.handle(event)

    def settle(self) -> None:
        """Judge what the context's watermark made due (it moves on its own)."""
        self.detector.judge_settled()

    def drain(self) -> Output:
        """What was produced since the last drain, with the state changes to write (and
        the watermark vector last, so that once it is written every state judged against
        it is too)."""
        self.detector.expire()
        out, self._out = self._out, Output()
        out.alerts = self.sink.drain()
        out.state = list(self.store.changes())
        for shipment_id, why in self.store.unreadable:
            out.rejected.append(("", None, f"stored state of {shipment_id} unreadable: {why}"))
        self.store.unreadable.clear()
        if self._vector_changed or out.state:
            out.state.append((PROGRESS_KEY.encode(), self.vector.to_json(), []))
            self._vector_changed = False
        return out


def _timer_headers(timers: Timers) -> Headers:
    headers: Headers = []
    for name, at in (
        (DEADLINE, timers.deadline),
        (AWAITS, timers.awaits),
        (LAST, timers.last_event_at),
    ):
        if at is not None:
            headers.append((name, at.isoformat().encode()))
    return headers


def _timers_from(headers: Headers) -> Timers | None:
    found = dict(headers)
    if LAST not in found:
        return None

    def at(name: str) -> datetime | None:
        raw = found.get(name)
        return None if raw is None else datetime.fromisoformat(raw.decode())

    return Timers(at(DEADLINE), at(AWAITS), at(LAST))

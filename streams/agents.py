"""Faust agents: thin adapters that decode, call the engine or the graph writer, and emit.

``bootstrap`` (streams.worker) injects the dependencies with :func:`wire` before the worker
starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from graph.exceptions import GraphUnavailable
from graph.writer import Neo4jGraphWriter
from schemas import Alert, CaseOutcome, CaseStep, InvalidEventError, Registry, parse_event
from streams.app import (
    alert_cases_topic,
    alerts_topic,
    app,
    checkpoint_events_topic,
    dead_letter_topic,
    shipment_state,
)
from streams.config import DetectionConfig
from streams.deadletters import dead_letter_record
from streams.handler import DetectionHandler, ListSink
from streams.state import ShipmentState
from streams.topics import CHECKPOINT_EVENTS, PARTITIONS, partition_for

log = logging.getLogger(__name__)


@dataclass
class Dependencies:
    registry: Registry
    detection: DetectionConfig
    graph: Neo4jGraphWriter
    graph_batch_size: int = 500
    graph_batch_timeout_s: float = 0.5


_deps: Dependencies | None = None


def wire(deps: Dependencies) -> None:
    global _deps
    _deps = deps


def deps() -> Dependencies:
    if _deps is None:
        raise RuntimeError("streams.agents.wire() was not called before the worker started")
    return _deps


class FaustTableStore:
    """The detection state store on the Faust table (changelog-backed).

    State that no longer reads (written by an incompatible older version) is logged and
    started afresh for that shipment, never allowed to crash the agent: the events
    themselves stay in Kafka and in the graph.
    """

    def __init__(self, table: Any, partition_of: Callable[[str], int]) -> None:
        self.table, self.partition_of = table, partition_of

    @staticmethod
    def _read(shipment_id: str, stored: Any) -> ShipmentState | None:
        try:
            return ShipmentState.model_validate(stored)
        except ValidationError as exc:
            log.warning("detection state of %s unreadable, starting afresh: %s", shipment_id, exc)
            return None

    def get(self, shipment_id: str) -> ShipmentState | None:
        stored = self.table.get(shipment_id)
        return None if stored is None else self._read(shipment_id, stored)

    def set(self, shipment_id: str, state: ShipmentState) -> None:
        """Store the state, and send it to the changelog partition of the shipment's own
        events. (``table[key] = value`` would send it to the partition of the event being
        processed; the handler also writes other partitions' shipments, when the global
        low watermark passes their declaration.)"""
        value = state.model_dump(mode="json")
        self.table.data[shipment_id] = value
        self.table.send_changelog(self.partition_of(shipment_id), shipment_id, value)

    def items(self) -> Iterable[tuple[str, ShipmentState]]:
        for key, value in self.table.items():
            state = self._read(key, value)
            if state is not None:
                yield key, state


_handler: DetectionHandler | None = None
_sink = ListSink()


def handler() -> DetectionHandler:
    global _handler
    if _handler is None:
        d = deps()
        _handler = DetectionHandler(
            FaustTableStore(shipment_state, partition_for),
            _sink,
            d.detection,
            d.registry,
            partition_for,
            partitions=PARTITIONS,
        )
    return _handler


async def _dead_letter(event: Any, exc: InvalidEventError) -> None:
    msg = event.message
    await dead_letter_topic.send(
        key=msg.key,
        value=dead_letter_record(
            reason=exc.reason,
            problems=exc.problems,
            payload=msg.value,
            key=msg.key,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
        ),
    )
    log.warning("dead-lettered %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, exc.reason)


@app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode types it loosely
async def _warn_when_partitions_are_shared(
    sender: Any, *args: Any, signal: Any, **kwargs: Any
) -> None:
    """The rules about other shipments' facts (links, corridors) need every partition's
    events in this worker: say so loudly when a second worker took some of them."""
    assigned = args[0] if args else kwargs.get("assigned", set())
    mine = {tp.partition for tp in assigned if tp.topic == CHECKPOINT_EVENTS}
    if mine and len(mine) < PARTITIONS:
        log.warning(
            "this worker has %d of %d partitions of %s: linked_to_offender and "
            "high_risk_corridor see only their shipments' declarations and seizures, and "
            "wait for partitions they never see; run a single detection worker "
            "(docs/DETECTION.md)",
            len(mine),
            PARTITIONS,
            CHECKPOINT_EVENTS,
        )


@app.agent(checkpoint_events_topic)
async def detect_suspicious_routes(stream: Any) -> None:
    """Run every valid event through the engine; send alerts; dead-letter the invalid."""
    detect = handler()
    async for event in stream.events():
        try:
            ev = parse_event(event.value)
        except InvalidEventError as exc:
            await _dead_letter(event, exc)
            continue
        detect.handle(ev, event.message.partition)
        for alert in _sink.drain():
            await alerts_topic.send(
                key=alert.shipment_id.encode(), value=alert.model_dump_json().encode()
            )


async def _write_with_backpressure(write: Any, *args: Any) -> None:
    """Write to Neo4j, retrying until it succeeds: the stream waits, offsets do not move."""
    delay = 0.5
    while True:
        try:
            await asyncio.to_thread(write, *args)
            return
        except GraphUnavailable as exc:
            log.error("graph write failed, retrying in %.1f s: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


@app.agent(checkpoint_events_topic)
async def project_events_to_graph(stream: Any) -> None:
    """Write valid events to Neo4j in batches (invalid ones are dead-lettered by
    detect_suspicious_routes)."""
    d = deps()
    async for batch in stream.take_events(d.graph_batch_size, within=d.graph_batch_timeout_s):
        events = []
        for event in batch:
            try:
                events.append(parse_event(event.value))
            except InvalidEventError:
                continue
        await _write_with_backpressure(d.graph.write, events)


@app.agent(alerts_topic)
async def project_alerts_to_graph(stream: Any) -> None:
    """Write alerts to Neo4j in batches."""
    d = deps()
    async for batch in stream.take_events(d.graph_batch_size, within=d.graph_batch_timeout_s):
        alerts = [Alert.model_validate_json(event.value) for event in batch]
        await _write_with_backpressure(d.graph.write, (), alerts)


@app.agent(alert_cases_topic)
async def follow_cases(stream: Any) -> None:
    """The task forces' steps on alerts: into the detection state (outcomes, confirmed
    incidents), then into the graph, one after the other, so that once a step shows in the
    graph detection has it too. Steps that do not read are dead-lettered."""
    d, detect = deps(), handler()
    async for event in stream.events():
        try:
            step = CaseStep.model_validate_json(event.value)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            await _dead_letter(event, InvalidEventError(f"invalid case step: {problems}"))
            continue
        detect.handle_case(step)
        await _write_with_backpressure(d.graph.write, (), (), [step])
        if step.outcome is not None:
            counts = detect.context.outcomes().get(step.rule.value, Counter())
            log.info(
                "alert %s closed (%s) by %s; %s so far: %d confirmed, %d false alarms",
                step.alert_id,
                step.outcome.value,
                step.actor,
                step.rule.value,
                counts[CaseOutcome.CONFIRMED],
                counts[CaseOutcome.FALSE_ALARM],
            )

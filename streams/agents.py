"""Faust agents: thin adapters that decode, call the engine or the graph writer, and emit.

``bootstrap`` (streams.worker) injects the dependencies with :func:`wire` before the worker
starts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from graph.exceptions import GraphUnavailable
from graph.writer import Neo4jGraphWriter
from schemas import Alert, InvalidEventError, Registry, parse_event
from streams.app import (
    alerts_topic,
    app,
    checkpoint_events_topic,
    dead_letter_topic,
    shipment_state,
)
from streams.config import DetectionConfig
from streams.deadletters import dead_letter_record
from streams.engine import process
from streams.state import ShipmentState

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


@app.agent(checkpoint_events_topic)
async def detect_suspicious_routes(stream: Any) -> None:
    """Run every valid event through the engine; send alerts; dead-letter the invalid."""
    d = deps()
    async for event in stream.events():
        try:
            ev = parse_event(event.value)
        except InvalidEventError as exc:
            await _dead_letter(event, exc)
            continue
        stored = shipment_state.get(ev.shipment_id)
        state = None if stored is None else ShipmentState.model_validate(stored)
        outcome = process(state, ev, d.detection, d.registry)
        shipment_state[ev.shipment_id] = outcome.state.model_dump(mode="json")
        for alert in outcome.alerts:
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

"""The Faust app that runs the worker, and the service that holds its stages.

Faust runs the process: the app's service tree, start-up and orderly shutdown on SIGTERM
and SIGINT, logging, crash handling (``faust.Worker``). The stages themselves
(streams/processor.py) read Kafka with their own batch loops instead of Faust's
agents, streams, acks and tables; docs/STREAMS.md gives the reasons (upstream
faust-streaming#606 among them) and tests/unit/streams/test_faust_offsets.py pins the
behaviour that makes Faust's commit path unsafe here. So the app's own Kafka consumer and
producer are not started at all (``BootStrategy``).

The module-level app connects to nothing; :func:`configure` (the worker's bootstrap) gives
it the processor service before the worker starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import faust
from faust.app.base import BootStrategy
from faust.exceptions import AlreadyConfiguredWarning
from mode import Service

from graph.writer import Neo4jGraphWriter
from schemas import Registry
from streams.config import DetectionConfig
from streams.context import DetectionContext
from streams.handoff import ParsedEvents
from streams.kafka_io import BatchLoop, new_consumer, new_producer
from streams.processor import DetectStage, FactsReader, GraphSink, IngestStage
from streams.topics import Topics
from streams.worker_metrics import WorkerMetrics

log = logging.getLogger(__name__)

APP_ID = "goodsflow"


class NoFaustKafka(BootStrategy):
    """Start the app's services without Faust's own Kafka consumer, producer and web."""

    enable_kafka = False
    enable_web = False


class GoodsflowApp(faust.App):
    BootStrategy = NoFaustKafka


app = GoodsflowApp(APP_ID, autodiscover=False, web_enabled=False)


@dataclass
class Dependencies:
    """What the stages need, built by the worker's bootstrap (streams/worker.py)."""

    bootstrap_servers: str
    topics: Topics
    registry: Registry
    detection: DetectionConfig
    graph: Neo4jGraphWriter
    batch_size: int = 2000
    session_timeout_s: float = 30.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # 0: not served


class StreamProcessor(Service):
    """The worker's stages: facts reader, ingest loop, detection loop (and metrics)."""

    def __init__(self, deps: Dependencies, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deps = deps
        self.metrics = WorkerMetrics()
        self._stage_tasks: list[asyncio.Task[None]] = []
        self._metrics_server: Any = None

    async def on_start(self) -> None:
        d = self.deps
        if d.metrics_port:
            from streams.metrics import serve_metrics

            self._metrics_server = serve_metrics(
                self.metrics.registry, d.metrics_host, d.metrics_port
            )
            log.info("metrics on %s", self._metrics_server.url)
        self.producer = new_producer(d.bootstrap_servers)
        await self.producer.start()
        context = DetectionContext(d.registry)
        graph = GraphSink(d.graph)
        handoff = ParsedEvents()
        facts = FactsReader(d.bootstrap_servers, d.topics, d.detection, context, self.metrics)
        ingest = BatchLoop(
            new_consumer(
                d.bootstrap_servers, d.topics.ingest_group, d.session_timeout_s, d.batch_size
            ),
            [d.topics.checkpoint_events, d.topics.alert_cases],
            IngestStage(d.topics, d.detection, graph, self.producer, self.metrics, handoff),
            d.batch_size,
            "ingest",
            revoke_grace_s=d.session_timeout_s / 4,
        )
        detect = BatchLoop(
            new_consumer(
                d.bootstrap_servers, d.topics.detect_group, d.session_timeout_s, d.batch_size
            ),
            [d.topics.shipment_events],
            DetectStage(
                d.bootstrap_servers, d.topics, d.detection, d.registry, context, graph,
                self.producer, self.metrics, handoff,
            ),
            d.batch_size,
            "detect",
            revoke_grace_s=d.session_timeout_s / 4,
        )  # fmt: skip
        self.loops = {"ingest": ingest, "detect": detect}
        for name, coro in (
            ("facts", facts.run()),
            ("ingest", ingest.run()),
            ("detect", detect.run()),
            ("lag", self._report_lag()),
        ):
            task = asyncio.create_task(coro, name=f"goodsflow-{name}")
            task.add_done_callback(self._on_stage_done)
            self._stage_tasks.append(task)

    def _on_stage_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self.should_stop:
            return
        exc = task.exception()
        if exc is not None:
            # Nothing was committed past what was processed; a restart resumes from there.
            log.critical("%s stopped: %r; stopping the worker", task.get_name(), exc)
            self._crashing = asyncio.ensure_future(self.crash(exc))

    async def _report_lag(self) -> None:
        while True:
            await asyncio.sleep(5)
            for name, loop in self.loops.items():
                for tp in list(loop.assignment):
                    highwater = loop.consumer.highwater(tp)
                    done = loop.committed.get(tp)
                    if highwater is not None and done is not None:
                        self.metrics.lag.labels(name, tp.topic, str(tp.partition)).set(
                            max(0, highwater - done)
                        )

    async def on_stop(self) -> None:
        """Cancel the stages: a batch in flight is left uncommitted (it is read again by
        whoever takes its partitions)."""
        for task in self._stage_tasks:
            task.cancel()
        for task in self._stage_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.producer.stop()
        if self._metrics_server is not None:
            await asyncio.to_thread(self._metrics_server.stop)


def configure(deps: Dependencies) -> StreamProcessor:
    """Give the app its processor service; call once, before the worker starts."""
    warnings.filterwarnings("ignore", category=AlreadyConfiguredWarning)
    processor = StreamProcessor(deps)
    app.add_dependency(processor)
    return processor

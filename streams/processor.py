"""The worker's stages on Kafka and Neo4j: ingest, detection, and the facts reader.

- :class:`IngestStage` reads ``checkpoint-events`` and ``alert-cases`` (group
  ``goodsflow-ingest``). Per batch: judge every record (streams/ingest.py); write the
  events to the graph, setting aside what Neo4j refuses; send the events and case steps to
  ``goodsflow-shipment-events`` keyed by shipment id with goodsflow's partitioner, the
  facts to ``goodsflow-detection-facts``, the watermark marks to both, the rejected records
  to the dead-letter topic; wait for every acknowledgement. The batch loop commits after.
- :class:`DetectStage` reads ``goodsflow-shipment-events`` (group ``goodsflow-detect``).
  Per batch: judge (streams/detect.py), send the alerts, dead letters and case facts and
  wait for them; write the alerts and case steps to the graph; write the changed states
  and the watermark vector to ``goodsflow-detection-state`` and wait; the loop commits.
  A partition it is given is restored from the state topic first.
- :class:`FactsReader` reads all of ``goodsflow-detection-facts`` into the worker's
  detection context and sets the context's watermark (the minimum of the latest mark of
  every input partition).

Each stage splits a batch in two (streams/kafka_io.py): ``prepare`` judges it in memory,
and the finish it returns sends and writes; the batch loop prepares the next batch while
this one finishes.

docs/STREAMS.md draws the whole picture.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from graph.exceptions import GraphUnavailable
from graph.writer import Neo4jGraphWriter, PreparedBatch, Refused, WriteReport
from schemas import Alert, CaseOutcome, CaseStep, Event, Registry
from streams.config import DetectionConfig
from streams.context import DetectionContext
from streams.deadletters import dead_letter_record
from streams.detect import PartitionTask
from streams.facts import CaseFact, Fact, decode_fact, encode_fact, facts_of_event
from streams.handoff import ParsedEvents
from streams.ingest import Ingest, InputRecord, Rejected, Verdicts
from streams.kafka_io import Batch, Finish, RecordBuffer, read_to_end, retry_forever
from streams.records import (
    CASE,
    EVENT,
    WATERMARK,
    Mark,
    WatermarkVector,
    kind_of,
    mark_record,
    parse_source,
    read_mark,
    record_headers,
    source_of,
)
from streams.topics import PARTITIONS, Topics, partition_for
from streams.worker_metrics import WorkerMetrics

log = logging.getLogger(__name__)

# Records judged between two turns of the event loop: the other stage's finish (a graph
# write done, its commit due) waits for the turn, and Neo4j with it. A finish takes several
# turns (send, acknowledgement, graph write, commit): with 250 (25 ms of detection a turn)
# a batch's Kafka flush took 100 ms on average, with 50 about 55 ms, and bench/e2e.py ran
# about 10% faster (4 of 4 pairs); a turn costs about 20 us.
YIELD_EVERY = 50

# A record to send: topic, partition, key, value, headers.
Output = tuple[str, int, bytes | None, bytes | None, list[tuple[str, bytes]] | None]


class GraphSink:
    """The worker's writes to Neo4j, one transaction at a time: the two stages' batches
    touch the same shipments, and concurrent MERGEs on them deadlock (Neo4j resolves it by
    failing one, which then waits and retries: slower than taking turns)."""

    def __init__(self, graph: Neo4jGraphWriter) -> None:
        self.graph = graph
        self._turn = asyncio.Lock()

    async def write(self, batch: PreparedBatch) -> WriteReport:
        """Write a batch (prepared with :meth:`Neo4jGraphWriter.prepare`) off the event
        loop, waiting out outages (back-pressure: the batch is not committed meanwhile);
        what Neo4j refuses comes back to be dead-lettered."""
        async with self._turn:
            return await write_graph(self.graph, batch)


async def write_graph(graph: Neo4jGraphWriter, batch: PreparedBatch) -> WriteReport:
    async def attempt() -> WriteReport:
        return await asyncio.to_thread(graph.write_prepared, batch)

    report: WriteReport = await retry_forever("graph write", attempt, (GraphUnavailable,))
    return report


class IngestStage:
    def __init__(
        self,
        topics: Topics,
        config: DetectionConfig,
        graph: GraphSink,
        producer: AIOKafkaProducer,
        metrics: WorkerMetrics,
        handoff: ParsedEvents,
    ) -> None:
        self.topics, self.graph, self.producer, self.metrics = topics, graph, producer, metrics
        self.ingest = Ingest(topics, config)
        self.handoff = handoff  # what detection here will read back, parsed
        self.owned: set[int] = set()  # checkpoint-events partitions read here

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        mine = {tp.partition for tp in partitions if tp.topic == self.topics.checkpoint_events}
        self.ingest.forget(self.owned - mine)
        self.owned = mine

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Kept until the new assignment says which partitions stay (eager rebalances
        revoke everything first)."""

    async def reset(self) -> None:
        """Stream times are re-learnt from the records read again (marks never go back)."""
        self.ingest.forget(list(self.ingest.stream_time))

    async def idle(self) -> None:
        return None

    async def process(self, batch: Batch) -> None:
        """Prepare and finish a batch at once (the batch loop overlaps the two)."""
        await (await self.prepare(batch))()

    async def prepare(self, batch: Batch) -> Finish:
        """Judge every record (in memory); the finish writes and sends the batch."""
        started = time.perf_counter()
        records = [
            InputRecord(tp.topic, tp.partition, r.offset, r.key, r.value, r.timestamp)
            for tp, rs in batch.items()
            for r in rs
        ]
        verdicts = Verdicts()
        for chunk in range(0, len(records), YIELD_EVERY):
            verdicts.extend(self.ingest.take(records[chunk : chunk + YIELD_EVERY]))
            await asyncio.sleep(0)
        graph_batch = Neo4jGraphWriter.prepare(ev for _, ev in verdicts.events)
        await asyncio.sleep(0)
        outputs = [self._outputs(record, event) for record, event in verdicts.events]

        async def finish() -> None:
            await self._finish(verdicts, graph_batch, outputs)
            self.metrics.records_in.labels("ingest").inc(len(records))
            self.metrics.batch_seconds.labels("ingest").observe(time.perf_counter() - started)

        return finish

    def _outputs(self, record: InputRecord, event: Event) -> list[Output]:
        """What an event sends on: itself to the shipment topic (the bytes as received:
        they parsed, and parse the same again; writing the event anew cost more than its
        parsing), its facts."""
        out: list[Output] = [
            (
                self.topics.shipment_events,
                partition_for(event.shipment_id),
                event.shipment_id.encode(),
                record.value,
                record_headers(EVENT, record.topic, record.partition, record.offset),
            )
        ]
        for fact in facts_of_event(event):
            key, value = encode_fact(fact)
            out.append((self.topics.detection_facts, record.partition, key, value, None))
        return out

    async def _finish(
        self, verdicts: Verdicts, graph_batch: PreparedBatch, outputs: list[list[Output]]
    ) -> None:
        """The events to the graph (setting aside what Neo4j refuses), then everything to
        Kafka, waiting for every acknowledgement."""
        rejected = list(verdicts.rejected)
        events = verdicts.events
        refused: dict[int, Refused] = {}
        if events:
            graph_started = time.perf_counter()
            report = await self.graph.write(graph_batch)
            self.metrics.event_graph_seconds.observe(time.perf_counter() - graph_started)
            refused = {id(r.item): r for r in report.refused}
        out = RecordBuffer()
        written = 0
        for (record, event), sends in zip(events, outputs, strict=True):
            why = refused.get(id(event))
            if why is not None:
                rejected.append(Rejected(record, f"Neo4j refused it: {why.code}: {why.message}"))
                continue
            written += 1
            for send in sends:
                out.add(*send)
            if record.value is not None:
                self.handoff.put(record.value, event)
        shipment_events = self.topics.shipment_events
        for record, step in verdicts.cases:
            out.add(
                shipment_events,
                partition_for(step.shipment_id),
                step.shipment_id.encode(),
                record.value,
                record_headers(CASE, record.topic, record.partition, record.offset),
            )
        for mark in verdicts.marks:
            key, value, headers = mark_record(mark)
            for partition in range(PARTITIONS):
                out.add(shipment_events, partition, key, value, headers)
            out.add(self.topics.detection_facts, mark.source, key, value, headers)
            self.metrics.input_watermark.labels(str(mark.source)).set(mark.watermark.timestamp())
        for item in rejected:
            record = item.record
            out.add(
                self.topics.dead_letters,
                record.partition,
                record.key,
                dead_letter_record(
                    reason=item.reason,
                    problems=item.problems,
                    payload=record.value,
                    key=record.key,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                ),
            )
            self.metrics.dead_letter(item.reason)
            log.warning(
                "dead-lettered %s[%s]@%s: %s",
                record.topic,
                record.partition,
                record.offset,
                item.reason[:300],
            )
        await out.flush(self.producer)
        self.metrics.events.inc(written)


class DetectStage:
    def __init__(
        self,
        bootstrap_servers: str,
        topics: Topics,
        config: DetectionConfig,
        registry: Registry,
        context: DetectionContext,
        graph: GraphSink,
        producer: AIOKafkaProducer,
        metrics: WorkerMetrics,
        handoff: ParsedEvents,
    ) -> None:
        self.bootstrap_servers, self.topics = bootstrap_servers, topics
        self.config, self.registry, self.context = config, registry, context
        self.graph, self.producer, self.metrics = graph, producer, metrics
        self.handoff = handoff
        self.tasks: dict[int, PartitionTask] = {}  # restored partitions (owned or kept)
        self.owned: set[int] = set()  # the partitions this member is given now

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        self.owned = {tp.partition for tp in partitions}
        for partition in set(self.tasks) - self.owned:
            del self.tasks[partition]
        await self._restore(sorted(self.owned - set(self.tasks)))

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """No longer judged (nothing is written for them until they are given again), but
        their states are kept until the new assignment says which partitions stay: nobody
        else writes a partition's state between the two (the batch in flight finished
        before)."""
        self.owned -= {tp.partition for tp in partitions}

    async def reset(self) -> None:
        """A batch failed part way: its effects in memory may be ahead of what was
        written; read every owned partition's state again. (When reading fails, the
        partitions stay owned and unrestored: the next reset or batch restores them.)"""
        self.tasks = {}
        await self._restore(sorted(self.owned))

    async def _restore(self, partitions: list[int]) -> None:
        if not partitions:
            return
        started = time.perf_counter()
        tasks = {
            p: PartitionTask(
                p, self.config, self.registry, self.context, PARTITIONS, self.handoff.parse
            )
            for p in partitions
        }

        def take(record: ConsumerRecord) -> None:
            tasks[record.partition].restore(record.key, record.value, list(record.headers))

        count = await read_to_end(
            self.bootstrap_servers,
            [TopicPartition(self.topics.detection_state, p) for p in partitions],
            take,
        )
        for task in tasks.values():
            task.restored()
        self.tasks.update(tasks)
        gc.freeze()  # what was read stays: the collector need not walk it again
        seconds = time.perf_counter() - started
        shipments = sum(len(task.store) for task in tasks.values())
        self.metrics.restore_seconds.observe(seconds)
        log.info(
            "detection state of partitions %s restored: %d records, %d shipments in %.1f s",
            partitions,
            count,
            shipments,
            seconds,
        )

    async def process(self, batch: Batch) -> None:
        """Prepare and finish a batch at once (the batch loop overlaps the two)."""
        await (await self.prepare(batch))()

    async def prepare(self, batch: Batch) -> Finish:
        """Judge the batch (in memory: the engine, the timers it made due, the outputs
        encoded); the finish sends and writes them."""
        started = time.perf_counter()
        count = 0
        # an assignment whose restore failed (the listener's errors are only logged)
        await self._restore(sorted({tp.partition for tp in batch} - set(self.tasks)))
        for tp, records in batch.items():
            task = self.tasks[tp.partition]
            for i, record in enumerate(records, 1):
                task.take(kind_of(record.headers), record.value, source_of(record.headers))
                if i % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            count += len(records)
        write = self._judged()

        async def finish() -> None:
            if write is not None:
                await write()
            self.metrics.records_in.labels("detect").inc(count)
            self.metrics.batch_seconds.labels("detect").observe(time.perf_counter() - started)

        return finish

    async def idle(self) -> None:
        """The context's watermark moves on its own (the facts reader): judge what it made
        due, and write it out."""
        write = self._judged()
        if write is not None:
            await write()

    def _judged(self) -> Finish | None:
        """Settle every partition on its watermark and take what the judgements made: the
        alerts, facts and dead letters (sent first), the graph's alerts and case steps,
        then the changed states. None when there is nothing to send."""
        outputs = []
        for task in [t for p, t in self.tasks.items() if p in self.owned]:
            task.settle()
            outputs.append((task, task.drain()))
        if not any(o.alerts or o.facts or o.rejected or o.state or o.steps for _, o in outputs):
            return None
        first, second = RecordBuffer(), RecordBuffer()
        alerts: list[Alert] = []
        steps: list[CaseStep] = []
        for task, out in outputs:
            p = task.partition
            for alert in out.alerts:
                first.add(
                    self.topics.alerts,
                    p,
                    alert.shipment_id.encode(),
                    alert.model_dump_json().encode(),
                )
                self.metrics.alerts.labels(alert.rule.value, alert.status.value).inc()
            for fact in out.facts:
                fact_key, fact_value = encode_fact(fact)
                first.add(self.topics.detection_facts, p, fact_key, fact_value)
            for source, value, reason in out.rejected:
                topic, partition, offset = parse_source(source)
                first.add(
                    self.topics.dead_letters,
                    p,
                    None,
                    dead_letter_record(
                        reason=reason,
                        problems=[],
                        payload=value,
                        key=None,
                        topic=topic or self.topics.shipment_events,
                        partition=partition,
                        offset=offset,
                    ),
                )
                self.metrics.dead_letter(reason)
                log.warning("dead-lettered %s in detection: %s", source, reason[:300])
            for state_key, state_value, headers in out.state:
                second.add(self.topics.detection_state, p, state_key, state_value, headers)
            alerts += out.alerts
            steps += out.steps
            if task.watermark is not None:
                self.metrics.watermark.labels(str(p)).set(task.watermark.timestamp())
        for _, out in outputs:
            self._share(out.facts, {step.alert_id: step.actor for step in out.steps})
        graph_batch = Neo4jGraphWriter.prepare((), alerts, steps)

        async def write() -> None:
            await first.flush(self.producer)
            if alerts or steps:
                started = time.perf_counter()
                report = await self.graph.write(graph_batch)
                self.metrics.graph_seconds.observe(time.perf_counter() - started)
                if report.refused:
                    await self._refused(report)
            await second.flush(self.producer)

        return write

    def _share(self, facts: list[CaseFact], actors: dict[str, str]) -> None:
        """The task forces' word is this worker's at once (read your writes: once a step
        shows in the graph, this worker's detection has it); other workers read it from
        the facts topic, where the batch's finish writes it. (A batch that fails to finish
        is judged again from its records: the same facts, added again, change nothing.)"""
        for fact in facts:
            self.context.add(fact)
            if fact.outcome is not None:
                counts = self.context.outcomes().get(fact.rule, Counter())
                log.info(
                    "alert %s closed (%s) by %s; %s so far: %d confirmed, %d false alarms",
                    fact.alert_id,
                    fact.outcome,
                    actors.get(fact.alert_id, "?"),
                    fact.rule,
                    counts[CaseOutcome.CONFIRMED],
                    counts[CaseOutcome.FALSE_ALARM],
                )

    async def _refused(self, report: WriteReport) -> None:
        """Alerts or steps Neo4j refused: sent already, missing from the graph; say so."""
        out = RecordBuffer()
        for refused in report.refused:
            item = refused.item
            payload = item.model_dump_json().encode() if hasattr(item, "model_dump_json") else b""
            reason = f"Neo4j refused it: {refused.code}: {refused.message}"
            out.add(
                self.topics.dead_letters,
                0,
                None,
                dead_letter_record(
                    reason=reason, problems=[], payload=payload, key=None,
                    topic=self.topics.alerts, partition=-1, offset=-1,
                ),
            )  # fmt: skip
            self.metrics.dead_letter(reason)
            log.error("graph refused %s: %s", type(item).__name__, reason)
        await out.flush(self.producer)


class FactsReader:
    """Every partition of the facts topic, from the start, into the context; the context's
    watermark follows the minimum of the latest mark of every input partition."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Topics,
        config: DetectionConfig,
        context: DetectionContext,
        metrics: WorkerMetrics,
        on_progress: Callable[[], Any] | None = None,
    ) -> None:
        self.bootstrap_servers, self.topics, self.context = bootstrap_servers, topics, context
        self.metrics = metrics
        self.retention = timedelta(days=config.retention.context_days)
        self.vector = WatermarkVector.empty(PARTITIONS)
        self.caught_up = asyncio.Event()
        self._pruned_at: datetime | None = None
        self.on_progress = on_progress

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=16 * 1024 * 1024,
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(self.topics.detection_facts, p) for p in range(PARTITIONS)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while True:
                batch = await retry_forever(
                    "facts: fetching",
                    lambda: consumer.getmany(timeout_ms=200, max_records=10_000),
                    (KafkaError,),
                )
                for records in batch.values():
                    for record in records:
                        self._take(record)
                if not self.caught_up.is_set() and await self._at_ends(consumer, ends):
                    self.caught_up.set()
                    log.info(
                        "facts read: %d held, context watermark %s",
                        self.context.size,
                        self.context.watermark,
                    )
                self._prune()
        finally:
            await consumer.stop()

    @staticmethod
    async def _at_ends(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
        """Whether everything there was at the start has been read (False while Kafka
        cannot say)."""
        try:
            return all([await consumer.position(tp) >= end for tp, end in ends.items()])
        except KafkaError:
            return False

    def _take(self, record: ConsumerRecord) -> None:
        if record.value is None:
            return  # a pruned fact's tombstone
        try:
            if kind_of(record.headers) == WATERMARK:
                mark: Mark = read_mark(record.value)
                if self.vector.update(mark):
                    self.context.watermark = self.vector.watermark
                    if self.context.watermark is not None:
                        self.metrics.context_watermark.set(self.context.watermark.timestamp())
                return
            fact: Fact = decode_fact(record.value)
            self.context.add(fact)
        except Exception as exc:  # a foreign record: skip, never stop
            log.warning(
                "facts: record %s[%s]@%s skipped: %s",
                record.topic, record.partition, record.offset, exc,
            )  # fmt: skip

    def _prune(self) -> None:
        watermark = self.context.watermark
        if watermark is None:
            return
        if self._pruned_at is None or watermark - self._pruned_at > timedelta(hours=1):
            dropped = self.context.prune(watermark - self.retention)
            self._pruned_at = watermark
            if dropped:
                log.info("context: %d facts older than the retention forgotten", dropped)
        self.metrics.context_facts.set(self.context.size)

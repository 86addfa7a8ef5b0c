"""The worker's stages with fakes for Kafka's producer and Neo4j: what a batch sends where,
and that an event Neo4j refuses is dead-lettered with Neo4j's reason and goes no further."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import TopicPartition

from graph.writer import Refused, WriteReport
from schemas import event_to_json, parse_record
from streams import load_detection_config
from streams.handoff import ParsedEvents
from streams.processor import IngestStage
from streams.records import EVENT, KIND, WATERMARK
from streams.topics import Topics, partition_for
from streams.worker_metrics import WorkerMetrics
from tests.factories import declaration, scan

TOPICS = Topics("t.")


class FakeBatch:
    def __init__(self, sent):
        self.records, self.sent = [], sent

    def append(self, *, key, value, timestamp, headers):
        self.records.append((key, value, dict(headers)))
        return True

    def close(self):
        pass


class FakeProducer:
    """Records what was sent, per topic and partition, in order."""

    def __init__(self):
        self.sent: list[tuple[str, int, bytes | None, bytes | None, dict]] = []

    def create_batch(self):
        return FakeBatch(self.sent)

    async def send_batch(self, batch, topic, *, partition):
        self.sent += [(topic, partition, k, v, h) for k, v, h in batch.records]
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class FakeGraph:
    """Refuses the events whose ids it is told, as Neo4j would."""

    def __init__(self, refuse: set[str]):
        self.refuse, self.written = refuse, []

    async def write(self, batch):
        events = list(batch.units)
        refused = [Refused(e, "Neo.ClientError.Statement.ArgumentError", "bad value")
                   for e in events if e.event_id in self.refuse]  # fmt: skip
        self.written += [e for e in events if e.event_id not in self.refuse]
        return WriteReport(written_rows=len(events), refused=tuple(refused), transactions=1)


class Rec:
    def __init__(self, offset, value, key=b"k"):
        self.offset, self.value, self.key, self.timestamp = offset, value, key, -1


def test_a_batch_goes_to_the_graph_the_shipment_topic_and_the_facts_with_marks_after():
    decl = declaration()
    bad = scan(decl.shipment_id, "LS-HUUNGHI", 30)
    good = scan(decl.shipment_id, "LS-CHILANG", 60)
    producer, graph = FakeProducer(), FakeGraph(refuse={bad.event_id})
    handoff = ParsedEvents()
    stage = IngestStage(TOPICS, load_detection_config(), graph, producer, WorkerMetrics(), handoff)
    tp = TopicPartition(TOPICS.checkpoint_events, 2)
    batch = {tp: [Rec(i, event_to_json(ev)) for i, ev in enumerate([decl, bad, good])]}
    asyncio.run(stage.process(batch))

    assert [e.event_id for e in graph.written] == [decl.event_id, good.event_id]
    where = partition_for(decl.shipment_id)
    forwarded = [(p, v) for t, p, k, v, h in producer.sent if t == TOPICS.shipment_events]
    events = [json.loads(v)["event_id"] for p, v in forwarded if b"watermark" not in v]
    assert events == [decl.event_id, good.event_id]  # the refused one goes no further
    # detection in this worker takes the forwarded events as ingest parsed them, once
    for _, value in forwarded:
        if b"watermark" not in value:
            assert handoff.parse(value) == parse_record(value)
    assert (handoff.hits, len(handoff)) == (2, 0)
    assert all(p == where for p, v in forwarded if b"watermark" not in v)
    marks = [(t, p) for t, p, k, v, h in producer.sent if h.get(KIND) == WATERMARK]
    assert sorted(p for t, p in marks if t == TOPICS.shipment_events) == list(range(6))
    assert [(t, p) for t, p in marks if t == TOPICS.detection_facts] == [
        (TOPICS.detection_facts, 2)
    ]
    # in the shipment's partition, the mark comes after the events it covers
    kinds = [
        h[KIND] for t, p, _, _, h in producer.sent if (t, p) == (TOPICS.shipment_events, where)
    ]
    assert kinds == [EVENT, EVENT, WATERMARK]
    facts = [json.loads(v) for t, p, k, v, h in producer.sent
             if t == TOPICS.detection_facts and h.get(KIND) != WATERMARK]  # fmt: skip
    assert [(f["kind"], f["event_id"]) for f in facts] == [("declaration", decl.event_id)]
    (dead,) = [json.loads(v) for t, p, k, v, h in producer.sent if t == TOPICS.dead_letters]
    assert dead["reason"] == (
        "Neo4j refused it: Neo.ClientError.Statement.ArgumentError: bad value"
    )
    assert dead["source"] == {
        "topic": TOPICS.checkpoint_events, "partition": 2, "offset": 1, "key": "k",
    }  # fmt: skip


def test_a_detection_reset_whose_restore_fails_keeps_its_partitions_to_restore_later(
    monkeypatch,
):
    from schemas import load_registry
    from streams.context import DetectionContext
    from streams.processor import DetectStage

    calls = []

    async def flaky_read_to_end(servers, partitions, handle, batch_size=5000):
        calls.append(sorted(tp.partition for tp in partitions))
        if len(calls) == 2:
            raise ConnectionError("Kafka is away")
        return 0

    monkeypatch.setattr("streams.processor.read_to_end", flaky_read_to_end)
    registry = load_registry()
    stage = DetectStage(
        "unused:9092", TOPICS, load_detection_config(), registry,
        DetectionContext(registry), FakeGraph(set()), FakeProducer(), WorkerMetrics(),
        ParsedEvents(),
    )  # fmt: skip
    tps = {TopicPartition(TOPICS.shipment_events, p) for p in (1, 4)}

    async def scenario():
        await stage.assigned(tps)
        with pytest.raises(ConnectionError):
            await stage.reset()  # a failed batch's reset, while Kafka is away
        await stage.reset()  # the loop's retry

    asyncio.run(scenario())
    assert calls == [[1, 4], [1, 4], [1, 4]]  # the retry still knows which partitions
    assert sorted(stage.tasks) == [1, 4]

"""Records published by Kafka clients goodsflow did not write reach goodsflow's readers
intact, with every codec and with both librdkafka's default partitioner and Java's.

kcat and confluent-kafka (both librdkafka, see tests/foreign.py) publish keyed JSON to one
throwaway topic of six partitions: every codec, each with librdkafka's default partitioner
(consistent_random), with murmur2_random (Java's placement) and once to an explicit
partition. Then aiokafka (under the Faust worker) and kafka-python (goodsflow's tools) must
each read every record back exactly and in order; every batch on the broker must really
be compressed with the codec asked for, so a codec library that went missing from either
side fails here rather than in production; and every key must sit in the partition that
`librdkafka_partition` or `java_partition` names for it.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.factories import unique
from tests.foreign import (
    CODECS,
    Codec,
    Record,
    confluent_produce,
    java_partition,
    kcat_produce,
    librdkafka_partition,
)

pytestmark = pytest.mark.stack

PARTITIONS = 6
RECORDS_PER_RUN = 240
KEYS = 48  # shipments, so each key carries five records per run, whose order must hold

PRODUCERS: dict[str, Callable[..., int]] = {
    "kcat": kcat_produce,
    "confluent-kafka": confluent_produce,
}

# A record as read back: (partition, offset, key, value).
Read = tuple[int, int, bytes | None, bytes]


@dataclass(frozen=True)
class Run:
    """One producer call: a client, a codec, and how it picks partitions."""

    client: str
    codec: Codec
    partitioner: str | None = None
    partition: int | None = None

    @property
    def tag(self) -> str:
        placed = f"p{self.partition}" if self.partition is not None else self.partitioner
        return f"{self.client}/{self.codec}/{placed or 'default'}"

    def records(self) -> list[Record]:
        """Keyed single-line JSON like a checkpoint's, with Vietnamese text, and a few null
        and empty keys (which the partitioners treat differently)."""
        records: list[Record] = []
        for seq in range(RECORDS_PER_RUN):
            key: bytes | None = f"SHP-LS-{seq % KEYS:05d}".encode()
            if seq % 40 == 7:
                key = None
            elif seq % 40 == 19:
                key = b""
            value = {
                "run": self.tag,
                "seq": seq,
                "shipment_id": key.decode() if key else None,
                "checkpoint_id": "CK-LS-HUU-NGHI",
                "goods": "Thực phẩm chức năng nhập khẩu",
                "note": "kiểm tra " * 8,
            }
            records.append((key, json.dumps(value, ensure_ascii=False).encode()))
        return records

    def expected_partition(self, key: bytes | None) -> int | None:
        """Where this run's producer must have put `key` (None: anywhere)."""
        if self.partition is not None:
            return self.partition
        if self.partitioner == "murmur2_random":
            return java_partition(key, PARTITIONS)
        return librdkafka_partition(key, PARTITIONS)


RUNS = [
    Run(client, codec, partitioner)
    for client in PRODUCERS
    for codec in CODECS
    for partitioner in (None, "murmur2_random")
] + [Run("kcat", "zstd", partition=4), Run("confluent-kafka", "lz4", partition=4)]

# The compression attribute of a record batch (the low three bits, as in the protocol).
CODEC_ATTRIBUTE: dict[Codec, int] = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@dataclass(frozen=True)
class Batch:
    """A record batch as the broker stores and serves it."""

    partition: int
    compression: int
    runs: frozenset[str]


@pytest.fixture(scope="module")
def topic(settings) -> Iterator[str]:
    from kafka import KafkaAdminClient

    name = unique("test-foreign")
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    # "producer": the broker keeps each batch as the producer compressed it.
    admin.create_topics(
        {
            name: {
                "num_partitions": PARTITIONS,
                "replication_factor": 1,
                "configs": {"compression.type": "producer"},
            }
        },
        wait_for_metadata=True,
    )
    yield name
    admin.delete_topics([name])
    admin.close()


@pytest.fixture(scope="module")
def published(settings, topic) -> dict[str, list[Record]]:
    """Every run's records, as sent, by run tag."""
    sent: dict[str, list[Record]] = {}
    for run in RUNS:
        records = run.records()
        count = PRODUCERS[run.client](
            settings.bootstrap_servers,
            topic,
            records,
            codec=run.codec,
            partitioner=run.partitioner,
            partition=run.partition,
        )
        assert count == len(records)
        sent[run.tag] = records
    return sent


def _run_of(value: bytes) -> str:
    return str(json.loads(value)["run"])


@pytest.fixture(scope="module")
def batches(settings, topic, published) -> list[Batch]:
    """Every batch of the topic, fetched with aiokafka's protocol classes and decoded with
    its record parser (so decompressed with the codec libraries the worker has)."""
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.fetch import FetchRequest
    from aiokafka.record.memory_records import MemoryRecords
    from aiokafka.structs import TopicPartition

    async def fetch() -> list[Batch]:
        client = AIOKafkaClient(bootstrap_servers=settings.bootstrap_servers)
        await client.bootstrap()
        try:
            await client.add_topic(topic)
            found: list[Batch] = []
            for partition in range(PARTITIONS):
                leader = client.cluster.leader_for_partition(TopicPartition(topic, partition))
                offset, end = 0, 1
                for _ in range(1000):
                    if offset >= end:
                        break
                    request = FetchRequest(
                        max_wait_time=500,
                        min_bytes=1,
                        max_bytes=8 << 20,
                        isolation_level=0,
                        topics=[(topic, [(partition, offset, 8 << 20)])],
                    )
                    response = await client.send(leader, request)
                    [(_, [(_, error, end, *data)])] = response.topics
                    assert error == 0, f"fetch error {error} on partition {partition}"
                    records = MemoryRecords(data[-1])
                    while (batch := records.next_batch()) is not None:
                        runs = frozenset(_run_of(record.value) for record in batch)
                        found.append(Batch(partition, batch.compression_type, runs))
                        offset = batch.next_offset
                assert offset >= end, f"partition {partition} not read to its end"
            return found
        finally:
            await client.close()

    return asyncio.run(fetch())


@pytest.fixture(scope="module")
def read_by_aiokafka(settings, topic, published) -> dict[str, list[Read]]:
    """The whole topic through AIOKafkaConsumer, the worker's client, by run tag."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def consume() -> list[Read]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            read: list[Read] = []
            async with asyncio.timeout(30):
                while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                    for messages in (await consumer.getmany(timeout_ms=500)).values():
                        read += [(m.partition, m.offset, m.key, m.value) for m in messages]
            return read
        finally:
            await consumer.stop()

    return _by_run(asyncio.run(consume()))


@pytest.fixture(scope="module")
def read_by_kafka_python(settings, topic, published) -> dict[str, list[Read]]:
    """The whole topic through kafka-python's KafkaConsumer, by run tag."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        read: list[Read] = []
        for _ in range(60):
            if all(consumer.position(tp) >= ends[tp] for tp in tps):
                break
            for messages in consumer.poll(timeout_ms=500).values():
                read += [(m.partition, m.offset, m.key, m.value) for m in messages]
        return _by_run(read)
    finally:
        consumer.close()


def _by_run(read: list[Read]) -> dict[str, list[Read]]:
    runs: dict[str, list[Read]] = defaultdict(list)
    for record in sorted(read, key=lambda r: (r[0], r[1])):
        runs[_run_of(record[3])].append(record)
    return runs


def _assert_read_exactly(run: Run, sent: list[Record], read: list[Read]) -> None:
    """Every record once, unchanged (null and empty keys kept apart), and within each
    partition in the order it was sent."""
    assert sorted((k or b"", k is None, v) for _, _, k, v in read) == sorted(
        (k or b"", k is None, v) for k, v in sent
    ), f"{run.tag}: records lost, duplicated or altered"
    for partition in range(PARTITIONS):
        in_partition = [(k, v) for p, _, k, v in read if p == partition]
        sent_there = [record for record in sent if record in in_partition]
        assert in_partition == sent_there, f"{run.tag}: order changed in {partition}"


@pytest.mark.parametrize("run", RUNS, ids=lambda run: run.tag)
def test_every_batch_is_compressed_with_the_codec_asked_for(run, batches):
    codecs = {batch.compression for batch in batches if run.tag in batch.runs}
    assert codecs == {CODEC_ATTRIBUTE[run.codec]}
    assert all(batch.runs == {run.tag} for batch in batches if run.tag in batch.runs)


@pytest.mark.parametrize("run", RUNS, ids=lambda run: run.tag)
def test_aiokafka_reads_every_record_exactly(run, published, read_by_aiokafka):
    _assert_read_exactly(run, published[run.tag], read_by_aiokafka[run.tag])


@pytest.mark.parametrize("run", RUNS, ids=lambda run: run.tag)
def test_kafka_python_reads_every_record_exactly(run, published, read_by_kafka_python):
    _assert_read_exactly(run, published[run.tag], read_by_kafka_python[run.tag])


@pytest.mark.parametrize("run", RUNS, ids=lambda run: run.tag)
def test_each_key_lands_where_the_partitioner_puts_it(run, read_by_aiokafka):
    placed = [
        (key, partition, run.expected_partition(key))
        for partition, _, key, _ in read_by_aiokafka[run.tag]
        if run.expected_partition(key) is not None
    ]
    assert len(placed) >= RECORDS_PER_RUN * 0.9
    misplaced = [(key, got, want) for key, got, want in placed if got != want]
    assert not misplaced, f"{run.tag}: (key, partition, expected) {misplaced[:5]}"


def test_java_and_librdkafka_place_most_keys_differently():
    """So a reader that assumed one placement would miss records from the other client."""
    keys = [f"SHP-LS-{n:05d}".encode() for n in range(KEYS)]
    differ = [
        k for k in keys if java_partition(k, PARTITIONS) != librdkafka_partition(k, PARTITIONS)
    ]
    assert len(differ) > KEYS // 2
    assert java_partition(b"", PARTITIONS) is not None  # Java hashes an empty key
    assert librdkafka_partition(b"", PARTITIONS) is None  # consistent_random does not


def test_java_partition_is_kafka_pythons_placement():
    """goodsflow's own publishers (kafka-python) place keys as `java_partition` says."""
    from kafka.partitioner.default import murmur2

    for n in range(2000):
        key = f"SHP-{n}".encode() * (n % 5)
        assert java_partition(key, PARTITIONS) == (murmur2(key) & 0x7FFFFFFF) % PARTITIONS

"""Both Python Kafka clients goodsflow uses (kafka-python for publishers and tools,
aiokafka under Faust) produce, consume and commit against the local broker."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import unique


@pytest.fixture
def topic(settings):
    from kafka import KafkaAdminClient

    name = unique("test-clients")
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    admin.create_topics(
        {name: {"num_partitions": 2, "replication_factor": 1}}, wait_for_metadata=True
    )
    yield name
    admin.delete_topics([name])
    admin.close()


def test_kafka_python_produces_consumes_and_commits(settings, topic):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True
    )
    for i in range(10):
        producer.send(topic, key=b"k%d" % (i % 3), value=b"v%d" % i)
    producer.flush()
    producer.close()

    group = unique("g")
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    seen = []
    for _ in range(40):
        for batch in consumer.poll(timeout_ms=500).values():
            seen.extend(m.value for m in batch)
        if len(seen) >= 10:
            break
    consumer.commit()
    committed = sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in (0, 1))
    consumer.close()
    assert sorted(seen) == sorted(b"v%d" % i for i in range(10))
    assert committed == 10


def test_aiokafka_produces_consumes_and_commits(settings, topic):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    async def scenario():
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(topic, key=b"k%d" % (i % 3), value=b"a%d" % i)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.bootstrap_servers,
            group_id=unique("g"),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            seen = []
            async with asyncio.timeout(30):
                while len(seen) < 10:
                    batch = await consumer.getmany(timeout_ms=500)
                    seen.extend(m.value for msgs in batch.values() for m in msgs)
            await consumer.commit()
            committed = [await consumer.committed(TopicPartition(topic, p)) for p in (0, 1)]
        finally:
            await consumer.stop()
        return seen, committed

    seen, committed = asyncio.run(scenario())
    assert sorted(seen) == sorted(b"a%d" % i for i in range(10))
    assert sum(c or 0 for c in committed) == 10

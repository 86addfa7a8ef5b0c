"""The delivery loop with a fake consumer, a fake producer and fake receivers: a record that
is no alert (or no case step) is dead-lettered and passed, never crashes the loop; offsets
move only past records whose work is done (dead letter acknowledged, deliveries ended), in
order; a dead letter that cannot be sent holds the commit back; the metrics say so."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client import generate_latest

from schemas import Alert, CaseStep
from streams.delivery.dispatcher import Delivery, Outcome, RetryPolicy, WebhookDispatcher
from streams.delivery.process import (
    DeadLetters,
    DeliveryLoop,
    DeliveryMetrics,
    Rejected,
    counting_retries,
    delivery_dead_letter,
    read_record,
)
from streams.metrics import MetricsError, metrics_served, new_registry, serve_metrics
from tests.factories import case_step
from tests.unit.streams.delivery.test_dispatcher import _alert, _sub

ALERTS, CASES, DLQ = "alerts", "alert-cases", "alerts-delivery-dlq"
ALERTS_0 = TopicPartition(ALERTS, 0)
FAST = RetryPolicy(max_tries=3, base_s=0.001, cap_s=0.002)


def _message(value: bytes | None, offset: int, topic: str = ALERTS, partition: int = 0):
    return ConsumerRecord(
        topic=topic, partition=partition, offset=offset, timestamp=0, timestamp_type=0,
        key=b"SHP-1", value=value, checksum=None, serialized_key_size=5,
        serialized_value_size=-1 if value is None else len(value), headers=(),
    )  # fmt: skip


class FakeConsumer:
    def __init__(self, *assigned: TopicPartition) -> None:
        self.assigned = set(assigned) or {TopicPartition(ALERTS, 0), TopicPartition(CASES, 0)}
        self.commits: list[dict[TopicPartition, int]] = []
        self.ends: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    async def end_offsets(self, tps):
        return {tp: self.ends.get(tp, 0) for tp in tps}

    async def committed(self, tp):
        return None

    async def position(self, tp):
        return 0

    def last(self, tp: TopicPartition = ALERTS_0) -> int | None:
        done = [c[tp] for c in self.commits if tp in c]
        return done[-1] if done else None


class FakeProducer:
    """Kafka for the dead letters: fails the first ``failures`` sends."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[tuple[str, dict, bytes | None]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Kafka is away")
        self.sent.append((topic, json.loads(value), key))


class World:
    """A delivery loop for one LS subscription whose receiver is ``send``."""

    def __init__(self, send=None, producer: FakeProducer | None = None) -> None:
        self.accepted: list[str] = []

        async def accept(delivery: Delivery) -> None:
            self.accepted.append(delivery.alert.shipment_id)

        self.metrics = DeliveryMetrics(new_registry(process_metrics=False))
        self.consumer = FakeConsumer()
        self.producer = producer or FakeProducer()
        self.dead = DeadLetters(self.producer, DLQ, self.metrics, backoff_s=(0.001, 0.002))
        counted = counting_retries(send or accept, FAST.max_tries, self.metrics)
        self.dispatcher = WebhookDispatcher([_sub("ls")], counted, self.dead.delivery, FAST)
        self.loop = DeliveryLoop(self.consumer, self.dispatcher, self.dead, CASES, self.metrics)

    async def settle(self) -> None:
        """Let the lanes finish what they can, then commit."""
        for _ in range(50):
            await asyncio.sleep(0.002)
        await self.loop.commit_done()

    def value(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def test_the_metrics_are_named_goodsflow_delivery():
    text = generate_latest(DeliveryMetrics().registry).decode()
    for name in (
        "goodsflow_delivery_records_read_total",
        "goodsflow_delivery_deliveries_total",
        "goodsflow_delivery_dead_letters_total",
        "goodsflow_delivery_dead_letter_send_errors_total",
        "goodsflow_delivery_consumer_lag_records",
        "goodsflow_delivery_latency_seconds",
        "process_resident_memory_bytes",
    ):
        assert f"# TYPE {name} " in text, name


def test_the_metrics_are_served_over_http_and_the_port_freed_after():
    metrics = DeliveryMetrics(new_registry(process_metrics=False))
    metrics.records_read.labels(topic=ALERTS).inc(3)

    def scrape(url: str) -> str:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode()

    async def scenario() -> str:
        async with metrics_served(metrics.registry, "127.0.0.1", 0) as server:
            text = await asyncio.to_thread(scrape, server.url)
            with pytest.raises(MetricsError, match="cannot serve metrics"):
                serve_metrics(metrics.registry, "127.0.0.1", server.port)  # taken
        with pytest.raises(OSError):
            await asyncio.to_thread(scrape, server.url)
        return text

    text = asyncio.run(scenario())
    assert 'goodsflow_delivery_records_read_total{topic="alerts"} 3.0' in text


def test_what_is_not_an_alert_and_why():
    alert = _alert(1)
    assert read_record(alert.model_dump_json().encode()) == alert
    assert read_record(b"\xff\x00 garbage").reason_class == "not_json"
    assert read_record(None).reason_class == "no_value"
    foreign = read_record(b'{"order_id": 7, "status": "shipped"}')
    assert isinstance(foreign, Rejected) and foreign.reason_class == "invalid_alert"
    assert foreign.reason.startswith("not a valid alert: alert_id: Field required")
    assert {"field": "alert_id", "error": "Field required"} in foreign.problems
    assert read_record(b"[1, 2]").problems[0]["field"] == "(root)"
    step = case_step(alert, "acknowledge")
    assert isinstance(read_record(step.model_dump_json().encode(), case_step=True), CaseStep)
    not_step = read_record(alert.model_dump_json().encode(), case_step=True)
    assert isinstance(not_step, Rejected) and not_step.reason_class == "invalid_case_step"


def test_a_record_that_is_no_alert_is_dead_lettered_and_delivery_goes_on():
    async def scenario():
        w = World()
        await w.loop.handle(_message(b"\xffgarbage", 10))
        await w.loop.handle(_message(None, 11))
        await w.loop.handle(_message(_alert(1).model_dump_json().encode(), 12))
        await w.settle()
        return w

    w = asyncio.run(scenario())
    assert w.accepted == ["SHP-001"]
    (topic, garbage, key), (_, null, _) = w.producer.sent
    assert topic == DLQ and key == b"SHP-1" and garbage["stage"] == "read"
    assert garbage["reason"].startswith("not JSON")
    assert base64.b64decode(garbage["payload_base64"]) == b"\xffgarbage"
    assert garbage["source"] == {"topic": ALERTS, "partition": 0, "offset": 10, "key": "SHP-1"}
    assert null["reason"].startswith("no value") and null["source"]["offset"] == 11
    assert w.consumer.last() == 13
    assert w.value("goodsflow_delivery_dead_letters_total", reason="not_json") == 1
    assert w.value("goodsflow_delivery_dead_letters_total", reason="no_value") == 1
    assert w.value("goodsflow_delivery_records_read_total", topic=ALERTS) == 3
    assert w.value("goodsflow_delivery_deliveries_total", outcome="delivered") == 1
    assert w.value("goodsflow_delivery_latency_seconds_count", kind="alert") == 1


def test_case_steps_unreadable_are_dead_lettered_other_steps_pass():
    alert = _alert(2)
    steps = [
        b'{"step_id": "CASE-1"}',
        case_step(alert, "acknowledge").model_dump_json().encode(),
        case_step(alert, "transfer", to_locality="LS", from_locality="HN", note="Nhờ kiểm tra",
                  alert=alert).model_dump_json().encode(),
    ]  # fmt: skip

    async def scenario():
        w = World()
        for offset, value in enumerate(steps):
            await w.loop.handle(_message(value, offset, topic=CASES))
        await w.settle()
        return w

    w = asyncio.run(scenario())
    ((_, dead, _),) = w.producer.sent
    assert dead["reason"].startswith("not a valid case step") and dead["source"]["topic"] == CASES
    assert w.accepted == ["SHP-002"]  # the handover
    assert w.consumer.last(TopicPartition(CASES, 0)) == 3


def test_an_error_while_queuing_is_dead_lettered_too():
    async def scenario():
        w = World()

        async def broken(alert: Alert) -> list:
            raise RuntimeError("subscriptions unreadable")

        w.dispatcher.submit = broken  # type: ignore[method-assign]
        await w.loop.handle(_message(_alert(3).model_dump_json().encode(), 5))
        await w.settle()
        return w

    w = asyncio.run(scenario())
    ((_, dead, _),) = w.producer.sent
    assert dead["reason"] == "cannot deliver it: RuntimeError: subscriptions unreadable"
    assert w.consumer.last() == 6
    assert w.value("goodsflow_delivery_dead_letters_total", reason="unexpected_error") == 1


def test_a_dead_letter_kafka_does_not_take_holds_the_commit_back_until_it_does():
    async def scenario():
        w = World(producer=FakeProducer(failures=10**9))
        await w.loop.handle(_message(_alert(4).model_dump_json().encode(), 0))
        handling = asyncio.create_task(w.loop.handle(_message(b"garbage", 1)))
        await w.settle()
        assert not handling.done() and w.consumer.last() == 1  # not past the garbage
        assert w.value("goodsflow_delivery_dead_letter_send_errors_total") > 3
        w.producer.failures = 0  # Kafka is back
        await handling
        await w.settle()
        return w

    w = asyncio.run(scenario())
    assert w.consumer.last() == 2 and len(w.producer.sent) == 1


def test_deliveries_in_flight_are_not_committed_on_the_way_out():
    async def scenario():
        release = asyncio.Event()

        async def hang(delivery: Delivery) -> None:
            await release.wait()

        w = World(send=hang)
        for offset in range(3):
            await w.loop.handle(_message(_alert(offset).model_dump_json().encode(), offset))
        await w.settle()
        await w.dispatcher.close()  # what SIGTERM does
        await w.loop.commit_done()
        return w

    w = asyncio.run(scenario())
    assert w.consumer.commits == []


def test_a_failing_receiver_counts_retries_then_a_dead_letter_and_commits_after_it():
    async def scenario():
        async def refuse(delivery: Delivery) -> None:
            raise ConnectionError("503")

        w = World(send=refuse)
        await w.loop.handle(_message(_alert(5).model_dump_json().encode(), 0))
        await w.settle()
        return w

    w = asyncio.run(scenario())
    ((_, dead, key),) = w.producer.sent
    assert dead["stage"] == "deliver" and dead["attempts"] == 3 and key == b"SHP-005"
    assert dead["alert"]["shipment_id"] == "SHP-005"
    assert w.value("goodsflow_delivery_deliveries_total", outcome="retried") == 2
    assert w.value("goodsflow_delivery_deliveries_total", outcome="dead_lettered") == 1
    assert w.value("goodsflow_delivery_dead_letters_total", reason="delivery_failed") == 1
    assert w.consumer.last() == 1


def test_the_lag_is_the_end_offset_minus_what_was_committed():
    async def scenario():
        w = World()
        w.consumer.ends = {ALERTS_0: 7}
        await w.loop.handle(_message(_alert(6).model_dump_json().encode(), 4))
        await w.settle()
        await w.loop.refresh_lag()
        return w

    w = asyncio.run(scenario())
    lag = "goodsflow_delivery_consumer_lag_records"
    assert w.value(lag, topic=ALERTS, partition="0") == 2  # 7 - 5
    assert w.value(lag, topic=CASES, partition="0") == 0


def test_a_delivery_dead_letter_too_large_leaves_the_body_out():
    alert = _alert(7).model_copy(update={"explanation_vi": "x" * 2_000_000})
    delivery = Delivery(_sub("ls"), alert, alert.model_dump_json().encode())
    record = delivery_dead_letter(delivery, Outcome(False, 8, "Timeout"))
    assert len(record) <= 1_000_000
    doc = json.loads(record)
    assert doc["alert"] is None and doc["body_size"] == len(delivery.body)
    assert doc["alert_id"] == alert.alert_id and doc["kind"] == "alert"

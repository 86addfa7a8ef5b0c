"""The delivery process (`goodsflow alerts deliver`): alerts topic -> signed webhooks, and
alert-cases topic -> handovers to the receiving locality's webhooks.

Run: ``goodsflow alerts deliver`` (until SIGINT or SIGTERM); metrics on
``GOODSFLOW_DELIVERY__METRICS_PORT`` when set.

A consumer of its own (group ``goodsflow-delivery``, GOODSFLOW_DELIVERY__GROUP; a new group
starts at the end of the topics, not at their history) feeds the
:class:`~streams.delivery.dispatcher.WebhookDispatcher`.

A record's offset is committed only when everything made from it is done, in offset order
per partition: every delivery accepted by its receiver or dead-lettered to
``alerts-delivery-dlq`` with the last error; or, for a record that is no alert (or no case
step), its dead letter (``streams.deadletters``: the reason, the original bytes, where it
came from) acknowledged by Kafka. So a foreign or broken record never stops delivery, and
never disappears either. A dead letter that cannot be sent is retried with backoff; nothing
after it is committed meanwhile. After a crash or a stop the uncommitted records are
delivered again, which the delivery id makes harmless. Subscriptions are re-read when their
file changes.

A queue-only subscription gets an open alert only when its shipment is in the locality's
risk queue (:class:`QueueCheck`: the graph's open alerts of the locality and this one,
ranked; the day's capacity line) or an earlier revision of it went; the process then reads
Neo4j, and while Neo4j is away that subscription's lane retries and waits (the others go
on).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError

from goodsflow.bootstrap import neo4j_driver
from goodsflow.settings import Settings
from graph.queries import Neo4jQueries
from graph.risk_queue import shipment_queued
from schemas import Alert, AlertStatus, CaseAction, CaseStep, load_registry
from streams.config import load_detection_config
from streams.deadletters import DEFAULT_MAX_BYTES, dead_letter_record
from streams.delivery.dispatcher import (
    Delivery,
    Outcome,
    RetryPolicy,
    Send,
    WebhookDispatcher,
)
from streams.delivery.subscriptions import SubscriptionStore
from streams.metrics import metric_name, metrics_served, new_registry
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

LAG_INTERVAL_S = 5.0
KEY_MAX_BYTES = 1000  # a dead letter's own key: the original's, within reason


# -- what a record is (pure) -------------------------------------------------------------
@dataclass(frozen=True)
class Rejected:
    """Why a record cannot be delivered: a class (a metric label), the reason, problems."""

    reason_class: str
    reason: str
    problems: list[dict[str, str]] = field(default_factory=list)


def read_record(value: bytes | None, *, case_step: bool = False) -> Alert | CaseStep | Rejected:
    """An alerts record as an :class:`Alert` (an alert-cases record, with ``case_step``, as
    a :class:`CaseStep`), or why it is not one."""
    what = "case step" if case_step else "alert"
    if value is None:
        return Rejected("no_value", f"no value: not an {what} (a tombstone, or a foreign record)")
    try:
        return (CaseStep if case_step else Alert).model_validate_json(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    if errors[0]["type"] in ("json_invalid", "json_type") and not errors[0]["loc"]:
        return Rejected("not_json", f"not JSON: {errors[0]['msg']}")
    problems = [
        {"field": ".".join(str(p) for p in e["loc"]) or "(root)", "error": e["msg"]}
        for e in errors[:100]
    ]
    listed = "; ".join(f"{p['field']}: {p['error']}" for p in problems[:10])
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    label = "invalid_case_step" if case_step else "invalid_alert"
    return Rejected(label, f"not a valid {what}: {listed}{more}", problems)


def delivery_dead_letter(
    delivery: Delivery, outcome: Outcome, max_bytes: int = DEFAULT_MAX_BYTES
) -> bytes:
    """The dead letter of a delivery that failed every try: the subscription, the attempts,
    the last error and the body (left out, with its size and SHA-256, if too large)."""
    record: dict[str, Any] = {
        "delivery_id": delivery.delivery_id,
        "subscription_id": delivery.subscription.id,
        "webhook_url": delivery.subscription.webhook_url,
        "alert_id": delivery.alert.alert_id,
        "revision": delivery.alert.revision,
        "attempts": outcome.attempts,
        "last_error": outcome.last_error[:2000],
        "dead_lettered_at": datetime.now(UTC).isoformat(),
        "stage": "deliver",
        "kind": delivery.kind,
        delivery.kind: json.loads(delivery.body),
    }
    encoded = json.dumps(record, ensure_ascii=False).encode()
    if len(encoded) > max_bytes:
        record[delivery.kind] = None
        record["body_size"] = len(delivery.body)
        record["body_sha256"] = hashlib.sha256(delivery.body).hexdigest()
        encoded = json.dumps(record, ensure_ascii=False).encode()
    return encoded


# -- metrics -----------------------------------------------------------------------------
class DeliveryMetrics:
    """The delivery process's metrics, in a registry of its own (streams/metrics.py)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry()

        def name(what: str, unit: str = "") -> str:
            return metric_name("delivery", what, unit)

        r = self.registry
        self.records_read = Counter(name("records_read"), "Records read.", ["topic"], registry=r)
        self.deliveries = Counter(
            name("deliveries"),
            "Webhook deliveries ended delivered or dead_lettered; retried: failed tries "
            "retried; not_queued: alerts a queue-only subscription did not get (the shipment "
            "is not in the risk queue).",
            ["outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            name("dead_letters"), "Dead letters sent, per reason class.", ["reason"], registry=r
        )
        self.dead_letter_send_errors = Counter(
            name("dead_letter_send_errors"), "Dead-letter sends failed (retried).", registry=r
        )
        self.consumer_lag = Gauge(
            name("consumer_lag", "records"),
            "End offset minus committed offset, per assigned partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.latency = Histogram(
            name("latency", "seconds"),
            "From reading a record to the receiver accepting its delivery.",
            ["kind"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )


# -- dead letters and the consumer loop ---------------------------------------------------
@dataclass
class DeadLetters:
    """Sends dead letters to ``topic``, each retried with backoff until Kafka has it (the
    caller's record stays uncommitted meanwhile)."""

    producer: Any  # an AIOKafkaProducer (tests: a fake with send_and_wait)
    topic: str
    metrics: DeliveryMetrics
    backoff_s: tuple[float, float] = (0.5, 30.0)  # first delay, longest

    async def record(self, message: ConsumerRecord[Any, Any], why: Rejected) -> None:
        """A record that cannot be delivered, with the reason and its original bytes."""
        log.warning(
            "dead-lettering %s[%s]@%s: %s",
            message.topic, message.partition, message.offset, why.reason[:300],
        )  # fmt: skip
        value = dead_letter_record(
            reason=why.reason, problems=why.problems, payload=message.value, key=message.key,
            topic=message.topic, partition=message.partition, offset=message.offset,
            stage="read",
        )  # fmt: skip
        await self._send(value, None if message.key is None else message.key[:KEY_MAX_BYTES])
        self.metrics.dead_letters.labels(reason=why.reason_class).inc()

    async def delivery(self, delivery: Delivery, outcome: Outcome) -> None:
        """A delivery that failed every try (the dispatcher's ``dead_letter``)."""
        log.warning(
            "delivery %s to %s dead-lettered after %d tries: %s",
            delivery.delivery_id, delivery.subscription.webhook_url,
            outcome.attempts, outcome.last_error,
        )  # fmt: skip
        value = delivery_dead_letter(delivery, outcome)
        await self._send(value, delivery.alert.shipment_id.encode()[:KEY_MAX_BYTES])
        self.metrics.dead_letters.labels(reason="delivery_failed").inc()

    async def _send(self, value: bytes, key: bytes | None) -> None:
        delay, longest = self.backoff_s
        while True:
            try:
                await self.producer.send_and_wait(self.topic, value, key=key)
                return
            except Exception as exc:  # whatever it is, the dead letter is not in Kafka
                self.metrics.dead_letter_send_errors.inc()
                log.error("dead letter not sent, retrying in %.1f s: %r", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)


def counting_retries(send: Send, max_tries: int, metrics: DeliveryMetrics) -> Send:
    """``send`` counting each failed try that the dispatcher tries again."""
    failed: dict[str, int] = {}  # tries failed so far, per delivery in flight

    async def counted(delivery: Delivery) -> None:
        key = delivery.delivery_id
        try:
            await send(delivery)
        except Exception:
            failed[key] = failed.get(key, 0) + 1
            if failed[key] < max_tries:
                metrics.deliveries.labels(outcome="retried").inc()
            else:
                del failed[key]
            raise
        failed.pop(key, None)

    return counted


Pending = dict[TopicPartition, deque[tuple[int, list[asyncio.Future[Outcome]]]]]


@dataclass
class DeliveryLoop:
    """Records in; deliveries or dead letters out; offsets committed when done."""

    consumer: Any  # an AIOKafkaConsumer (tests: a fake with the methods used here)
    dispatcher: WebhookDispatcher
    dead_letters: DeadLetters
    alert_cases_topic: str
    metrics: DeliveryMetrics
    # per partition, in offset order: each record's offset and its deliveries
    pending: Pending = field(default_factory=dict)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    _to_commit: dict[TopicPartition, int] = field(default_factory=dict)

    async def handle(self, message: ConsumerRecord[Any, Any]) -> None:
        """Queue a record's deliveries, or dead-letter it (returning once Kafka has the
        dead letter); either way the record is pending until all of it is done."""
        self.metrics.records_read.labels(topic=message.topic).inc()
        futures = await self._submit(message)
        tp = TopicPartition(message.topic, message.partition)
        self.pending.setdefault(tp, deque()).append((message.offset, futures))

    async def _submit(self, message: ConsumerRecord[Any, Any]) -> list[asyncio.Future[Outcome]]:
        case_step = message.topic == self.alert_cases_topic
        started = time.monotonic()
        try:
            item = read_record(message.value, case_step=case_step)
            if isinstance(item, Rejected):
                await self.dead_letters.record(message, item)
                return []
            if isinstance(item, Alert):
                futures = await self.dispatcher.submit(item)
            elif item.action == CaseAction.TRANSFER:  # a transfer without an alert: nothing
                futures = await self.dispatcher.submit_handover(item)
            else:
                return []  # acknowledgements and closes hand nothing over
        except Exception as exc:  # no record may stop delivery (a cancellation does)
            log.exception("record %s[%s]@%s", message.topic, message.partition, message.offset)
            # Deliveries it queued before failing go on; the record is done once its dead
            # letter is sent.
            why = Rejected("unexpected_error", f"cannot deliver it: {type(exc).__name__}: {exc}")
            await self.dead_letters.record(message, why)
            return []
        kind = "handover" if case_step else "alert"
        for future in futures:
            future.add_done_callback(lambda f: self._ended(f, kind, started))
        return futures

    def _ended(self, future: asyncio.Future[Outcome], kind: str, started: float) -> None:
        if future.cancelled():
            return
        outcome = future.result()
        if outcome.delivered:
            self.metrics.deliveries.labels(outcome="delivered").inc()
            self.metrics.latency.labels(kind=kind).observe(time.monotonic() - started)
        elif outcome.not_queued:
            self.metrics.deliveries.labels(outcome="not_queued").inc()
        else:
            self.metrics.deliveries.labels(outcome="dead_lettered").inc()

    async def commit_done(self) -> None:
        """Commit, per partition, past the records whose work is all done, in offset order.
        A failed commit (Kafka away, a rebalance) is tried again next time."""
        for tp, queue in self.pending.items():
            while queue and all(f.done() for f in queue[0][1]):
                self._to_commit[tp] = queue.popleft()[0] + 1
        assigned = self.consumer.assignment()
        offsets = {tp: o for tp, o in self._to_commit.items() if tp in assigned}
        self._to_commit = offsets
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            log.warning("offsets not committed, trying again: %r", exc)
            return
        self.committed.update(offsets)
        self._to_commit = {}

    async def refresh_lag(self) -> None:
        """Set the lag gauge of every assigned partition: end offset minus committed."""
        assigned = sorted(self.consumer.assignment())
        ends = await self.consumer.end_offsets(assigned) if assigned else {}
        for tp in assigned:
            if tp not in self.committed:  # nothing committed by this process yet
                done = await self.consumer.committed(tp)
                self.committed[tp] = done if done is not None else await self.consumer.position(tp)
            lag = max(0, ends[tp] - self.committed[tp])
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    async def watch_lag(self, interval_s: float = LAG_INTERVAL_S) -> None:
        while True:
            try:
                await self.refresh_lag()
            except Exception as exc:  # a gauge is not worth stopping delivery for
                log.warning("consumer lag not refreshed: %r", exc)
            await asyncio.sleep(interval_s)


# -- the process ---------------------------------------------------------------------------
async def run_delivery(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Deliver until cancelled (SIGINT/SIGTERM in the command). Offsets are committed only
    in the loop, never on the way out: what is in flight when cancelled is delivered again
    by the next run."""
    cfg, topics = settings.delivery, settings.topics
    ensure_topics(settings.bootstrap_servers, topics)
    store = SubscriptionStore(cfg.subscriptions, load_registry())
    policy = RetryPolicy(cfg.max_tries, cfg.backoff_base_s, cfg.backoff_cap_s)
    metrics = DeliveryMetrics()
    consumer = AIOKafkaConsumer(
        topics.alerts,
        topics.alert_cases,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=topics.group(cfg.group),
        enable_auto_commit=False,
        auto_offset_reset="latest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True
    )
    timeout = aiohttp.ClientTimeout(total=cfg.attempt_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as http, _metrics(settings, metrics):

        async def send(delivery: Delivery) -> None:
            url = delivery.subscription.webhook_url
            async with http.post(url, data=delivery.body, headers=delivery.headers()) as resp:
                await resp.read()
                if resp.status >= 300:
                    raise RuntimeError(f"HTTP {resp.status} from {url}")

        dead_letters = DeadLetters(producer, topics.alerts_delivery_dlq, metrics)
        counted = counting_retries(send, policy.max_tries, metrics)
        queue_check = QueueCheck(settings, store)
        dispatcher = WebhookDispatcher(
            store.all(), counted, dead_letters.delivery, policy, admit=queue_check
        )
        loop = DeliveryLoop(consumer, dispatcher, dead_letters, topics.alert_cases, metrics)
        mtime = _mtime(store)
        await producer.start()
        await consumer.start()
        lag: asyncio.Task[None] | None = None
        try:
            batches = await _positioned(consumer)
            lag = asyncio.create_task(loop.watch_lag(), name="consumer-lag")
            log.info("delivering alerts to %d subscriptions", len(dispatcher.subscriptions))
            if ready is not None:
                ready.set()
            while True:
                batches = batches or await consumer.getmany(timeout_ms=500)
                if _mtime(store) != mtime:
                    mtime = _mtime(store)
                    dispatcher.subscriptions = store.all()
                for messages in batches.values():
                    for message in messages:
                        await loop.handle(message)
                batches = {}
                await loop.commit_done()
        finally:
            if lag is not None:
                lag.cancel()
            await dispatcher.close()
            queue_check.close()
            await consumer.stop()  # no commit here: auto-commit is off
            await producer.stop()


class QueueCheck:
    """The risk-queue check of queue-only subscriptions (the dispatcher's ``admit``): an
    open alert goes when its shipment is in the locality's queue, read from the graph with
    the alert counted (graph/risk_queue.py), or when an earlier revision of it went (the
    subscription file remembers); a withdrawal always goes, as to every subscription of its
    locality and rule. Neo4j is connected on the first check, so a process without
    queue-only subscriptions never needs it."""

    def __init__(self, settings: Settings, store: SubscriptionStore) -> None:
        self.settings, self.store = settings, store
        self.cfg = load_detection_config(settings.detection.config).queue
        self._lock = threading.Lock()
        self._driver: Any = None
        self._queries: Neo4jQueries | None = None

    def _graph(self) -> Neo4jQueries:
        with self._lock:
            if self._queries is None:
                neo = self.settings.neo4j
                self._driver = neo4j_driver(self.settings)
                self._queries = Neo4jQueries(self._driver, neo.database, neo.query_timeout_s)
            return self._queries

    def admitted(self, delivery: Delivery) -> bool:
        """Whether the delivery goes (blocking: Neo4j and the subscription file)."""
        alert, subscription = delivery.alert, delivery.subscription
        if alert.status != AlertStatus.OPEN:
            return True
        if self.store.was_sent(subscription.id, alert.alert_id):
            return True
        if not shipment_queued(self._graph(), subscription.locality, alert, self.cfg):
            return False
        self.store.mark_sent(subscription.id, alert.alert_id)
        return True

    async def __call__(self, delivery: Delivery) -> bool:
        return await asyncio.to_thread(self.admitted, delivery)

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()


@contextlib.asynccontextmanager
async def _metrics(settings: Settings, metrics: DeliveryMetrics) -> AsyncIterator[None]:
    """Serve the metrics while delivering, when a port is set."""
    port, host = settings.delivery.metrics_port, settings.delivery.metrics_host
    if not port:
        yield
        return
    async with metrics_served(metrics.registry, host, port) as server:
        log.info("metrics on %s", server.url)
        yield


async def _positioned(consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Any]]:
    """Wait for the group assignment and every partition's starting position, so what is
    produced after this returns is delivered; return what was fetched meanwhile (after a
    restart, the alerts not committed before)."""
    fetched: dict[TopicPartition, list[Any]] = {}
    while not consumer.assignment():
        for tp, messages in (await consumer.getmany(timeout_ms=200)).items():
            fetched.setdefault(tp, []).extend(messages)
    for tp in consumer.assignment():
        await consumer.position(tp)
    return fetched


def _mtime(store: SubscriptionStore) -> float:
    try:
        return store.path.stat().st_mtime
    except OSError:
        return 0.0


def main(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM."""

    async def runner() -> None:
        task = asyncio.create_task(run_delivery(settings))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(runner())

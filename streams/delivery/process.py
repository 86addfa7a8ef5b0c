"""The delivery process (`goodsflow alerts deliver`): alerts topic -> signed webhooks, and
alert-cases topic -> handovers to the receiving locality's webhooks.

A consumer of its own (group ``goodsflow-delivery``, GOODSFLOW_DELIVERY__GROUP; a new group
starts at the end of the topics, not at their history) feeds the
:class:`~streams.delivery.dispatcher.WebhookDispatcher`.
A record's offset is committed only when every delivery made from it is done (accepted by
the receiver, or dead-lettered to ``alerts-delivery-dlq`` with the last error), in offset
order per partition; after a crash the uncommitted alerts are delivered again, which the
delivery id makes harmless. Subscriptions are re-read when their file changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections import deque
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from goodsflow.settings import Settings
from schemas import Alert, CaseAction, CaseStep, load_registry
from streams.delivery.dispatcher import Delivery, Outcome, RetryPolicy, WebhookDispatcher
from streams.delivery.subscriptions import SubscriptionStore
from streams.topics import ALERT_CASES, ALERTS, ALERTS_DELIVERY_DLQ, ensure_topics

log = logging.getLogger(__name__)


def dead_letter_record(delivery: Delivery, outcome: Outcome) -> bytes:
    return json.dumps(
        {
            "delivery_id": delivery.delivery_id,
            "subscription_id": delivery.subscription.id,
            "webhook_url": delivery.subscription.webhook_url,
            "alert_id": delivery.alert.alert_id,
            "revision": delivery.alert.revision,
            "attempts": outcome.attempts,
            "last_error": outcome.last_error,
            "dead_lettered_at": datetime.now(UTC).isoformat(),
            "kind": delivery.kind,
            delivery.kind: json.loads(delivery.body),
        },
        ensure_ascii=False,
    ).encode()


async def run_delivery(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Deliver until cancelled (SIGINT/SIGTERM in the command)."""
    cfg = settings.delivery
    ensure_topics(settings.bootstrap_servers)
    store = SubscriptionStore(cfg.subscriptions, load_registry())
    policy = RetryPolicy(cfg.max_tries, cfg.backoff_base_s, cfg.backoff_cap_s)
    timeout = aiohttp.ClientTimeout(total=cfg.attempt_timeout_s)
    consumer = AIOKafkaConsumer(
        ALERTS,
        ALERT_CASES,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=cfg.group,
        enable_auto_commit=False,
        auto_offset_reset="latest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True
    )
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def send(delivery: Delivery) -> None:
            url = delivery.subscription.webhook_url
            async with http.post(url, data=delivery.body, headers=delivery.headers()) as resp:
                await resp.read()
                if resp.status >= 300:
                    raise RuntimeError(f"HTTP {resp.status} from {url}")

        async def dead_letter(delivery: Delivery, outcome: Outcome) -> None:
            log.warning(
                "delivery %s to %s dead-lettered after %d tries: %s",
                delivery.delivery_id, delivery.subscription.webhook_url,
                outcome.attempts, outcome.last_error,
            )  # fmt: skip
            key = delivery.alert.shipment_id.encode()
            await producer.send_and_wait(
                ALERTS_DELIVERY_DLQ, dead_letter_record(delivery, outcome), key=key
            )

        dispatcher = WebhookDispatcher(store.all(), send, dead_letter, policy)
        mtime = _mtime(store)
        pending: dict[TopicPartition, deque[tuple[int, list[asyncio.Future[Outcome]]]]] = {}
        await producer.start()
        await consumer.start()
        try:
            batches = await _positioned(consumer)
            log.info("delivering alerts to %d subscriptions", len(dispatcher.subscriptions))
            if ready is not None:
                ready.set()
            while True:
                batches = batches or await consumer.getmany(timeout_ms=500)
                if _mtime(store) != mtime:
                    mtime = _mtime(store)
                    dispatcher.subscriptions = store.all()
                for tp, messages in batches.items():
                    for message in messages:
                        futures = await _submit(dispatcher, tp.topic, message.value)
                        pending.setdefault(tp, deque()).append((message.offset, futures))
                batches = {}
                await _commit_done(consumer, pending)
        finally:
            await dispatcher.close()
            await consumer.stop()
            await producer.stop()


async def _submit(
    dispatcher: WebhookDispatcher, topic: str, value: bytes
) -> list[asyncio.Future[Outcome]]:
    if topic == ALERTS:
        return await dispatcher.submit(Alert.model_validate_json(value))
    try:
        step = CaseStep.model_validate_json(value)
    except ValueError as exc:  # the worker dead-letters it; nothing to hand over here
        log.warning("unreadable case step skipped: %s", str(exc).splitlines()[0])
        return []
    if step.action != CaseAction.TRANSFER:
        return []
    return await dispatcher.submit_handover(step)


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


async def _commit_done(
    consumer: AIOKafkaConsumer,
    pending: dict[TopicPartition, deque[tuple[int, list[asyncio.Future[Outcome]]]]],
) -> None:
    offsets: dict[TopicPartition, int] = {}
    for tp, queue in pending.items():
        while queue and all(f.done() for f in queue[0][1]):
            offsets[tp] = queue.popleft()[0] + 1
    if offsets:
        await consumer.commit(offsets)


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

"""Webhook delivery: one queue and one sender per subscription, retries with exponential
backoff and full jitter, a dead letter after a bounded number of tries.

Two kinds of delivery (header ``X-Goodsflow-Kind``): ``alert``, the alert as detection
sent it (the body is the alert's JSON); and ``handover``, a task force transferring an
alert to another locality (the body is ``{"kind": "handover", "step": ..., "alert": ...}``),
sent to the receiving locality's subscriptions.

A slow or failing receiver only fills its own queue: every other subscription's sender goes
on. One sender per subscription takes its deliveries in the order they were submitted, so a
receiver sees one shipment's alerts in the order of the alerts topic. Each delivery carries
a deterministic id (alert id, revision, subscription) so receivers can drop repeats:
delivery is at least once.

The transport is passed in (``send``): the delivery process gives an aiohttp POST, tests a
fake receiver. So is the risk-queue check of queue-only subscriptions (``admit``): an alert
goes to such a subscription only when its shipment is in the locality's queue; a failing
check (Neo4j away) is retried like a failing send, on that subscription's lane alone.

Example:
    >>> dispatcher = WebhookDispatcher(subscriptions, send, dead_letter)  # doctest: +SKIP
    >>> done = dispatcher.submit(alert)  # futures, one per matching subscription
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from schemas import Alert, CaseStep
from streams.delivery.signing import HEADER, sign
from streams.delivery.subscriptions import Subscription, matches, matches_handover


@dataclass(frozen=True)
class Delivery:
    """One alert (or one handover of an alert) for one subscription."""

    subscription: Subscription
    alert: Alert
    body: bytes
    handover: str | None = None  # the transfer's step id

    @property
    def kind(self) -> str:
        return "alert" if self.handover is None else "handover"

    @property
    def delivery_id(self) -> str:
        made_by = self.handover or f"{self.alert.alert_id}|{self.alert.revision}"
        raw = f"{made_by}|{self.subscription.id}"
        return "DLV-" + hashlib.sha256(raw.encode()).hexdigest()[:20]

    def headers(self, now: float | None = None) -> dict[str, str]:
        """Headers of one attempt (signed now: the timestamp is the attempt's)."""
        return {
            "Content-Type": "application/json",
            HEADER: sign(self.subscription.secret, self.body, now),
            "X-Goodsflow-Delivery-Id": self.delivery_id,
            "X-Goodsflow-Kind": self.kind,
            "X-Goodsflow-Alert-Id": self.alert.alert_id,
            "X-Goodsflow-Alert-Revision": str(self.alert.revision),
        }


@dataclass
class Outcome:
    """How a delivery ended."""

    delivered: bool
    attempts: int
    last_error: str = ""
    not_queued: bool = False  # not sent: the shipment is not in the subscription's queue


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 8
    base_s: float = 0.5
    cap_s: float = 60.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform between 0 and min(cap, base * 2**(attempt - 1))."""
        return rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


def handover_body(step: CaseStep) -> bytes:
    """A handover as its receiver reads it: the step (who, when, from where, the note) and
    the alert it hands over."""
    assert step.alert is not None  # submit_handover sends only transfers that carry one
    body = {
        "kind": "handover",
        "step": step.model_dump(mode="json", exclude={"alert"}),
        "alert": step.alert.model_dump(mode="json"),
    }
    return json.dumps(body, ensure_ascii=False).encode()


Send = Callable[[Delivery], Awaitable[None]]  # raises on any failure
Admit = Callable[[Delivery], Awaitable[bool]]  # whether the shipment is in the queue; may raise
DeadLetter = Callable[[Delivery, Outcome], Awaitable[None]]


@dataclass
class _Lane:
    queue: asyncio.Queue[tuple[Delivery, asyncio.Future[Outcome]]]
    task: asyncio.Task[None] | None = None


@dataclass
class WebhookDispatcher:
    """Deliveries to the subscriptions, each subscription on its own lane."""

    subscriptions: Sequence[Subscription]
    send: Send
    dead_letter: DeadLetter
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    queue_size: int = 10_000  # per subscription; a full lane makes submit() wait
    seed: int | None = None
    admit: Admit | None = None  # the queue check of queue-only subscriptions
    _lanes: dict[str, _Lane] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    async def submit(self, alert: Alert) -> list[asyncio.Future[Outcome]]:
        """Queue ``alert`` for every matching subscription; one future per delivery."""
        body = alert.model_dump_json().encode()
        return await self._enqueue(
            Delivery(sub, alert, body) for sub in self.subscriptions if matches(sub, alert)
        )

    async def submit_handover(self, step: CaseStep) -> list[asyncio.Future[Outcome]]:
        """Queue a transfer, with the alert it carries, for the receiving locality's
        subscriptions; one future per delivery."""
        if step.alert is None:
            return []
        body = handover_body(step)
        return await self._enqueue(
            Delivery(sub, step.alert, body, handover=step.step_id)
            for sub in self.subscriptions
            if matches_handover(sub, step)
        )

    async def _enqueue(self, deliveries: Iterable[Delivery]) -> list[asyncio.Future[Outcome]]:
        futures = []
        for delivery in deliveries:
            future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            await self._lane(delivery.subscription).queue.put((delivery, future))
            futures.append(future)
        return futures

    def _lane(self, subscription: Subscription) -> _Lane:
        lane = self._lanes.get(subscription.id)
        if lane is None:
            lane = _Lane(asyncio.Queue(self.queue_size))
            lane.task = asyncio.create_task(self._run(lane), name=f"deliver-{subscription.id}")
            self._lanes[subscription.id] = lane
        return lane

    async def _run(self, lane: _Lane) -> None:
        while True:
            delivery, future = await lane.queue.get()
            outcome = await self._deliver(delivery)
            if not outcome.delivered and not outcome.not_queued:
                await self.dead_letter(delivery, outcome)
            if not future.done():
                future.set_result(outcome)
            lane.queue.task_done()

    def _gated(self, delivery: Delivery) -> bool:
        """Whether the delivery waits for the queue check: an alert (a person chose to
        hand a handover over) to a queue-only subscription."""
        return delivery.subscription.queue_only and delivery.handover is None

    async def _deliver(self, delivery: Delivery) -> Outcome:
        last_error = ""
        checked = not self._gated(delivery)
        for attempt in range(1, self.policy.max_tries + 1):
            try:
                if not checked:
                    if self.admit is None:
                        raise RuntimeError("queue-only subscription, but no queue to check")
                    if not await self.admit(delivery):
                        return Outcome(False, attempt, not_queued=True)
                    checked = True
                await self.send(delivery)
                return Outcome(True, attempt)
            except Exception as exc:  # any failure of the receiver is retried
                last_error = f"{type(exc).__name__}: {exc}"
            if attempt < self.policy.max_tries:
                await asyncio.sleep(self.policy.delay(attempt, self._rng))
        return Outcome(False, self.policy.max_tries, last_error)

    async def close(self) -> None:
        """Stop the senders (what is still queued is not delivered: its offsets were not
        committed, so a restart delivers it)."""
        for lane in self._lanes.values():
            if lane.task is not None:
                lane.task.cancel()
        await asyncio.gather(
            *(lane.task for lane in self._lanes.values() if lane.task), return_exceptions=True
        )

"""The webhook dispatcher with fake receivers: retries, order, dead letters, and a hung
receiver that does not hold the others back (shown by events, not by timing)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from schemas import VIETNAM_TZ, Alert, CaseAction, CaseStep, Evidence, Rule, alert_id_for
from streams.delivery import Subscription, verify
from streams.delivery.dispatcher import Delivery, Outcome, RetryPolicy, WebhookDispatcher
from streams.delivery.signing import HEADER

WHEN = datetime(2026, 11, 25, 8, tzinfo=VIETNAM_TZ)
FAST = RetryPolicy(max_tries=4, base_s=0.001, cap_s=0.002)


def _sub(name: str, locality: str = "LS") -> Subscription:
    return Subscription(
        id=f"SUB-{name}", name=name, locality=locality, min_severity=0,
        webhook_url=f"http://{name}.invalid/", secret=name * 8, created_at=WHEN,
    )  # fmt: skip


def _alert(n: int, localities=("LS",)) -> Alert:
    sid = f"SHP-{n:03d}"
    return Alert(
        alert_id=alert_id_for(sid, Rule.ROUTE_DEVIATION), revision=1, rule=Rule.ROUTE_DEVIATION,
        severity=60, severity_factors={"x": 60}, shipment_id=sid, localities=list(localities),
        evidence=[Evidence(event_id=f"E{n}", checkpoint_id="LS-HUUNGHI", occurred_at=WHEN)],
        explanation_vi="vi", explanation_en="en", raised_at=WHEN,
    )  # fmt: skip


class FakeReceiver:
    """Fails the first ``failures`` tries of every delivery; records what it accepted."""

    def __init__(self, failures: int = 0, hang: bool = False) -> None:
        self.failures, self.hang = failures, hang
        self.tries: dict[str, int] = {}
        self.accepted: list[str] = []
        self.release = asyncio.Event()

    async def send(self, delivery: Delivery) -> None:
        if self.hang:
            await self.release.wait()
        headers = delivery.headers()
        verify(delivery.subscription.secret, headers[HEADER], delivery.body)  # as received
        n = self.tries[delivery.delivery_id] = self.tries.get(delivery.delivery_id, 0) + 1
        if n <= self.failures:
            raise ConnectionError(f"503 on try {n}")
        self.accepted.append(delivery.alert.shipment_id)


def _run(coro):
    return asyncio.run(coro)


def test_retries_until_accepted_in_submission_order_without_loss():
    async def scenario():
        receiver = FakeReceiver(failures=2)
        dead: list = []

        async def dead_letter(d: Delivery, o: Outcome) -> None:
            dead.append((d, o))

        dispatcher = WebhookDispatcher([_sub("ls")], receiver.send, dead_letter, FAST, seed=1)
        futures = [f for n in range(20) for f in await dispatcher.submit(_alert(n))]
        outcomes = await asyncio.gather(*futures)
        await dispatcher.close()
        return receiver, dead, outcomes

    receiver, dead, outcomes = _run(scenario())
    assert receiver.accepted == [f"SHP-{n:03d}" for n in range(20)]
    assert all(o.delivered and o.attempts == 3 for o in outcomes) and dead == []


def test_a_receiver_that_keeps_failing_gets_dead_letters_with_the_last_error():
    async def scenario():
        receiver = FakeReceiver(failures=99)
        dead: list = []

        async def dead_letter(d: Delivery, o: Outcome) -> None:
            dead.append((d.alert.shipment_id, o))

        dispatcher = WebhookDispatcher([_sub("ls")], receiver.send, dead_letter, FAST, seed=1)
        futures = [f for n in range(3) for f in await dispatcher.submit(_alert(n))]
        await asyncio.gather(*futures)
        await dispatcher.close()
        return dead

    dead = _run(scenario())
    assert [sid for sid, _ in dead] == ["SHP-000", "SHP-001", "SHP-002"]
    assert all(not o.delivered and o.attempts == 4 for _, o in dead)
    assert dead[0][1].last_error == "ConnectionError: 503 on try 4"


def test_a_hung_receiver_does_not_hold_back_another():
    async def scenario():
        hung, healthy = FakeReceiver(hang=True), FakeReceiver()

        async def send(d: Delivery) -> None:
            await (hung if d.subscription.id == "SUB-hung" else healthy).send(d)

        async def dead_letter(d: Delivery, o: Outcome) -> None:
            raise AssertionError("nothing should be dead-lettered")

        subs = [_sub("hung"), _sub("healthy")]
        dispatcher = WebhookDispatcher(subs, send, dead_letter, FAST, seed=1)
        by_sub: dict[str, list] = {"SUB-hung": [], "SUB-healthy": []}
        for n in range(10):
            futures = await dispatcher.submit(_alert(n))
            by_sub["SUB-hung"].append(futures[0])
            by_sub["SUB-healthy"].append(futures[1])
        await asyncio.gather(*by_sub["SUB-healthy"])  # completes while the other hangs
        hung_done = [f.done() for f in by_sub["SUB-hung"]]
        hung.release.set()
        await asyncio.gather(*by_sub["SUB-hung"])
        await dispatcher.close()
        return healthy, hung, hung_done

    healthy, hung, hung_done = _run(scenario())
    assert len(healthy.accepted) == 10 and not any(hung_done)
    assert hung.accepted == healthy.accepted  # and the hung one gets everything, in order


def test_only_matching_subscriptions_get_a_delivery_and_ids_are_stable():
    async def scenario():
        receiver = FakeReceiver()

        async def dead_letter(d: Delivery, o: Outcome) -> None: ...

        dispatcher = WebhookDispatcher(
            [_sub("ls"), _sub("qn", locality="QN")], receiver.send, dead_letter, FAST
        )
        futures = await dispatcher.submit(_alert(1, localities=("LS", "HN")))
        await asyncio.gather(*futures)
        await dispatcher.close()
        return futures

    futures = _run(scenario())
    assert len(futures) == 1
    alert, sub = _alert(1), _sub("ls")
    body = alert.model_dump_json().encode()
    assert Delivery(sub, alert, body).delivery_id == Delivery(sub, alert, body).delivery_id
    assert Delivery(sub, alert, body).delivery_id != Delivery(_sub("x"), alert, body).delivery_id


def test_backoff_grows_and_is_capped():
    import random

    policy, rng = RetryPolicy(max_tries=10, base_s=0.5, cap_s=4.0), random.Random(3)
    for attempt in range(1, 10):
        bound = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert all(0 <= policy.delay(attempt, rng) <= bound for _ in range(50))


def test_a_queue_only_subscription_gets_only_what_the_queue_admits_and_waits_out_its_outage():
    """The check fails twice (Neo4j away), then admits even shipments only; handovers and
    the other subscriptions never wait for it."""

    async def scenario():
        plain, queued = FakeReceiver(), FakeReceiver()
        checks: list[str] = []
        dead: list = []

        async def admit(d: Delivery) -> bool:
            checks.append(d.alert.shipment_id)
            if len(checks) <= 2:
                raise ConnectionError("Neo4j is away")
            return int(d.alert.shipment_id[-3:]) % 2 == 0

        async def send(d: Delivery) -> None:
            receiver = queued if d.subscription.queue_only else plain
            await receiver.send(d)

        async def dead_letter(d: Delivery, o: Outcome) -> None:
            dead.append((d, o))

        subs = [_sub("all"), _sub("queue").model_copy(update={"queue_only": True})]
        dispatcher = WebhookDispatcher(subs, send, dead_letter, FAST, seed=1, admit=admit)
        futures = [f for n in range(6) for f in await dispatcher.submit(_alert(n))]
        step = CaseStep(
            step_id="CASE-1", alert_id=_alert(1).alert_id, shipment_id="SHP-001",
            rule=Rule.ROUTE_DEVIATION, action=CaseAction.TRANSFER, actor="An", via="cli:test",
            at=WHEN, to_locality="LS", note="giao", alert=_alert(1, localities=("HN",)),
        )  # fmt: skip
        futures += await dispatcher.submit_handover(step)
        outcomes = await asyncio.gather(*futures)
        await dispatcher.close()
        return plain, queued, checks, dead, outcomes

    plain, queued, checks, dead, outcomes = _run(scenario())
    assert plain.accepted == [f"SHP-{n:03d}" for n in (0, 1, 2, 3, 4, 5, 1)]
    assert queued.accepted == ["SHP-000", "SHP-002", "SHP-004", "SHP-001"]  # the handover too
    assert checks == ["SHP-000"] * 3 + [f"SHP-{n:03d}" for n in range(1, 6)]
    skipped = [o for o in outcomes if o.not_queued]
    assert len(skipped) == 3 and not any(o.delivered for o in skipped) and dead == []


def test_a_queue_only_subscription_without_a_queue_check_dead_letters_rather_than_sends():
    async def scenario():
        receiver = FakeReceiver()
        dead: list = []

        async def dead_letter(d: Delivery, o: Outcome) -> None:
            dead.append(o)

        sub = _sub("queue").model_copy(update={"queue_only": True})
        dispatcher = WebhookDispatcher([sub], receiver.send, dead_letter, FAST, seed=1)
        (future,) = await dispatcher.submit(_alert(0))
        outcome = await future
        await dispatcher.close()
        return receiver, dead, outcome

    receiver, dead, outcome = _run(scenario())
    assert receiver.accepted == [] and not outcome.delivered and dead == [outcome]
    assert "no queue to check" in outcome.last_error

"""A locality's risk queue read from the graph (graph/risk_queue.py), over the embedded
store: the same ranking as streams/queue.py over the alerts themselves, the random floor
from the shipments that passed the locality, cases closed or handed away leave it, and the
check the delivery process makes for queue-only subscriptions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from goodsflow.evaluation import InProcessDetection
from graph.embedded import EmbeddedGraph
from graph.embedded_queries import EmbeddedQueries
from graph.risk_queue import day_queue, day_window, shipment_queued
from producers.simulation import SimulationConfig, Simulator
from schemas import VIETNAM_TZ, AlertStatus, CaseOutcome, load_registry, parse_event
from streams import load_detection_config
from streams.queue import daily_queues
from tests.factories import case_step

REG = load_registry()
# a small capacity and a large floor, so that both the cut and the floor show on 160 shipments
CFG = load_detection_config().queue.model_copy(update={"capacity_per_day": 4, "random_share": 0.1})


@pytest.fixture(scope="module")
def world():
    config = SimulationConfig(
        shipments=160, seed=11, days=2, crackdown_days=2, seizure_share=0.3, scenario_share=0.4
    )
    simulated = list(Simulator(config).events())
    alerts = [a for a, _ in InProcessDetection().run(simulated)]
    events = [parse_event(e.line) for e in simulated]
    graph = EmbeddedGraph(REG)
    graph.write(events, alerts)
    return events, alerts, graph


def _traffic(queries, locality, day):
    """The shipments the graph saw pass the locality's checkpoints that day."""
    rows = queries.passed(*day_window(day), locality=locality, limit=1000)
    assert len(rows) < 1000  # all of them
    return {p.shipment_id for p in rows}


def _days(alerts):
    return sorted({a.raised_at.astimezone(VIETNAM_TZ).date() for a in alerts})


def test_the_graph_queue_is_the_ranking_of_the_alerts_with_the_days_random_floor(world):
    _, alerts, graph = world
    queries = EmbeddedQueries(graph)
    cut = sampled = 0
    for locality in sorted(REG.localities):
        for day in _days(alerts):
            traffic = {day: _traffic(queries, locality, day)}
            expected = daily_queues(alerts, locality, CFG, traffic)
            got = day_queue(queries, locality, day, CFG)
            assert got.queued == expected.get(day, []), (locality, day)
            entries = got.entries()
            assert [e.rank for e in entries] == list(range(1, len(entries) + 1))
            for e in entries:
                assert e.sampled == (not e.alerts)
                assert {a.shipment_id for a in e.alerts} <= {e.shipment_id}
                assert all(a.status == "open" for a in e.alerts)
            flagged = [e for e in entries if not e.sampled]
            assert [e.risk for e in flagged] == sorted((e.risk for e in flagged), reverse=True)
            cut += len(flagged) == CFG.capacity_per_day
            sampled += len(entries) - len(flagged)
    assert cut and sampled  # the capacity line and the random floor were both exercised


def test_a_closed_case_leaves_the_queue_and_a_handed_over_alert_moves_to_the_receiver(world):
    events, alerts, _ = world
    graph = EmbeddedGraph(REG)  # a graph of its own: the steps below change it
    graph.write(events, alerts)
    queries = EmbeddedQueries(graph)
    latest = {a.alert_id: a for a in alerts}
    top = next(
        q
        for locality in ("LS", "LC", "QN", "CB", "HN", "HP")
        for day in _days(alerts)
        for q in day_queue(queries, locality, day, CFG).queued
        if not q.sampled and len(q.alert_ids) == 1
    )
    alert = latest[top.alert_ids[0]]
    day = alert.raised_at.astimezone(VIETNAM_TZ).date()
    home = next(loc for loc in alert.localities if top in day_queue(queries, loc, day, CFG).queued)
    receiver = next(code for code in sorted(REG.localities) if code not in alert.localities)
    at = datetime.now(VIETNAM_TZ)
    graph.write((), (), [case_step(alert, "transfer", at=at, to_locality=receiver)])

    def queued(locality):
        return {q.shipment_id for q in day_queue(queries, locality, day, CFG).queued}

    assert alert.shipment_id not in queued(home)
    assert alert.shipment_id in queued(receiver)
    graph.write(
        (),
        (),
        [case_step(alert, "close", at=at + timedelta(minutes=1), outcome=CaseOutcome.CONFIRMED)],
    )
    assert alert.shipment_id not in queued(receiver)


def test_the_graph_check_counts_the_alert_in_hand(world):
    events, alerts, graph = world
    queries = EmbeddedQueries(graph)
    latest = list({a.alert_id: a for a in alerts}.values())
    checked = {True: 0, False: 0}
    for alert in latest:
        if alert.status != AlertStatus.OPEN:
            continue
        for locality in alert.localities:
            day = alert.raised_at.astimezone(VIETNAM_TZ).date()
            queue = daily_queues(alerts, locality, CFG).get(day, [])
            expected = any(q.shipment_id == alert.shipment_id for q in queue)
            got = shipment_queued(queries, locality, alert, CFG)
            assert got == expected, (alert.alert_id, locality)
            checked[got] += 1
    assert checked[True] and checked[False]
    # an alert the graph does not hold yet counts: a severe new finding on a quiet shipment
    quiet = next(e for e in events if e.shipment_id not in {a.shipment_id for a in alerts})
    fresh = latest[0].model_copy(
        update={
            "alert_id": "ALR-not-in-the-graph",
            "shipment_id": quiet.shipment_id,
            "severity": 100,
            "status": AlertStatus.OPEN,
        }
    )
    assert shipment_queued(queries, fresh.localities[0], fresh, CFG)


def test_a_queue_only_subscription_gets_queued_alerts_their_later_revisions_and_withdrawals(
    world, tmp_path
):
    """QueueCheck, the delivery process's check, over the embedded store: an alert of a
    shipment in the queue goes (and is remembered), one out of it does not, a later
    revision of one that went goes whatever its rank, a withdrawal always goes, and an
    alert whose case the graph holds closed does not."""
    from goodsflow.settings import Settings
    from streams.delivery import SubscriptionStore
    from streams.delivery.dispatcher import Delivery
    from streams.delivery.process import QueueCheck

    events, alerts, _ = world
    graph = EmbeddedGraph(REG)
    graph.write(events, alerts)
    store = SubscriptionStore(tmp_path / "subs.db", REG)
    check = QueueCheck(Settings(), store)
    check.cfg, check._queries = CFG, EmbeddedQueries(graph)  # no Neo4j in a unit test
    latest = [a for a in {a.alert_id: a for a in alerts}.values() if a.status == "open"]
    cases = [
        (a, loc, shipment_queued(check._queries, loc, a, CFG))
        for a in latest
        for loc in a.localities
    ]
    (queued_alert, loc_in, _) = next(c for c in cases if c[2])
    (left_alert, loc_out, _) = next(c for c in cases if not c[2])
    sub_in = store.add("in", loc_in, "http://in.invalid/", queue_only=True)
    sub_out = store.add("out", loc_out, "http://out.invalid/", queue_only=True)

    def goes(sub, alert):
        return check.admitted(Delivery(sub, alert, b"{}"))

    assert goes(sub_in, queued_alert) and store.was_sent(sub_in.id, queued_alert.alert_id)
    assert not goes(sub_out, left_alert) and not store.was_sent(sub_out.id, left_alert.alert_id)
    weaker = queued_alert.model_copy(update={"revision": 99, "severity": 1})
    assert goes(sub_in, weaker)  # its first revision went
    assert goes(sub_out, left_alert.model_copy(update={"status": AlertStatus.WITHDRAWN}))
    closed = case_step(queued_alert, "close", at=datetime.now(VIETNAM_TZ))
    graph.write((), (), [closed])
    fresh_sub = store.add("again", loc_in, "http://again.invalid/", queue_only=True)
    assert not goes(fresh_sub, queued_alert)  # the graph holds its case closed
    store.remove(sub_in.id)
    assert not store.was_sent(sub_in.id, queued_alert.alert_id)

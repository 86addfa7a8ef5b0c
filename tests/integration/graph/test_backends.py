"""Neo4j and the embedded store give the same answers: the same simulated traffic (and its
alerts) written to both, then every investigator query asked of both and compared."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from goodsflow.evaluation import InProcessDetection
from graph.embedded import EmbeddedGraph
from graph.embedded_queries import EmbeddedQueries
from graph.exceptions import NotFound
from graph.queries import Neo4jQueries
from graph.risk_queue import day_queue, day_window
from graph.writer import Neo4jGraphWriter
from producers.simulation import SimulationConfig, Simulator
from schemas import VIETNAM_TZ, CaseOutcome, load_registry, parse_event
from streams import load_detection_config
from streams.queue import daily_queues
from tests.factories import case_step
from tests.graph_world import private_start

REG = load_registry()


@pytest.fixture(scope="module")
def traffic(neo4j_driver, settings):
    """A few days of traffic with seizures, in a window of event time and with parties,
    vehicles and drivers of its own (the Neo4j database is shared with other tests)."""
    run = uuid.uuid4().hex[:6]
    start = private_start()
    config = SimulationConfig(
        shipments=150,
        seed=23,
        start=start,
        days=2,
        scenario_share=0.3,
        crackdown_days=2,
        seizure_share=0.3,
        id_prefix=f"BK{run}-",
        entity_namespace=f"B{run}-",
    )
    simulated = list(Simulator(config).events())
    alerts = [alert for alert, _ in InProcessDetection().run(simulated)]
    events = [parse_event(e.line) for e in simulated]
    writer = Neo4jGraphWriter(neo4j_driver, settings.neo4j.database)
    writer.init_schema(REG)
    embedded = EmbeddedGraph(REG)
    for i in range(0, len(events), 400):
        writer.write(events[i : i + 400], alerts[i // 4 : (i + 400) // 4])
        embedded.write(events[i : i + 400], alerts[i // 4 : (i + 400) // 4])
    writer.write((), alerts)  # every alert, whatever the split above; replays change nothing
    embedded.write((), alerts)
    neo = Neo4jQueries(neo4j_driver, settings.neo4j.database)
    return start, events, alerts, neo, EmbeddedQueries(embedded)


def both(traffic, method, *args, **kwargs):
    *_, neo, emb = traffic
    return getattr(neo, method)(*args, **kwargs), getattr(emb, method)(*args, **kwargs)


def test_traces_agree(traffic):
    _, events, alerts, *_ = traffic
    flagged = sorted({a.shipment_id for a in alerts})
    others = sorted({e.shipment_id for e in events} - set(flagged))[:10]
    assert len(flagged) > 10
    for sid in [*flagged, *others]:
        neo, emb = both(traffic, "trace", sid)
        assert neo == emb, sid
    neo, emb = both(traffic, "trace", flagged[0], limit=2)
    assert neo == emb and len(neo.passages) == 2


def test_passed_agrees_for_checkpoints_localities_categories_and_pages(traffic):
    start = traffic[0]
    window = (start, start + timedelta(days=3))
    asked = 0
    for checkpoint in ["LS-HUUNGHI", "BN-BACGIANG", "HN-DONGXUAN", "HP-DINHVU", "QN-MONGCAI"]:
        neo, emb = both(traffic, "passed", *window, checkpoint_id=checkpoint, limit=1000)
        assert neo == emb, checkpoint
        asked += len(neo)
    for locality in ["LS", "HN", "BN"]:
        for category in [None, "medicine", "food"]:
            neo, emb = both(traffic, "passed", *window, locality=locality, category=category)
            assert neo == emb, (locality, category)
    neo, emb = both(traffic, "passed", *window, locality="HN", limit=7, offset=5)
    assert neo == emb and len(neo) == 7
    assert asked > 50


def test_flows_agree(traffic):
    start = traffic[0]
    for category in [None, "medicine", "electronics"]:
        for days in (1, 3):
            neo, emb = both(
                traffic, "flows", start, start + timedelta(days=days), category=category
            )
            assert neo == emb, (category, days)
    neo, _ = both(traffic, "flows", start, start + timedelta(days=3))
    assert len(neo) > 10


def test_hotspots_agree(traffic):
    start = traffic[0]
    for by in ("checkpoint", "locality"):
        neo, emb = both(traffic, "hotspots", start, start + timedelta(days=3), by=by, limit=50)
        assert neo == emb, by
        assert neo and neo[0].score > 0


def _seized(events):
    return [e for e in events if e.event_type == "seizure.recorded"]


def _declarations(events):
    return [e for e in events if e.event_type == "shipment.declared"]


def test_neighbourhoods_agree_including_where_the_limit_cuts(traffic):
    _, events, *_ = traffic
    seized = _seized(events)
    assert seized
    asked = []
    for z in seized[:3]:
        asked += [("driver", z.driver_id), ("vehicle", z.vehicle_plate)]
        asked += [("party", p.party_id) for p in z.parties_implicated]
    asked += [("shipment", d.shipment_id) for d in _declarations(events)[:5]]
    for kind, key in asked:
        for hops in (1, 2, 3):
            neo, emb = both(traffic, "neighbourhood", kind, key, hops=hops)
            assert neo == emb, (kind, key, hops)
        neo, emb = both(traffic, "neighbourhood", kind, key, hops=4, limit=12)
        assert neo == emb, (kind, key, "limit")


def test_connections_agree(traffic):
    _, events, *_ = traffic
    declarations = _declarations(events)
    seized = _seized(events)
    pairs = [
        (("party", d.shipper.party_id), ("driver", z.driver_id))
        for d in declarations[:6]
        for z in seized[:3]
    ]
    pairs += [
        (("vehicle", a.vehicle_plate), ("party", b.consignee.party_id))
        for a, b in zip(declarations[:8], declarations[8:16], strict=True)
    ]
    found = 0
    for a, b in pairs:
        if a == b:
            continue
        neo, emb = both(traffic, "connection", a, b, max_hops=8)
        assert neo == emb, (a, b)
        found += bool(neo)
    assert found > 0, "some of the pairs should be connected"


def test_alert_lists_and_alert_evidence_agree(traffic):
    start, _, alerts, *_ = traffic
    window = {"since": start, "until": start + timedelta(days=3)}
    for locality in ["LS", "HN", "QN", "HP"]:
        for status in [None, "open", "withdrawn"]:
            neo, emb = both(traffic, "alerts", locality=locality, status=status, **window)
            assert neo == emb, (locality, status)
    neo, emb = both(traffic, "alerts", rule="high_risk_corridor", limit=5, offset=2, **window)
    assert neo == emb
    for alert_id in sorted({a.alert_id for a in alerts}):
        neo, emb = both(traffic, "alert", alert_id)
        assert neo == emb, alert_id
        if neo.status == "open":  # every fact detection used is in the graph
            assert neo.evidence and all(fact.recorded for fact in neo.evidence), neo


def test_ring_analytics_get_the_same_rows_from_both(traffic):
    from graph.analytics import find_rings

    start = traffic[0]
    neo, emb = both(traffic, "shipment_entities", start, start + timedelta(days=3))
    assert neo == emb and len(neo) == 150
    report = find_rings(neo)
    assert report.rings and report.rings[0].seized_shipments > 0


def test_the_risk_queues_agree_and_rank_the_alerts(traffic):
    """Every locality's queue on every day of the traffic, read from Neo4j and from the
    embedded store, is the ranking of the alerts themselves (a capacity small enough to cut,
    a floor large enough to sample). Before the case steps below close and transfer some."""
    _, _, alerts, neo_q, emb_q = traffic
    cfg = load_detection_config().queue.model_copy(
        update={"capacity_per_day": 3, "random_share": 0.1}
    )
    days = sorted({a.raised_at.astimezone(VIETNAM_TZ).date() for a in alerts})
    cut = sampled = 0
    for locality in sorted(REG.localities):
        for day in days:
            neo, emb = (day_queue(q, locality, day, cfg) for q in (neo_q, emb_q))
            assert neo == emb, (locality, day)
            passed = neo_q.passed(*day_window(day), locality=locality, limit=1000)
            traffic_of_day = {day: {p.shipment_id for p in passed}}
            assert neo.queued == daily_queues(alerts, locality, cfg, traffic_of_day).get(day, [])
            cut += sum(not q.sampled for q in neo.queued) == cfg.capacity_per_day
            sampled += sum(q.sampled for q in neo.queued)
    assert cut and sampled


def test_case_steps_give_the_same_cases_lists_and_outcomes_on_both(traffic, neo4j_driver, settings):
    """Steps in another order on each store, each twice, some before their alert exists."""
    start, _, alerts, neo_q, emb_q = traffic
    writer = Neo4jGraphWriter(neo4j_driver, settings.neo4j.database)
    embedded = emb_q.graph
    latest = sorted({a.alert_id: a for a in alerts}.values(), key=lambda a: a.alert_id)
    when = start + timedelta(days=1)  # case times private to this test too
    steps = []
    for i, alert in enumerate(latest[:12]):
        steps.append(case_step(alert, "acknowledge", at=when + timedelta(minutes=i)))
        if i % 3 == 0:
            steps.append(case_step(alert, "transfer", at=when + timedelta(minutes=i, seconds=30)))
        if i % 2 == 0:
            outcome = CaseOutcome.CONFIRMED if i % 4 == 0 else CaseOutcome.FALSE_ALARM
            steps.append(
                case_step(alert, "close", at=when + timedelta(minutes=i + 1), outcome=outcome)
            )
    bare = latest[0].model_copy(update={"alert_id": f"ALR-bare-{uuid.uuid4().hex[:8]}"})
    steps.append(case_step(bare, "acknowledge", at=when))
    writer.write((), (), steps[::2] + steps)
    embedded.write((), (), steps[::-1] + steps[1::2])
    window = {"since": start, "until": start + timedelta(days=3)}
    for case_status in ("new", "acknowledged", "transferred", "closed"):
        for locality in (None, "HP", "LS"):
            neo, emb = both(traffic, "alerts", locality=locality, case_status=case_status, **window)
            assert neo == emb, (case_status, locality)
            assert all(a.case_status == case_status for a in neo)
    assert {
        a.assigned_to for a in both(traffic, "alerts", case_status="transferred", **window)[0]
    } == {"HP"}
    for alert in latest[:12]:
        neo, emb = both(traffic, "alert", alert.alert_id)
        assert neo == emb, alert.alert_id
        assert neo.case_steps and neo.case_status != "new"
    cases = {"since": when, "until": when + timedelta(hours=1)}
    neo, emb = both(traffic, "outcomes", **cases)
    assert neo == emb
    assert sum(r.confirmed + r.false_alarm for r in neo) == 6
    for store in both(traffic, "alerts", limit=1000, **window):
        assert bare.alert_id not in {a.alert_id for a in store}
    with pytest.raises(NotFound):
        neo_q.alert(bare.alert_id)
    with pytest.raises(NotFound):
        emb_q.alert(bare.alert_id)
    # the steps are in the digest of the graph around the shipments
    ids = sorted({a.shipment_id for a in latest[:12]})
    neo, emb = both(traffic, "digest", ids)
    assert neo == emb and neo.relationships.get("ON", 0) == len({s.step_id for s in steps}) - 1

"""linked_to_offender and high_risk_corridor: the rules that read other shipments' facts,
their boundaries, and when they judge (once the global low watermark has passed the
declaration)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from schemas import GoodsCategory, GoodsLine, Rule, load_registry
from streams import load_detection_config
from streams.context import DetectionContext
from streams.engine import process
from streams.facts import decode_fact, encode_fact, entity, facts_of_event
from streams.handler import DetectionHandler, DictStore, ListSink, PartitionDetector
from streams.state import ShipmentState
from tests import factories
from tests.factories import T0, declaration, scan, seizure

CONFIG = load_detection_config()
REG = load_registry()
FOOD = GoodsLine(
    hs_code="0207",
    description="Đùi gà đông lạnh",
    category=GoodsCategory.FOOD,
    quantity=Decimal(100),
    unit="thùng",
    weight_kg=Decimal(2000),
    value_vnd=Decimal(200_000_000),
)
CLOTHING = FOOD.model_copy(update={"category": GoodsCategory.CLOTHING, "description": "Quần áo"})


def later():
    """A global low watermark past everything here (each test has its own window of event
    time: tests/conftest.py moves factories.T0)."""
    return factories.T0 + timedelta(days=30)


def context(*facts) -> DetectionContext:
    """A context holding the declarations and seizures given, settled far ahead."""
    ctx = DetectionContext(REG)
    for fact in facts:
        state = ShipmentState(shipment_id=fact.shipment_id).with_event(fact)
        ctx.add_state(state)
    ctx.watermark = later()
    return ctx


def alerts(event, ctx, rule):
    return [a for a in process(None, event, CONFIG, REG, None, ctx).alerts if a.rule == rule]


# -- linked_to_offender ----------------------------------------------------------------------
def test_a_driver_implicated_in_an_earlier_seizure_links_the_shipment():
    seized = declaration()
    caught = seizure(seized, minutes=60)
    mine = declaration(driver_id=seized.driver_id, occurred_at=factories.T0 + timedelta(minutes=61))
    (alert,) = alerts(mine, context(seized, caught), Rule.LINKED_TO_OFFENDER)
    assert alert.severity_factors["implicated_in_seizure"] == CONFIG.linked_to_offender.direct
    assert [e.event_id for e in alert.evidence] == [mine.event_id, caught.event_id]
    assert alert.evidence[1].shipment_id == seized.shipment_id
    assert seized.driver_id.upper() in alert.explanation_en  # ids as links compare them
    assert "lái xe" in alert.explanation_vi
    # the seizure's locality is among those to notify
    assert REG.checkpoint(caught.checkpoint_id).locality in alert.localities


def test_only_an_earlier_seizure_counts():
    seized = declaration()
    caught = seizure(seized, minutes=60)
    for offset, linked in [(-1, False), (0, False), (1, True)]:
        mine = declaration(
            vehicle_plate=seized.vehicle_plate,
            occurred_at=caught.occurred_at + timedelta(seconds=offset),
        )
        found = alerts(mine, context(seized, caught), Rule.LINKED_TO_OFFENDER)
        assert bool(found) is linked, offset


def test_every_kind_of_link_counts_and_more_links_raise_severity():
    seized = declaration()
    caught = seizure(seized, minutes=60)
    ctx = context(seized, caught)
    at = factories.T0 + timedelta(hours=2)
    severities = []
    for links in [
        {"consignee": seized.consignee},
        {"shipper": seized.shipper, "driver_id": seized.driver_id},
        {"shipper": seized.shipper, "driver_id": seized.driver_id, "vehicle_plate": "29C-1"},
    ]:
        (alert,) = alerts(declaration(occurred_at=at, **links), ctx, Rule.LINKED_TO_OFFENDER)
        severities.append(alert.severity)
    assert severities[0] < severities[1] == severities[2]  # the plate 29C-1 was never seized


def test_one_hop_through_a_driver_seen_with_a_seized_vehicle():
    earlier = declaration(occurred_at=factories.T0)  # driver D drove vehicle V
    seized = declaration(
        vehicle_plate=earlier.vehicle_plate, occurred_at=factories.T0 + timedelta(hours=5)
    )
    caught = seizure(seized, minutes=6 * 60)  # V is seized, D is not
    mine = declaration(driver_id=earlier.driver_id, occurred_at=factories.T0 + timedelta(hours=7))
    ctx = context(earlier, seized, caught)
    (alert,) = alerts(mine, ctx, Rule.LINKED_TO_OFFENDER)
    assert "linked_through_one_hop" in alert.severity_factors
    assert alert.severity < CONFIG.linked_to_offender.direct + 20
    assert {e.event_id for e in alert.evidence} == {
        mine.event_id,
        earlier.event_id,
        caught.event_id,
    }
    # two hops away is not linked: a driver seen only with D
    with_d = declaration(driver_id="D-other", vehicle_plate="30C-2", occurred_at=factories.T0)
    ctx.add_state(ShipmentState(shipment_id=with_d.shipment_id).with_event(with_d))
    far = declaration(vehicle_plate="30C-2", occurred_at=factories.T0 + timedelta(hours=8))
    assert alerts(far, ctx, Rule.LINKED_TO_OFFENDER) == []


def test_no_link_without_a_settled_context():
    seized = declaration()
    caught = seizure(seized, minutes=60)
    mine = declaration(driver_id=seized.driver_id, occurred_at=factories.T0 + timedelta(hours=2))
    ctx = context(seized, caught)
    ctx.watermark = mine.occurred_at  # not past the declaration yet
    outcome = process(None, mine, CONFIG, REG, None, ctx)
    assert outcome.alerts == [] and outcome.state.context_judged_for == ""
    ctx.watermark = mine.occurred_at + timedelta(seconds=1)
    outcome = process(None, mine, CONFIG, REG, None, ctx)
    # both context rules judged it: linked, and health goods on the seizure's corridor
    rules = {a.rule for a in outcome.alerts}
    assert rules == {Rule.LINKED_TO_OFFENDER, Rule.HIGH_RISK_CORRIDOR}
    assert outcome.state.context_judged_for == mine.event_id


# -- high_risk_corridor ------------------------------------------------------------------------
def _on_route(minutes_before: float, goods=FOOD, route_index: int = 2):
    seized = declaration()
    mine = declaration(goods=[goods])
    at = mine.occurred_at - timedelta(minutes=minutes_before)
    caught = seizure(
        seized,
        occurred_at=at,
        checkpoint_id=mine.declared_route[route_index],
    )
    return mine, context(seized, caught), caught


def test_health_goods_on_a_corridor_with_a_recent_seizure():
    mine, ctx, caught = _on_route(60)
    (alert,) = alerts(mine, ctx, Rule.HIGH_RISK_CORRIDOR)
    assert [e.event_id for e in alert.evidence] == [mine.event_id, caught.event_id]
    assert alert.severity_factors == {
        "recent_seizure_on_corridor": CONFIG.high_risk_corridor.base,
        "health_goods": CONFIG.severity.health_goods_bonus,
    }
    corridor = REG.checkpoint(caught.checkpoint_id).corridor
    assert corridor in alert.explanation_en and corridor in alert.explanation_vi


def test_the_corridor_stays_hot_for_the_window_only():
    window = CONFIG.high_risk_corridor.window_days * 24 * 60
    assert alerts(*_on_route(window)[:2], Rule.HIGH_RISK_CORRIDOR)  # exactly at the edge
    assert not alerts(*_on_route(window + 1 / 60)[:2], Rule.HIGH_RISK_CORRIDOR)
    assert not alerts(*_on_route(0)[:2], Rule.HIGH_RISK_CORRIDOR)  # not earlier: same time


def test_other_goods_or_other_corridors_are_not_high_risk():
    assert not alerts(*_on_route(60, goods=CLOTHING)[:2], Rule.HIGH_RISK_CORRIDOR)
    mine = declaration(goods=[FOOD])
    off_route = "QN-MONGCAI"
    corridor = REG.checkpoint(off_route).corridor
    assert corridor not in {REG.checkpoint(cp).corridor for cp in mine.declared_route}
    seized = declaration()
    ctx = context(seized, seizure(seized, checkpoint_id=off_route, minutes=-60))
    assert not alerts(mine, ctx, Rule.HIGH_RISK_CORRIDOR)


# -- through the handler: the global low watermark -----------------------------------------------
def test_a_declaration_read_before_an_earlier_seizure_in_another_partition_is_still_linked():
    """Two partitions share the worker's context; the declaration is judged once the
    context's watermark (the facts' completeness) has passed it, whichever partition was
    read first."""
    seized = declaration()
    caught = seizure(seized, minutes=60)
    mine = declaration(driver_id=seized.driver_id, occurred_at=factories.T0 + timedelta(hours=2))
    ctx, sink = DetectionContext(REG), ListSink()
    p0 = PartitionDetector(DictStore(), sink, CONFIG, REG, ctx)
    p1 = PartitionDetector(DictStore(), sink, CONFIG, REG, ctx)
    p0.handle(mine)  # partition 0 was read first; its facts reach the context
    ctx.add_state(p0.store.get(mine.shipment_id))
    ctx.watermark = mine.occurred_at - timedelta(minutes=1)  # not complete up to it yet
    p0.judge_settled()
    for ev in (seized, caught):
        p1.handle(ev)
        ctx.add_state(p1.store.get(ev.shipment_id))
    assert [a for a in sink.alerts if a.rule == Rule.LINKED_TO_OFFENDER] == []
    ctx.watermark = mine.occurred_at + timedelta(minutes=1)  # every partition is past it
    p1.judge_settled()
    assert [a for a in sink.alerts if a.rule == Rule.LINKED_TO_OFFENDER] == []  # not p1's
    p0.judge_settled()
    (alert,) = [a for a in sink.alerts if a.rule == Rule.LINKED_TO_OFFENDER]
    assert alert.shipment_id == mine.shipment_id


def test_a_restarted_worker_rebuilds_the_context_from_the_facts():
    seized = declaration()
    caught = seizure(seized, minutes=60)
    first = DetectionHandler(DictStore(), ListSink(), CONFIG, REG)
    for ev in (seized, caught):
        first.handle(ev)
    mine = declaration(consignee=seized.consignee, occurred_at=factories.T0 + timedelta(hours=2))
    sink = ListSink()
    restarted = DetectionHandler(DictStore(), sink, CONFIG, REG)
    for ev in (seized, caught):  # as the facts topic gives them back
        for fact in facts_of_event(ev):
            restarted.context.add(decode_fact(encode_fact(fact)[1]))
    restarted.handle(mine)
    restarted.handle(scan(mine.shipment_id, mine.declared_route[0], minutes=6 * 60))
    (alert,) = [a for a in sink.alerts if a.rule == Rule.LINKED_TO_OFFENDER]
    assert alert.shipment_id == mine.shipment_id


def test_a_repeated_declaration_or_seizure_is_indexed_once():
    seized = declaration()
    caught = seizure(seized, minutes=60)
    ctx = context(seized, caught)
    ctx.add_state(ShipmentState(shipment_id=seized.shipment_id).with_event(caught))
    ctx.add_state(ShipmentState(shipment_id=seized.shipment_id).with_event(seized))
    driver = entity("driver", seized.driver_id)
    assert len(ctx.seizures_of(driver, later())) == 1
    corridor = REG.checkpoint(caught.checkpoint_id).corridor
    assert len(ctx.corridor_seizures(corridor, factories.T0, later())) == 1
    assert [other for other, _ in ctx.seen_with(driver, later())] == [
        entity("party", seized.shipper.party_id),
        entity("party", seized.consignee.party_id),
        entity("vehicle", seized.vehicle_plate),
    ]


def test_links_compare_plates_and_ids_in_one_form():
    """A plate written 29C-123.45 on the seizure and 29c 12345 on a later declaration, or a
    driver id in another case, are the same vehicle and driver."""
    first = declaration(vehicle_plate="29C-123.45", driver_id="drv-77")
    seized = seizure(first)
    later_decl = declaration(
        vehicle_plate="29c 12345", driver_id="DRV-77", occurred_at=T0 + timedelta(days=1)
    )
    ctx = DetectionContext(REG)
    for fact in [*facts_of_event(first), *facts_of_event(seized)]:
        ctx.add(fact)
    for kind, value in (("vehicle", later_decl.vehicle_plate), ("driver", later_decl.driver_id)):
        assert ctx.seizures_of(entity(kind, value), later_decl.occurred_at), kind


def test_facts_and_states_written_before_ids_were_compared_so_still_link():
    """A seizure fact on the facts topic, and a declaration in a stored state, from before
    the upgrade carry ids as sent; they link to new ones all the same."""
    from dataclasses import replace

    from streams.facts import SeizureFact

    first = declaration(vehicle_plate="29C-123.45")
    (old,) = [f for f in facts_of_event(seizure(first)) if isinstance(f, SeizureFact)]
    raw = replace(old, implicated=(("vehicle", "29C-123.45"), ("driver", "drv-9")))
    ctx = DetectionContext(REG)
    ctx.add(decode_fact(encode_fact(raw)[1]))
    later_decl = declaration(vehicle_plate="29C12345", occurred_at=T0 + timedelta(days=1))
    assert ctx.seizures_of(entity("vehicle", later_decl.vehicle_plate), later_decl.occurred_at)
    assert ctx.seizures_of(entity("driver", "DRV-9"), later_decl.occurred_at)

"""Case outcomes fed back into detection: a confirmed alert is a recent incident on the
corridors of its own facts for high_risk_corridor; closes are counted per rule; both are
kept in the shipment's state, so a restarted handler still has them."""

from __future__ import annotations

from datetime import timedelta

from schemas import CaseOutcome, Rule, load_registry
from streams import load_detection_config
from streams.facts import decode_fact, encode_fact
from streams.handler import DetectionHandler, DictStore, ListSink
from tests import factories
from tests.factories import ROUTE, case_step, declaration, scan
from tests.unit.streams.test_rules_links import CLOTHING, FOOD

CONFIG = load_detection_config()
REG = load_registry()
QL3_ROUTE = ["CB-TALUNG", "TN-BACKAN", "TN-THAINGUYEN", "HN-DONGXUAN"]  # corridor QL3


def handler(store=None):
    sink = ListSink()
    return DetectionHandler(store or DictStore(), sink, CONFIG, REG), sink


def off_route_alert(h, sink):
    """A route deviation: a scan at Thai Nguyen (QL3), off a QL1A route, 2 hours in."""
    decl = declaration()
    off = scan(decl.shipment_id, "TN-THAINGUYEN", 120)
    for ev in (decl, scan(decl.shipment_id, ROUTE[0], 10), off):
        h.handle(ev)
    (alert,) = [a for a in sink.drain() if a.rule == Rule.ROUTE_DEVIATION]
    return alert, off


def later_on_ql3(h, sink, hours=5, goods=FOOD):
    """A shipment declared on QL3 ``hours`` after T0, judged once the watermark passes."""
    mine = declaration(
        goods=[goods],
        declared_route=QL3_ROUTE,
        checkpoint_id=QL3_ROUTE[0],
        occurred_at=factories.T0 + timedelta(hours=hours),
    )
    h.handle(mine)
    h.handle(scan(mine.shipment_id, QL3_ROUTE[0], minutes=int((hours + 4) * 60)))
    return mine, [a for a in sink.drain() if a.rule == Rule.HIGH_RISK_CORRIDOR]


def test_a_confirmed_alert_makes_its_corridor_high_risk_for_later_health_goods():
    h, sink = handler()
    alert, off = off_route_alert(h, sink)
    h.handle_case(case_step(alert, "close", outcome=CaseOutcome.CONFIRMED))
    mine, (found,) = later_on_ql3(h, sink)
    assert found.shipment_id == mine.shipment_id
    assert found.severity_factors["recent_confirmed_alert_on_corridor"] == (
        CONFIG.high_risk_corridor.base
    )
    assert "recent_seizure_on_corridor" not in found.severity_factors
    fact = found.evidence[1]
    assert (fact.event_id, fact.checkpoint_id, fact.shipment_id) == (
        off.event_id,
        "TN-THAINGUYEN",
        alert.shipment_id,
    )
    assert alert.alert_id in fact.detail and "QL3" in found.explanation_en
    assert "1 confirmed alert(s)" in found.explanation_en
    assert "cảnh báo đã được xác nhận" in found.explanation_vi


def test_a_false_alarm_an_open_case_or_other_goods_make_no_incident():
    for steps, goods in [
        (["close-false"], FOOD),
        (["ack", "transfer"], FOOD),
        (["close"], CLOTHING),
    ]:
        h, sink = handler()
        alert, _ = off_route_alert(h, sink)
        for i, name in enumerate(steps):
            if name == "close-false":
                h.handle_case(case_step(alert, "close", i, outcome=CaseOutcome.FALSE_ALARM))
            else:
                h.handle_case(case_step(alert, {"ack": "acknowledge"}.get(name, name), i))
        _, found = later_on_ql3(h, sink, goods=goods)
        assert found == [], (steps, goods)


def test_the_incident_counts_only_for_the_window_after_its_facts():
    window = CONFIG.high_risk_corridor.window_days * 24
    for hours, hot in [(3, True), (2 + window, True), (2 + window + 0.5, False)]:
        h, sink = handler()
        alert, _ = off_route_alert(h, sink)  # the off-route scan is at T0 + 2 h
        h.handle_case(case_step(alert, "close"))
        _, found = later_on_ql3(h, sink, hours=hours)
        assert bool(found) is hot, hours


def test_the_latest_step_decides_whether_the_alert_stands_confirmed():
    h, sink = handler()
    alert, _ = off_route_alert(h, sink)
    confirmed = case_step(alert, "close", 10, outcome=CaseOutcome.CONFIRMED)
    # a second close made concurrently, earlier: the later step stands, in either order
    h.handle_case(confirmed)
    h.handle_case(case_step(alert, "close", 5, outcome=CaseOutcome.FALSE_ALARM))
    assert h.context.outcomes() == {"route_deviation": {CaseOutcome.CONFIRMED: 1}}
    h.handle_case(case_step(alert, "close", 20, outcome=CaseOutcome.FALSE_ALARM))
    assert h.context.outcomes() == {"route_deviation": {CaseOutcome.FALSE_ALARM: 1}}
    _, found = later_on_ql3(h, sink)
    assert found == []


def test_closes_are_counted_per_rule_and_a_repeated_step_counts_once():
    h, sink = handler()
    first, _ = off_route_alert(h, sink)
    second, _ = off_route_alert(h, sink)
    third, _ = off_route_alert(h, sink)
    step = case_step(first, "close")
    for s in (step, step, case_step(second, "close", outcome=CaseOutcome.FALSE_ALARM)):
        h.handle_case(s)
    h.handle_case(case_step(third, "acknowledge"))
    assert h.context.outcomes() == {
        "route_deviation": {CaseOutcome.CONFIRMED: 1, CaseOutcome.FALSE_ALARM: 1}
    }


def test_a_restarted_worker_keeps_confirmed_incidents_and_counts():
    """A case step's fact goes to the facts topic; a restarted worker's context reads it
    back from there (encoded and decoded here as the facts reader does)."""
    store = DictStore()
    h, sink = handler(store)
    alert, _ = off_route_alert(h, sink)
    fact = h.detector.handle_case(case_step(alert, "close"))
    assert fact is not None and fact.outcome == CaseOutcome.CONFIRMED
    restarted, sink = handler(store)
    for state in store.states.values():  # the declarations and scans the topic holds
        for earlier in state.facts():
            restarted.context.add(decode_fact(encode_fact(earlier)[1]))
    _, (found,) = later_on_ql3(restarted, sink)
    assert found.evidence[1].shipment_id == alert.shipment_id
    assert restarted.context.outcomes() == {"route_deviation": {CaseOutcome.CONFIRMED: 1}}


def test_a_step_on_a_shipment_detection_never_saw_is_kept_without_facts():
    h, sink = handler()
    alert, _ = off_route_alert(h, sink)
    stranger = alert.model_copy(update={"shipment_id": "SHP-NEVER-SEEN", "alert_id": "ALR-X"})
    h.handle_case(case_step(stranger, "close"))
    assert h.store.get("SHP-NEVER-SEEN").cases["ALR-X"].outcome == CaseOutcome.CONFIRMED
    _, found = later_on_ql3(h, sink)
    assert found == []  # no facts of its own to place on a corridor

"""The risk queue: one score per shipment from its alerts, a daily capacity per locality,
high_risk_corridor as a factor, a deterministic random floor."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas import VIETNAM_TZ, Alert, AlertStatus, Evidence, Rule
from streams import load_detection_config
from streams.queue import daily_queues, sampled, shipment_risk

CFG = load_detection_config().queue
DAY = datetime(2026, 11, 25, 10, 0, tzinfo=VIETNAM_TZ)


def alert(sid, rule, severity, *, revision=1, status=AlertStatus.OPEN, at=DAY, where=("LS",)):
    return Alert(
        alert_id=f"ALR-{sid}-{rule.value}",
        revision=revision,
        status=status,
        rule=rule,
        severity=severity,
        severity_factors={"x": severity},
        shipment_id=sid,
        localities=list(where),
        evidence=[Evidence(event_id="E", checkpoint_id="LS-HUUNGHI", occurred_at=at)],
        explanation_vi="",
        explanation_en="",
        raised_at=at,
    )


def test_findings_combine_and_a_hot_corridor_only_raises_them():
    one = shipment_risk([alert("A", Rule.ROUTE_DEVIATION, 50)], CFG)
    two = shipment_risk(
        [alert("A", Rule.ROUTE_DEVIATION, 50), alert("A", Rule.WEIGHT_CHANGE, 50)], CFG
    )
    assert (one, two) == (0.5, 0.75)
    boosted = shipment_risk(
        [alert("A", Rule.ROUTE_DEVIATION, 50), alert("A", Rule.HIGH_RISK_CORRIDOR, 60)], CFG
    )
    assert boosted == 0.5 + 0.5 * CFG.corridor_boost * 0.6
    alone = shipment_risk([alert("A", Rule.HIGH_RISK_CORRIDOR, 60)], CFG)
    assert alone == CFG.corridor_alone * 0.6 < one


def test_the_queue_keeps_the_riskiest_up_to_the_capacity_and_corridor_alerts_fill_the_rest():
    cfg = CFG.model_copy(update={"capacity_per_day": 3, "random_share": 0.0})
    alerts = [
        alert("HOT1", Rule.HIGH_RISK_CORRIDOR, 60),
        alert("HOT2", Rule.HIGH_RISK_CORRIDOR, 60),
        alert("STOP", Rule.UNEXPLAINED_STOP, 45),
        alert("SWAP", Rule.VEHICLE_SWAP, 60),
        alert("GONE", Rule.ROUTE_DEVIATION, 90, status=AlertStatus.WITHDRAWN),
        alert("ELSEWHERE", Rule.ROUTE_DEVIATION, 90, where=("HN",)),
    ]
    (queue,) = daily_queues(alerts, "LS", cfg).values()
    assert [q.shipment_id for q in queue] == ["SWAP", "STOP", "HOT1"]
    roomy = CFG.model_copy(update={"capacity_per_day": 10, "random_share": 0.0})
    (queue,) = daily_queues(alerts, "LS", roomy).values()
    assert [q.shipment_id for q in queue] == ["SWAP", "STOP", "HOT1", "HOT2"]


def test_the_latest_revision_counts():
    cfg = CFG.model_copy(update={"random_share": 0.0})
    alerts = [
        alert("A", Rule.ROUTE_DEVIATION, 50),
        alert("A", Rule.ROUTE_DEVIATION, 50, revision=2, status=AlertStatus.WITHDRAWN),
    ]
    assert daily_queues(alerts, "LS", cfg) == {}


@given(share=st.floats(0.01, 0.2))
def test_the_random_floor_is_deterministic_and_near_its_share(share):
    day = date(2026, 11, 25)
    traffic = {f"SHP-{i}" for i in range(4000)}
    chosen = {sid for sid in traffic if sampled(sid, day, share)}
    assert chosen == {sid for sid in traffic if sampled(sid, day, share)}
    assert abs(len(chosen) / len(traffic) - share) < 0.03
    other_day = {sid for sid in traffic if sampled(sid, day + timedelta(days=1), share)}
    assert other_day != chosen


def test_the_random_floor_takes_only_unflagged_shipments_of_the_day():
    cfg = CFG.model_copy(update={"random_share": 1.0})
    traffic = {DAY.date(): {"A", "B", "C"}}
    (queue,) = daily_queues([alert("A", Rule.ROUTE_DEVIATION, 50)], "LS", cfg, traffic).values()
    assert [(q.shipment_id, q.sampled) for q in queue] == [("A", False), ("B", True), ("C", True)]

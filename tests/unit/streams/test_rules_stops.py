"""unexplained_stop judged like an inspector: legal breaks and night rests, gate queues
with a peak season, rest areas; severity by the hours beyond the budget; the alert revised
with the measured gap."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas import VIETNAM_TZ, Rule, load_registry
from schemas.reference import Registry
from streams import advance, load_detection_config, process
from streams.kept import Scan
from streams.rules.base import places_of
from streams.rules.timing import leg_budget_hours
from tests.factories import declaration, scan

REG = load_registry()
CONFIG = load_detection_config()
CFG = CONFIG.unexplained_stop
INLAND = ["BN-BACGIANG", "BN-TUSON", "HN-DONGXUAN"]  # Bắc Giang -> Từ Sơn -> Đồng Xuân


def _at(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=VIETNAM_TZ)


def alerts_of(events, registry=REG):
    state, out = None, []
    for ev in events:
        outcome = process(state, ev, CONFIG, registry)
        state = outcome.state
        out += [a for a in outcome.alerts if a.rule == Rule.UNEXPLAINED_STOP]
    return out


def _leg(start, gap_hours, route=INLAND, registry=REG):
    """Declared on ``route``; scanned at its first checkpoint at ``start``, at the second
    ``gap_hours`` later."""
    decl = declaration(checkpoint_id=route[0], declared_route=route, occurred_at=start)
    first = scan(decl.shipment_id, route[0], 0, occurred_at=start)
    second = scan(decl.shipment_id, route[1], 0, occurred_at=start + timedelta(hours=gap_hours))
    return alerts_of([decl, first, second], registry)


def test_an_eight_hour_night_rest_on_a_short_leg_is_no_stop():
    km = REG.road_distance_km(*INLAND[:2])
    assert km < 150
    drive = km / 45  # a truck's real pace
    for hour in (20, 21, 22, 23):  # the rest starts between 20:00 and 23:00
        start = _at(25, hour) - timedelta(hours=drive / 2)
        assert _leg(start, drive + 8) == [], hour
    # the same eight hours in the middle of the day are a stop
    (alert,) = _leg(_at(25, 9), drive + 8)
    assert "until the next scan" in alert.evidence[0].detail


def test_a_long_day_gets_the_legal_breaks_and_a_rest_for_each_day_beyond_the_first():
    scan_ = Scan("E", "BN-BACGIANG", _at(25, 6))  # 06:00: no night within a short leg
    places = places_of(REG)
    assert leg_budget_hours(CFG, places, 60, scan_) == 60 / 30 + CFG.slack_hours
    # 150 km = 5 h driving: one break
    assert leg_budget_hours(CFG, places, 150, scan_) == 5 + CFG.slack_hours + CFG.break_hours
    # 600 km = 20 h driving: more than a day's 10 h, so at least one night's rest
    budget = leg_budget_hours(CFG, places, 600, scan_)
    assert budget >= 20 + CFG.slack_hours + 5 * CFG.break_hours + CFG.overnight_rest_hours


def test_a_gate_queue_is_per_gate_and_longer_in_the_weeks_before_tet():
    places = places_of(REG)
    morning = _at(25, 6)
    queued = CFG.model_copy(update={"gate_queue_hours": {"LS-HUUNGHI": 10.0}})
    assert leg_budget_hours(queued, places, 0, Scan("E", "LS-HUUNGHI", morning)) == 3 + 10
    huu_nghi = leg_budget_hours(CFG, places, 0, Scan("E", "LS-HUUNGHI", morning))
    assert huu_nghi == CFG.slack_hours + CFG.clearance_hours  # the shipped default
    (tet,) = [p for p in CFG.peak_seasons if p.start.year == 2027]
    in_peak = datetime.combine(tet.start, morning.timetz())
    peak = leg_budget_hours(CFG, places, 0, Scan("E", "LS-HUUNGHI", in_peak))
    assert peak > huu_nghi + tet.extra_queue_hours - 1e-9  # (a night may be reached too)
    after = datetime.combine(tet.end + timedelta(days=1), morning.timetz())
    assert leg_budget_hours(CFG, places, 0, Scan("E", "LS-HUUNGHI", after)) == huu_nghi
    # an inland station has no queue
    assert leg_budget_hours(CFG, places, 0, Scan("E", "BN-BACGIANG", morning)) == CFG.slack_hours


def test_a_stop_after_a_rest_area_is_normal():
    rest = REG.checkpoint("BN-BACGIANG").model_copy(update={"rest_area": True})
    registry = Registry(
        list(REG.localities.values()),
        [rest if cp.id == rest.id else cp for cp in REG.checkpoints.values()],
        REG.road_factor,
    )
    assert _leg(_at(25, 9), 12, registry=registry) == []
    assert _leg(_at(25, 9), 12) != []  # where the registry knows no rest area


def test_severity_grows_with_the_hours_beyond_the_budget():
    (a_bit,) = _leg(_at(25, 9), 10)
    (long,) = _leg(_at(25, 9), 30)
    assert a_bit.severity < long.severity
    assert long.severity_factors["hours_beyond_budget"] <= CFG.max_excess
    assert a_bit.severity_factors["unexplained_stop"] == CFG.base


def test_the_alert_raised_by_event_time_is_revised_with_the_measured_gap():
    decl = declaration(checkpoint_id=INLAND[0], declared_route=INLAND, occurred_at=_at(25, 9))
    first = scan(decl.shipment_id, INLAND[0], 0, occurred_at=_at(25, 9))
    state = None
    for ev in (decl, first):
        state = process(state, ev, CONFIG, REG).state
    raised = advance(state, _at(27, 9), CONFIG, REG)  # event time two days on, no scan
    (open_,) = [a for a in raised.alerts if a.rule == Rule.UNEXPLAINED_STOP]
    assert "due by" in open_.evidence[0].detail
    assert "hours_beyond_budget" not in open_.severity_factors  # not known yet
    second = scan(decl.shipment_id, INLAND[1], 0, occurred_at=_at(27, 21))
    (revised,) = [
        a
        for a in process(raised.state, second, CONFIG, REG).alerts
        if a.rule == Rule.UNEXPLAINED_STOP
    ]
    assert revised.revision == open_.revision + 1
    assert revised.evidence[0].detail.startswith("no scan for 60.0 h until the next scan")
    assert revised.severity_factors["hours_beyond_budget"] == CFG.max_excess


@given(
    km=st.floats(0, 800),
    minutes=st.integers(0, 7 * 24 * 60),
    checkpoint=st.sampled_from(sorted(REG.checkpoints)),
)
def test_a_budget_is_never_below_the_plain_one_and_grows_with_distance(km, minutes, checkpoint):
    at = _at(25, 0) + timedelta(minutes=minutes)
    places = places_of(REG)
    budget = leg_budget_hours(CFG, places, km, Scan("E", checkpoint, at))
    plain = km / CFG.min_speed_kmh + CFG.slack_hours
    if REG.checkpoint(checkpoint).kind.is_entry_point:
        plain += CFG.clearance_hours
    assert budget >= plain - 1e-9
    assert leg_budget_hours(CFG, places, km + 50, Scan("E", checkpoint, at)) >= budget


def test_a_queue_for_an_unknown_place_or_an_inland_station_is_refused(tmp_path):
    from importlib import resources

    import pytest

    from streams.config import DetectionConfigError

    text = resources.files("streams").joinpath("detection.toml").read_text(encoding="utf-8")
    bad = tmp_path / "detection.toml"
    for line, why in (
        ('"XX-NOWHERE" = 5.0', "unknown checkpoint XX-NOWHERE"),
        ('"BN-TUSON" = 5.0', "BN-TUSON is no border gate, port or airport"),
    ):
        bad.write_text(
            text.replace(
                "[unexplained_stop.gate_queue_hours]\n",
                f"[unexplained_stop.gate_queue_hours]\n{line}\n",
            )
        )
        with pytest.raises(DetectionConfigError, match=why):
            load_detection_config(bad)

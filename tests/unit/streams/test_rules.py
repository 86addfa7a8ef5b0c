"""Each rule at its boundaries (thresholds from streams/detection.toml)."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Rule, load_registry
from streams import load_detection_config, process
from streams.config import DetectionConfigError
from tests.factories import ROUTE, T0, declaration, scan

REG = load_registry()
CONFIG = load_detection_config()


def alerts_of(events, rule, config=CONFIG):
    state, out = None, []
    for ev in events:
        outcome = process(state, ev, config, REG)
        state = outcome.state
        out += [a for a in outcome.alerts if a.rule == rule]
    return out


def with_(section, **values):
    updated = getattr(CONFIG, section).model_copy(update=values)
    return CONFIG.model_copy(update={section: updated})


# -- impossible travel ----------------------------------------------------------------


def _minutes_for(km, speed_kmh):
    return km / speed_kmh * 60


def test_impossible_travel_boundary_is_the_configured_top_speed():
    a, b = "LS-HUUNGHI", "BN-BACGIANG"
    km = REG.road_distance_km(a, b)
    decl = declaration()
    top = CONFIG.impossible_travel.max_speed_kmh
    at_limit = [decl, scan(decl.shipment_id, a, 0), scan(decl.shipment_id, b, 0)]
    at_limit[2] = at_limit[2].model_copy(
        update={"occurred_at": at_limit[1].occurred_at + timedelta(hours=km / top)}
    )
    assert alerts_of(at_limit, Rule.IMPOSSIBLE_TRAVEL) == []
    earlier = at_limit[2].occurred_at - timedelta(minutes=1)
    faster = [*at_limit[:2], at_limit[2].model_copy(update={"occurred_at": earlier})]
    (alert,) = alerts_of(faster, Rule.IMPOSSIBLE_TRAVEL)
    assert [e.checkpoint_id for e in alert.evidence] == [a, b]
    assert "cloned_documents" not in alert.severity_factors


def test_two_distant_places_at_once_are_cloned_documents():
    decl = declaration()
    events = [
        decl,
        scan(decl.shipment_id, "LS-HUUNGHI", 60),
        scan(decl.shipment_id, "LC-KIMTHANH", 70),
    ]
    (alert,) = alerts_of(events, Rule.IMPOSSIBLE_TRAVEL)
    assert (
        alert.severity_factors["cloned_documents"]
        == CONFIG.impossible_travel.cloned_documents_bonus
    )
    assert "nhân bản" in alert.explanation_vi and "cloned documents" in alert.explanation_en


def test_nearby_stations_with_skewed_clocks_are_not_evidence():
    decl = declaration()
    # Hữu Nghị and Đồng Đăng are a few km apart: the same minute is a clock matter
    events = [
        decl,
        scan(decl.shipment_id, "LS-HUUNGHI", 60),
        scan(decl.shipment_id, "LS-DONGDANG", 60),
    ]
    assert (
        REG.road_distance_km("LS-HUUNGHI", "LS-DONGDANG") < CONFIG.impossible_travel.min_distance_km
    )
    assert alerts_of(events, Rule.IMPOSSIBLE_TRAVEL) == []


@settings(max_examples=60, deadline=None)
@given(
    route=st.sampled_from(
        [
            ROUTE,
            ["CB-TALUNG", "TN-BACKAN", "TN-THAINGUYEN", "HN-NINHHIEP"],
            ["LC-KIMTHANH", "LC-YENBAI", "PT-VIETTRI", "HN-DONGXUAN"],
            ["QN-MONGCAI", "QN-CAILAN", "QN-UONGBI", "HP-HAIDUONG", "HY-PHONOI", "HN-DONGXUAN"],
        ]
    ),
    speeds=st.lists(st.floats(min_value=5, max_value=85), min_size=6, max_size=6),
    dwell=st.lists(st.integers(min_value=0, max_value=600), min_size=6, max_size=6),
)
def test_legitimate_routes_at_plausible_speeds_never_raise_impossible_travel(route, speeds, dwell):
    decl = declaration(declared_route=route, checkpoint_id=route[0])
    t = T0
    events = [decl]
    for i, cp in enumerate(route):
        if i:
            hours = REG.road_distance_km(route[i - 1], cp) / speeds[i]
            t += timedelta(hours=hours, minutes=dwell[i])
        events.append(scan(decl.shipment_id, cp, 0).model_copy(update={"occurred_at": t}))
    assert alerts_of(events, Rule.IMPOSSIBLE_TRAVEL) == []


# -- weight change --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "alerted"), [(1.05, False), (0.95, False), (1.051, True), (0.94, True)]
)
def test_weight_change_boundary_against_the_declaration(factor, alerted):
    decl = declaration()  # declares 1800 kg
    events = [
        decl,
        scan(decl.shipment_id, ROUTE[0], 10, observed_weight_kg=round(1800 * factor, 1)),
    ]
    assert bool(alerts_of(events, Rule.WEIGHT_CHANGE)) == alerted


def test_weight_change_against_the_previous_weighing():
    decl = declaration()
    # each within 5 % of the declaration, but 9 % apart from each other
    events = [
        decl,
        scan(decl.shipment_id, ROUTE[0], 10, observed_weight_kg=1850),
        scan(decl.shipment_id, ROUTE[1], 120, observed_weight_kg=1700),
    ]
    (alert,) = alerts_of(events, Rule.WEIGHT_CHANGE)
    assert [e.checkpoint_id for e in alert.evidence] == [ROUTE[1]]
    assert "large_change" not in alert.severity_factors


def test_a_large_weight_change_raises_severity():
    decl = declaration()
    events = [decl, scan(decl.shipment_id, ROUTE[0], 10, observed_weight_kg=2400)]
    (alert,) = alerts_of(events, Rule.WEIGHT_CHANGE)
    assert alert.severity_factors["large_change"] == CONFIG.weight_change.large_change_bonus
    assert "33%" in alert.explanation_en


# -- entry without border passage -----------------------------------------------------


def test_foreign_goods_first_seen_inland_raise_entry_without_border_passage():
    inland_route = ["LS-CHILANG", "BN-BACGIANG", "BN-TUSON", "HN-DONGXUAN"]
    decl = declaration(declared_route=inland_route, checkpoint_id="LS-CHILANG", origin_country="CN")
    (alert,) = alerts_of(
        [decl, scan(decl.shipment_id, "LS-CHILANG", 30)], Rule.ENTRY_WITHOUT_BORDER_PASSAGE
    )
    assert alert.evidence[0].checkpoint_id == "LS-CHILANG"
    assert (
        alert.severity
        == CONFIG.entry_without_border_passage.base + CONFIG.severity.health_goods_bonus
    )


@pytest.mark.parametrize(
    ("origin", "first_scan", "alerted"),
    [("VN", "LS-CHILANG", False), ("CN", "LS-HUUNGHI", False), ("TH", "BN-BACGIANG", True)],
)
def test_entry_without_border_passage_cases(origin, first_scan, alerted):
    decl = declaration(checkpoint_id="BN-BACGIANG", origin_country=origin)
    events = [decl, scan(decl.shipment_id, first_scan, 30), scan(decl.shipment_id, "BN-TUSON", 200)]
    assert bool(alerts_of(events, Rule.ENTRY_WITHOUT_BORDER_PASSAGE)) == alerted


def test_a_declaration_filed_at_the_border_is_the_passage():
    decl = declaration(checkpoint_id="LS-HUUNGHI", origin_country="CN")
    assert (
        alerts_of(
            [decl, scan(decl.shipment_id, "LS-CHILANG", 90)], Rule.ENTRY_WITHOUT_BORDER_PASSAGE
        )
        == []
    )


# -- circular routing -----------------------------------------------------------------


def _trip(decl, stops):
    return [decl] + [
        scan(decl.shipment_id, cp, 120 * i, direction=direction)
        for i, (cp, direction) in enumerate(stops)
    ]


def test_out_through_a_gate_and_back_in_is_circular_routing():
    decl = declaration()
    events = _trip(decl, [("LS-HUUNGHI", "inbound"), ("LS-CHILANG", "passing"),
                          ("LS-TANTHANH", "outbound"), ("LS-TANTHANH", "inbound"),
                          ("BN-BACGIANG", "passing")])  # fmt: skip
    (alert,) = alerts_of(events, Rule.CIRCULAR_ROUTING)
    assert alert.evidence[0].checkpoint_id == "LS-TANTHANH"
    assert "re-entered" in alert.evidence[0].detail


def test_back_into_the_entry_province_for_two_scans_after_two_elsewhere_is_a_loop():
    out_and_back = [
        ("LS-HUUNGHI", "inbound"),
        ("BN-BACGIANG", "passing"),
        ("BN-TUSON", "passing"),
        ("LS-CHILANG", "passing"),
        ("LS-DONGKINH", "passing"),
    ]
    (alert,) = alerts_of(_trip(declaration(), out_and_back), Rule.CIRCULAR_ROUTING)
    assert [e.checkpoint_id for e in alert.evidence] == ["LS-CHILANG", "LS-DONGKINH"]
    # one scan back (a detour into the province) or one scan away is not a loop
    one_back = [*out_and_back[:4], ("HN-NINHHIEP", "passing")]
    assert alerts_of(_trip(declaration(), one_back), Rule.CIRCULAR_ROUTING) == []
    one_away = [("LS-HUUNGHI", "inbound"), ("TN-BACKAN", "passing"), ("LS-CHILANG", "passing"),
                ("LS-DONGKINH", "passing")]  # fmt: skip
    assert alerts_of(_trip(declaration(), one_away), Rule.CIRCULAR_ROUTING) == []


def test_a_cloned_scan_is_left_to_impossible_travel():
    decl = declaration()
    events = [decl, scan(decl.shipment_id, ROUTE[0], 60), scan(decl.shipment_id, "LC-KIMTHANH", 65),
              scan(decl.shipment_id, ROUTE[1], 150)]  # fmt: skip
    assert alerts_of(events, Rule.IMPOSSIBLE_TRAVEL)
    assert alerts_of(events, Rule.ROUTE_DEVIATION) == []


# -- the configuration file -----------------------------------------------------------


def test_a_bad_configuration_file_names_the_key(tmp_path):
    text = resources.files("streams").joinpath("detection.toml").read_text(encoding="utf-8")
    bad = tmp_path / "detection.toml"
    bad.write_text(text.replace("max_speed_kmh = 90.0", "max_speed_kmh = -1"))
    with pytest.raises(DetectionConfigError, match=r"impossible_travel\.max_speed_kmh"):
        load_detection_config(bad)
    bad.write_text("[severity\n")
    with pytest.raises(DetectionConfigError, match="not valid TOML"):
        load_detection_config(bad)


def test_the_shipped_file_is_what_runs():
    assert CONFIG.impossible_travel.max_speed_kmh == 90.0
    assert CONFIG.route_deviation.tolerance_km == 3.0

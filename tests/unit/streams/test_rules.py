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


def test_only_weighbridges_weigh():
    """A weight sent by a checkpoint the registry knows no weighbridge at (an estimate) is
    kept, and not judged."""
    assert not REG.checkpoint("BN-TUSON").weighbridge
    assert REG.checkpoint("BN-BACGIANG").weighbridge
    decl = declaration()
    guessed = [decl, scan(decl.shipment_id, "BN-TUSON", 10, observed_weight_kg=2400)]
    assert alerts_of(guessed, Rule.WEIGHT_CHANGE) == []
    weighed = [decl, scan(decl.shipment_id, "BN-BACGIANG", 10, observed_weight_kg=2400)]
    assert alerts_of(weighed, Rule.WEIGHT_CHANGE)


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


def test_a_province_the_declared_route_itself_re_enters_is_no_loop():
    """Nội Bài (Hà Nội) -> Bắc Ninh -> Hà Nội markets: the route leaves Hà Nội and comes
    back by declaration; an extra scan on the way changes nothing."""
    route = ["HN-NOIBAI", "BN-TUSON", "BN-BACGIANG", "HN-NINHHIEP", "HN-DONGXUAN"]
    decl = declaration(checkpoint_id="HN-NOIBAI", declared_route=route)
    stops = [("HN-NOIBAI", "inbound"), ("BN-TUSON", "passing"), ("BN-BACGIANG", "passing"),
             ("HY-PHONOI", "passing"),  # one scan off the route
             ("HN-NINHHIEP", "passing"), ("HN-DONGXUAN", "inbound")]  # fmt: skip
    assert alerts_of(_trip(decl, stops), Rule.CIRCULAR_ROUTING) == []
    # the same scans against a route that does not come back to Hà Nội: a loop
    one_way = declaration(
        checkpoint_id="HN-NOIBAI", declared_route=["HN-NOIBAI", "BN-TUSON", "BN-BACGIANG"]
    )
    (alert,) = alerts_of(_trip(one_way, stops), Rule.CIRCULAR_ROUTING)
    assert [e.checkpoint_id for e in alert.evidence] == ["HN-NINHHIEP", "HN-DONGXUAN"]
    assert alert.evidence[0].detail == "back in HN after leaving it"


def test_coming_back_more_often_than_the_declared_route_does_is_a_loop():
    route = ["HN-NOIBAI", "BN-TUSON", "HN-NINHHIEP"]  # back to Hà Nội once, by declaration
    decl = declaration(checkpoint_id="HN-NOIBAI", declared_route=route)
    stops = [
        ("HN-NOIBAI", "inbound"),
        ("BN-TUSON", "passing"),
        ("BN-BACGIANG", "passing"),
        ("HN-NINHHIEP", "passing"),
        ("HN-DONGXUAN", "passing"),
        ("BN-TUSON", "passing"),
        ("BN-BACGIANG", "passing"),  # back to Bắc Ninh: loop
        ("HN-NINHHIEP", "passing"),
        ("HN-DONGXUAN", "inbound"),
    ]  # and to Hà Nội again
    first, latest = alerts_of(_trip(decl, stops), Rule.CIRCULAR_ROUTING)  # a revision each
    assert [e.checkpoint_id for e in first.evidence] == ["BN-TUSON", "BN-BACGIANG"]
    assert [(e.checkpoint_id, e.detail) for e in latest.evidence] == [
        ("BN-TUSON", "back in BN after leaving it"),
        ("BN-BACGIANG", "back in BN after leaving it"),
        ("HN-NINHHIEP", "back in HN after leaving it"),
        ("HN-DONGXUAN", "back in HN after leaving it"),
    ]
    assert latest.revision == 2


def test_a_second_entry_with_no_exit_between_is_a_re_import():
    decl = declaration()
    events = _trip(decl, [("LS-HUUNGHI", "inbound"), ("LS-CHILANG", "passing"),
                          ("LS-TANTHANH", "inbound"), ("BN-BACGIANG", "passing")])  # fmt: skip
    (alert,) = alerts_of(events, Rule.CIRCULAR_ROUTING)
    (evidence,) = alert.evidence
    assert evidence.checkpoint_id == "LS-TANTHANH"
    assert evidence.detail == (
        "entered the country again with no exit since entering at LS-HUUNGHI"
    )
    # at a port or an airport too
    by_air = _trip(declaration(), [("HN-NOIBAI", "inbound"), ("BN-BACGIANG", "passing"),
                                   ("HP-DINHVU", "inbound")])  # fmt: skip
    assert alerts_of(by_air, Rule.CIRCULAR_ROUTING)


def test_two_inbound_readings_in_a_row_at_one_gate_are_one_crossing():
    decl = declaration()
    events = _trip(decl, [("LS-HUUNGHI", "inbound"), ("LS-HUUNGHI", "inbound"),
                          ("LS-CHILANG", "passing"), ("BN-BACGIANG", "passing")])  # fmt: skip
    assert alerts_of(events, Rule.CIRCULAR_ROUTING) == []


def test_an_exit_at_a_port_or_airport_counts_and_only_entry_points_say_where_the_border_is():
    by_sea = _trip(declaration(), [("LS-HUUNGHI", "inbound"), ("BN-BACGIANG", "passing"),
                                   ("HP-DINHVU", "outbound"),
                                   ("QN-CAILAN", "inbound")])  # fmt: skip
    (alert,) = alerts_of(by_sea, Rule.CIRCULAR_ROUTING)
    assert alert.evidence[0].detail == "re-entered the country after leaving it at HP-DINHVU"
    # inbound and outbound at an inland station or a market are about that place, not the
    # country: arriving at a market and leaving it again is no entry and no exit
    inland = _trip(declaration(), [("LS-HUUNGHI", "inbound"), ("LS-DONGKINH", "inbound"),
                                   ("LS-DONGKINH", "outbound"), ("BN-BACGIANG", "inbound"),
                                   ("BN-BACGIANG", "outbound")])  # fmt: skip
    assert alerts_of(inland, Rule.CIRCULAR_ROUTING) == []
    # exit and entry again, both declared: still a loop (the declaration cannot launder it)
    route = ["LS-HUUNGHI", "LS-CHILANG", "LS-TANTHANH", "LS-TANTHANH", "BN-BACGIANG"]
    declared = declaration(declared_route=route)
    loop = [("LS-HUUNGHI", "inbound"), ("LS-CHILANG", "passing"), ("LS-TANTHANH", "outbound"),
            ("LS-TANTHANH", "inbound"), ("BN-BACGIANG", "passing")]  # fmt: skip
    assert alerts_of(_trip(declared, loop), Rule.CIRCULAR_ROUTING)


@settings(max_examples=60, deadline=None)
@given(
    route=st.lists(st.sampled_from(sorted(REG.checkpoints)), min_size=2, max_size=9),
    entry=st.booleans(),
)
def test_following_the_declared_route_is_never_a_loop(route, entry):
    """Whatever the declared route (provinces left and re-entered, a gate passed twice),
    scans along it, in order, at a truck's pace, raise no circular_routing."""
    decl = declaration(checkpoint_id=route[0], declared_route=route)
    first = "inbound" if entry and REG.checkpoint(route[0]).kind.is_entry_point else "passing"
    events = [decl] + [
        scan(decl.shipment_id, cp, 600 * i, direction=first if i == 0 else "passing")
        for i, cp in enumerate(route)
    ]
    assert alerts_of(events, Rule.CIRCULAR_ROUTING) == []


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

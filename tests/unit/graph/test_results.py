"""Query results that are computed in Python: the localities a trace went through, its
GeoJSON, and the parameter checks both backends share."""

from datetime import datetime, timedelta

import pytest

from graph.exceptions import QueryError
from graph.results import MAX_ROWS, Passage, ShipmentTrace, check_page, check_window
from schemas import VIETNAM_TZ, load_registry

REG = load_registry()
T = datetime(2026, 11, 25, 8, tzinfo=VIETNAM_TZ)


def _passage(n: int, checkpoint: str, retracted: bool = False) -> Passage:
    return Passage(
        shipment_id="S",
        event_id=f"E{n}",
        occurred_at=T + timedelta(hours=n),
        checkpoint_id=checkpoint,
        locality=REG.checkpoint(checkpoint).locality,
        direction="passing",
        retracted=retracted,
    )


TRACE = ShipmentTrace(
    shipment_id="S",
    passages=[
        _passage(0, "LS-HUUNGHI"),
        _passage(1, "LS-CHILANG"),
        _passage(2, "BN-BACGIANG", retracted=True),
        _passage(3, "BN-TUSON"),
        _passage(4, "HN-DONGXUAN"),
    ],
    alerts=[],
)


def test_localities_in_order_without_repeats_or_retracted_passages():
    assert TRACE.localities == ["LS", "BN", "HN"]


def test_geojson_is_a_line_through_standing_passages_and_a_point_each():
    geo = TRACE.geojson(REG)
    assert geo["type"] == "FeatureCollection"
    line, *points = geo["features"]
    assert line["geometry"]["type"] == "LineString"
    standing = ["LS-HUUNGHI", "LS-CHILANG", "BN-TUSON", "HN-DONGXUAN"]
    assert [p["properties"]["checkpoint_id"] for p in points] == standing
    for xy, cp in zip(line["geometry"]["coordinates"], standing, strict=True):
        assert xy == [REG.checkpoint(cp).lon, REG.checkpoint(cp).lat]  # GeoJSON: lon, lat
    assert points[0]["properties"]["occurred_at"] == "2026-11-25T08:00:00+07:00"


def test_a_single_passage_has_no_line():
    trace = ShipmentTrace(shipment_id="S", passages=[_passage(0, "LS-HUUNGHI")], alerts=[])
    assert [f["geometry"]["type"] for f in trace.geojson(REG)["features"]] == ["Point"]


def test_windows_and_pages_are_checked():
    check_window(T, T + timedelta(seconds=1))
    with pytest.raises(QueryError, match="ends"):
        check_window(T, T)
    check_page(MAX_ROWS, 0)
    for limit, offset in [(0, 0), (MAX_ROWS + 1, 0), (10, -1)]:
        with pytest.raises(QueryError):
            check_page(limit, offset)

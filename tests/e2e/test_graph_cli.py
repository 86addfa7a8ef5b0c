"""`goodsflow graph ...` questions as an investigator runs them, against the real Neo4j."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from tests.e2e.cli import goodsflow
from tests.factories import ROUTE
from tests.graph_world import build_world


@pytest.fixture
def world(neo4j_driver, settings, event_time_window, monkeypatch):
    return build_world(neo4j_driver, settings, monkeypatch)


def _window(world):
    return ["--since", world.t0.isoformat(), "--until", (world.t0 + timedelta(days=1)).isoformat()]


def test_trace_prints_the_route_in_vietnam_time_and_the_alert_in_both_languages(world):
    result = goodsflow("graph", "trace", world.a.shipment_id)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Cửa khẩu quốc tế Hữu Nghị (Lạng Sơn)" in out  # names keep their diacritics
    assert world.t0.strftime("%Y-%m-%d %H:%M") in out  # T0 is Vietnam time already
    assert "route_deviation" in out and "Lô hàng" in out and "Shipment" in out
    geo = json.loads(goodsflow("graph", "trace", world.a.shipment_id, "--geojson").stdout)
    assert geo["features"][0]["geometry"]["type"] == "LineString"


def test_passed_as_csv_and_hotspots_as_json(world):
    result = goodsflow("graph", "passed", "--checkpoint", ROUTE[0], *_window(world), "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["shipment_id"] for r in rows] == [
        world.a.shipment_id,
        world.c.shipment_id,
        world.b.shipment_id,
    ]
    assert rows[0]["occurred_at"] == world.t0.isoformat()
    hot = json.loads(goodsflow("graph", "hotspots", *_window(world), "--json").stdout)
    assert {(h["id"], h["alerts"], h["seizures"]) for h in hot} == {
        ("TN-THAINGUYEN", 1, 0),
        (world.caught.checkpoint_id, 0, 1),
    }


def test_neighbours_and_connect(world):
    result = goodsflow("graph", "neighbours", "driver", world.a.driver_id, "--json")
    assert result.returncode == 0, result.stderr
    ids = {n["id"] for n in json.loads(result.stdout)["nodes"]}
    assert {world.a.shipment_id, world.b.shipment_id, world.caught.seizure_id} <= ids
    party, plate = world.a.shipper.party_id, world.b.vehicle_plate
    result = goodsflow("graph", "connect", "party", party, "vehicle", plate)
    assert result.returncode == 0, result.stderr
    assert "DRIVEN_BY" in result.stdout and world.b.event_id in result.stdout


def test_bad_input_and_unknown_ids_get_a_clear_error_not_a_traceback(world):
    unknown = goodsflow("graph", "trace", "SHP-does-not-exist")
    assert unknown.returncode == 1
    assert "SHP-does-not-exist is not in the graph" in unknown.stderr
    bad_date = goodsflow("graph", "flows", "--since", "hôm qua", "--until", "2027-01-01")
    assert bad_date.returncode == 2 and "'hôm qua' is not a date" in bad_date.stderr
    backwards = goodsflow("graph", "hotspots", "--since", "2027-01-02", "--until", "2027-01-01")
    assert backwards.returncode == 1 and "ends" in backwards.stderr
    neither = goodsflow("graph", "passed", *_window(world))
    assert neither.returncode == 1 and "a checkpoint or a locality" in neither.stderr
    for result in (unknown, bad_date, backwards, neither):
        assert "Traceback" not in result.stderr


def test_rings_writes_a_ranked_report_with_evidence(world, tmp_path):
    out = tmp_path / "rings.json"
    result = goodsflow("graph", "rings", *_window(world), "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["rings"], result.stdout
    top = report["rings"][0]  # B's seizure ranks the ring holding B first
    assert top["rank"] == 1 and top["seized_shipments"] == 1
    members = {m["entity"] for m in top["members"]}
    assert f"driver:{world.a.driver_id}" in members  # shared by A and the seized B
    for member in top["members"]:  # each member comes with the declarations that tie it
        assert member["event_ids"] and set(member["event_ids"]) <= {
            world.a.event_id,
            world.b.event_id,
            world.c.event_id,
        }
    assert f"#1 score {top['score']}" in result.stdout


def test_a_localitys_risk_queue_at_the_terminal(world):
    """`goodsflow alerts queue`: the day's queue from the graph, in Vietnamese by default,
    in English, as JSON; a bad locality or day is a clear error."""
    alert = world.alerts[-1]
    locality, day = alert.localities[0], world.t0.date().isoformat()
    result = goodsflow("alerts", "queue", "--locality", locality, "--day", day)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Hàng đợi rủi ro") and "1 lô có cảnh báo" in lines[0]
    assert lines[1].split()[:2] == ["1.", world.a.shipment_id] and alert.rule.value in lines[1]
    assert alert.alert_id in result.stdout and "Lô hàng" in result.stdout
    english = goodsflow("alerts", "queue", "--locality", locality, "--day", day, "--lang", "en")
    assert english.stdout.startswith("Risk queue of") and "Shipment" in english.stdout
    entries = json.loads(
        goodsflow("alerts", "queue", "--locality", locality, "--day", day, "--json").stdout
    )
    (entry,) = [e for e in entries if not e["sampled"]]  # (the floor may sample B or C)
    assert (entry["rank"], entry["shipment_id"], entry["sampled"]) == (
        1,
        world.a.shipment_id,
        False,
    )
    assert entry["alerts"][0]["alert_id"] == alert.alert_id and 0 < entry["risk"] <= 1
    unknown = goodsflow("alerts", "queue", "--locality", "XX", "--day", day)
    assert unknown.returncode == 2 and "unknown locality 'XX'" in unknown.stderr
    bad_day = goodsflow("alerts", "queue", "--locality", locality, "--day", "hôm nay")
    assert bad_day.returncode == 2 and "--day" in bad_day.stderr

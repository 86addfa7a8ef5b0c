"""The HTTP API over the embedded store (no server): tokens, JSON errors with the right
status codes, and the answers of the queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from goodsflow.evaluation import InProcessDetection
from graph.api import create_app
from graph.embedded import EmbeddedGraph
from graph.embedded_queries import EmbeddedQueries
from graph.exceptions import GraphUnavailable
from producers.simulation import SimulationConfig, Simulator
from schemas import VIETNAM_TZ, load_registry, parse_event

REG = load_registry()
TOKEN = "t0ken-for-the-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def world():
    config = SimulationConfig(shipments=120, seed=5, days=2, crackdown_days=2, seizure_share=0.3)
    simulated = list(Simulator(config).events())
    alerts = [a for a, _ in InProcessDetection().run(simulated)]
    graph = EmbeddedGraph(REG)
    graph.write([parse_event(e.line) for e in simulated], alerts)
    return config, simulated, alerts, EmbeddedQueries(graph)


@pytest.fixture(scope="module")
def client(world):
    checks = {"neo4j": lambda: True, "kafka": lambda: True}
    return TestClient(create_app(world[3], [TOKEN], checks, REG))


def test_a_request_without_a_valid_token_is_401(client, world):
    sid = world[1][0].shipment_id
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": TOKEN},
    ):
        response = client.get(f"/shipments/{sid}", headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "error": "unauthorised",
            "message": "a valid bearer token is required",
        }
        assert response.headers["www-authenticate"] == "Bearer"


def test_health_ready_and_the_openapi_document_need_no_token(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {
        "status": "ready",
        "checks": {"neo4j": "ok", "kafka": "ok"},
    }
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/shipments/{shipment_id}", "/alerts", "/alerts/{alert_id}", "/connections"} <= set(
        paths
    )


def test_not_ready_when_a_check_fails(world):
    app = create_app(world[3], [TOKEN], {"neo4j": lambda: False, "kafka": lambda: True}, REG)
    response = TestClient(app).get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"neo4j": "unavailable", "kafka": "ok"}


def test_trace_and_its_geojson(client, world):
    alert = world[2][0]
    response = client.get(f"/shipments/{alert.shipment_id}", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["shipment_id"] == alert.shipment_id and body["localities"]
    assert alert.alert_id in {a["alert_id"] for a in body["alerts"]}
    geo = client.get(f"/shipments/{alert.shipment_id}/route.geojson", headers=AUTH).json()
    assert geo["type"] == "FeatureCollection"


def test_alerts_of_a_locality_and_one_alert_with_its_evidence(client, world):
    alert = next(a for a in world[2] if a.status == "open")
    code = alert.localities[0]
    listed = client.get("/alerts", params={"locality": code, "status": "open"}, headers=AUTH).json()
    assert alert.alert_id in {a["alert_id"] for a in listed}
    assert all(code in a["localities"] and a["status"] == "open" for a in listed)
    detail = client.get(f"/alerts/{alert.alert_id}", headers=AUTH).json()
    assert {f["event_id"] for f in detail["evidence"]} == {e.event_id for e in alert.evidence}
    assert all(f["recorded"] for f in detail["evidence"])
    assert detail["explanation_vi"] and detail["severity_factors"]


def test_places_flows_hotspots_and_links(client, world):
    start = world[0].start
    window = {"since": start.isoformat(), "until": (start + timedelta(days=3)).isoformat()}
    passages = client.get("/localities/LS/passages", params=window, headers=AUTH).json()
    assert passages and all(p["locality"] == "LS" for p in passages)
    assert client.get("/flows", params=window, headers=AUTH).json()
    assert client.get("/hotspots", params={**window, "by": "locality"}, headers=AUTH).json()
    seizure = next(parse_event(e.line) for e in world[1] if e.event_type == "seizure.recorded")
    near = client.get(f"/entities/driver/{seizure.driver_id}/neighbourhood", headers=AUTH).json()
    assert seizure.seizure_id in {n["id"] for n in near["nodes"]}
    params = {"from": f"driver:{seizure.driver_id}", "to": f"vehicle:{seizure.vehicle_plate}"}
    paths = client.get("/connections", params=params, headers=AUTH).json()
    assert paths and paths[0]["nodes"][0]["id"] == seizure.driver_id


def test_a_localitys_risk_queue_for_a_day(client, world):
    """The riskiest first, each with its open alerts; a day without alerts or traffic is an
    empty queue, not an error."""
    from graph.risk_queue import day_queue
    from streams import load_detection_config

    cfg = load_detection_config().queue
    alert = max(world[2], key=lambda a: a.severity)
    day = alert.raised_at.astimezone(VIETNAM_TZ).date()
    code = alert.localities[0]
    response = client.get(f"/localities/{code}/queue", params={"day": str(day)}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = day_queue(world[3], code, day, cfg).entries()
    assert body == [e.model_dump(mode="json") for e in expected]
    assert alert.shipment_id in {e["shipment_id"] for e in body}
    first = body[0]
    assert first["rank"] == 1 and not first["sampled"] and first["alerts"]
    assert first["risk"] == max(e["risk"] for e in body)
    assert set(first["alerts"][0]) >= {"alert_id", "rule", "severity", "explanation_vi"}
    empty = client.get(f"/localities/{code}/queue", params={"day": "2020-01-01"}, headers=AUTH)
    assert empty.status_code == 200 and empty.json() == []


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/shipments/SHP-none", {}, 404, "SHP-none is not in the graph"),
        ("/alerts/ALR-none", {}, 404, "ALR-none"),
        (
            "/checkpoints/XX-NOWHERE/passages",
            {"since": "2026-11-01", "until": "2026-11-02"},
            404,
            "XX-NOWHERE",
        ),
        (
            "/localities/LS/passages",
            {"since": "hôm qua", "until": "2026-11-02"},
            422,
            "since: 'hôm qua'",
        ),
        ("/localities/LS/passages", {"until": "2026-11-02"}, 422, "since is required"),
        ("/flows", {"since": "2026-11-02", "until": "2026-11-01"}, 422, "ends"),
        ("/flows", {"since": "2026-11-01", "until": "2026-11-02", "limit": 5000}, 422, "limit"),
        (
            "/flows",
            {"since": "2026-11-01", "until": "2026-11-02", "category": "gold"},
            422,
            "category",
        ),
        ("/entities/ship/x/neighbourhood", {}, 422, "kind"),
        ("/entities/driver/D-none/neighbourhood", {"hops": 9}, 422, "hops"),
        ("/entities/driver/D-none/neighbourhood", {}, 404, "driver D-none"),
        ("/connections", {"from": "party", "to": "vehicle:x"}, 422, "from: 'party' is not kind:id"),
        ("/nowhere", {}, 404, "Not Found"),
        ("/localities/XX/queue", {}, 404, "locality XX"),
        ("/localities/LS/queue", {"day": "25/11/2026"}, 422, "day"),
        ("/localities/LS/queue", {"day": "0001-01-01"}, 422, "out of range"),
    ],
)
def test_bad_requests_get_json_errors_with_the_right_status(client, path, params, status, says):
    response = client.get(path, params=params, headers=AUTH)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and says in body["message"], body


class FakeUnavailableQueries:
    """A backend whose database is down."""

    def trace(self, *args, **kwargs):
        raise GraphUnavailable("connection refused")


def test_an_unavailable_graph_is_503_without_a_stack_trace():
    app = create_app(FakeUnavailableQueries(), [TOKEN], {}, REG)  # type: ignore[arg-type]
    response = TestClient(app).get("/shipments/S", headers=AUTH)
    assert response.status_code == 503
    assert response.json() == {
        "error": "graph_unavailable",
        "message": "the graph cannot answer now: connection refused",
    }

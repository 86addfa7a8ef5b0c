"""The case workflow in the graph (embedded store), through the case desk and the HTTP API:
steps kept with who, how and when; the alert showing its latest step whatever the arrival
order; transferred alerts in the receiving locality's list; outcomes per rule; and every
refusal with its status code."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from goodsflow.embedded import EmbeddedCases
from goodsflow.evaluation import InProcessDetection
from graph.api import create_app
from graph.cases import CaseDesk, kafka_publisher, token_print
from graph.embedded import EmbeddedGraph
from graph.embedded_queries import EmbeddedQueries
from graph.exceptions import NotFound, QueryError
from producers.exceptions import PublishError
from producers.simulation import SimulationConfig, Simulator
from schemas import (
    VIETNAM_TZ,
    CaseAction,
    CaseConflict,
    CaseOutcome,
    Rule,
    load_registry,
    parse_event,
)
from tests.factories import case_step, free_port

REG = load_registry()
TOKEN = "t0ken-for-the-case-tests-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def traffic():
    config = SimulationConfig(
        shipments=120, seed=11, days=2, scenario_share=0.4, crackdown_days=2, seizure_share=0.3
    )
    simulated = list(Simulator(config).events())
    return [parse_event(e.line) for e in simulated]


@pytest.fixture
def world(traffic):
    """A fresh pipeline over the same traffic: detection, graph, queries and a desk."""
    detector = InProcessDetection()
    graph = EmbeddedGraph(REG)
    alerts = []
    for event in traffic:
        alerts += detector.handle(event)
    graph.write(traffic, alerts)
    queries = EmbeddedQueries(graph)
    desk = CaseDesk(queries, EmbeddedCases(detector, graph), REG, wait_s=0)
    latest = {a.alert_id: a for a in alerts}
    open_alerts = sorted(
        (a for a in latest.values() if a.status == "open"), key=lambda a: a.alert_id
    )
    return graph, queries, desk, open_alerts, detector


def test_steps_are_kept_in_order_with_who_how_and_when(world):
    graph, queries, desk, alerts, _ = world
    alert = alerts[0]
    elsewhere = next(c for c in REG.localities if c not in alert.localities)
    ack = desk.act(alert.alert_id, CaseAction.ACKNOWLEDGE, actor="Lê Văn Cường", via="cli:cuong")
    assert ack.landed and ack.alert.case_status == "acknowledged"
    moved = desk.act(
        alert.alert_id, CaseAction.TRANSFER, actor="Lê Văn Cường", via="cli:cuong",
        to_locality=elsewhere, note="Xe đã rời địa bàn, chuyển tiếp theo dõi",
    )  # fmt: skip
    assert (moved.alert.case_status, moved.alert.assigned_to) == ("transferred", elsewhere)
    assert moved.step.from_locality is None  # it was with every involved locality
    assert moved.step.alert == alert  # as detection sent it, for the receiving task force
    assert ack.step.alert is None
    desk.act(alert.alert_id, CaseAction.ACKNOWLEDGE, actor="Phạm Thu", via="api:abc")
    closed = desk.act(
        alert.alert_id, CaseAction.CLOSE, actor="Phạm Thu", via="api:abc",
        outcome=CaseOutcome.CONFIRMED, note="Hàng giả, đã lập biên bản",
    )  # fmt: skip
    detail = queries.alert(alert.alert_id)
    assert (detail.case_status, detail.case_outcome, detail.assigned_to) == (
        "closed",
        "confirmed",
        elsewhere,
    )
    assert [(s.action, s.actor, s.via) for s in detail.case_steps] == [
        ("acknowledge", "Lê Văn Cường", "cli:cuong"),
        ("transfer", "Lê Văn Cường", "cli:cuong"),
        ("acknowledge", "Phạm Thu", "api:abc"),
        ("close", "Phạm Thu", "api:abc"),
    ]
    assert detail.case_steps[1].note.startswith("Xe đã rời")
    assert detail.case_steps[-1].step_id == closed.step.step_id
    # stamped in Vietnam time (UTC+7)
    assert all(s.at.utcoffset() == VIETNAM_TZ.utcoffset(None) for s in detail.case_steps)
    # in the graph: CaseStep nodes ON the alert, the transfer TO its locality
    step_node = ("CaseStep", moved.step.step_id)
    types = {d["type"]: v for _, v, d in graph.g.out_edges(step_node, data=True)}
    assert types == {"ON": ("Alert", alert.alert_id), "TO": ("Locality", elsewhere)}


def test_a_transferred_alert_shows_in_the_receiving_locality_list(world):
    _, queries, desk, alerts, _ = world
    alert = alerts[1]
    to = next(c for c in REG.localities if c not in alert.localities)
    assert alert.alert_id not in {a.alert_id for a in queries.alerts(locality=to, limit=1000)}
    desk.act(alert.alert_id, CaseAction.TRANSFER, actor="A", via="cli:a", to_locality=to, note="n")
    theirs = queries.alerts(locality=to, case_status="transferred", limit=1000)
    assert [a.alert_id for a in theirs] == [alert.alert_id]
    assert theirs[0].assigned_to == to
    untouched = queries.alerts(case_status="new", limit=1000)
    assert alert.alert_id not in {a.alert_id for a in untouched}
    assert len(untouched) == len(queries.alerts(limit=1000)) - 1
    with pytest.raises(QueryError, match="case_status must be one of"):
        queries.alerts(case_status="done")


def test_the_desk_refuses_what_does_not_fit(world):
    _, _, desk, alerts, _ = world
    alert = alerts[2]
    with pytest.raises(NotFound, match="ALR-none"):
        desk.act("ALR-none", CaseAction.ACKNOWLEDGE, actor="A", via="cli:a")
    with pytest.raises(QueryError, match="unknown locality 'XX'"):
        desk.act(
            alert.alert_id, CaseAction.TRANSFER, actor="A", via="cli:a", to_locality="XX", note="n"
        )
    with pytest.raises(QueryError, match="transfer needs a note"):
        desk.act(alert.alert_id, CaseAction.TRANSFER, actor="A", via="cli:a", to_locality="HP")
    with pytest.raises(QueryError, match="actor"):
        desk.act(alert.alert_id, CaseAction.ACKNOWLEDGE, actor="  ", via="cli:a")
    desk.act(alert.alert_id, CaseAction.ACKNOWLEDGE, actor="A", via="cli:a")
    with pytest.raises(CaseConflict, match="already acknowledged by A"):
        desk.act(alert.alert_id, CaseAction.ACKNOWLEDGE, actor="B", via="cli:b")
    desk.act(
        alert.alert_id, CaseAction.CLOSE, actor="A", via="cli:a", outcome=CaseOutcome.FALSE_ALARM
    )
    with pytest.raises(CaseConflict, match="closed"):
        desk.act(
            alert.alert_id, CaseAction.TRANSFER, actor="A", via="cli:a", to_locality="HP", note="n"
        )
    assert [s.action for s in desk.alerts.alert(alert.alert_id).case_steps] == [
        "acknowledge",
        "close",
    ]


def test_outcomes_are_counted_per_rule_with_the_precision(world):
    _, queries, desk, alerts, _ = world
    by_rule: dict[str, list] = {}
    for a in alerts:
        by_rule.setdefault(a.rule.value, []).append(a)
    rule, some = max(by_rule.items(), key=lambda kv: len(kv[1]))
    assert len(some) >= 4
    for a, outcome in zip(
        some, ["confirmed", "confirmed", "confirmed", "false_alarm"], strict=False
    ):
        desk.act(a.alert_id, CaseAction.CLOSE, actor="A", via="cli:a", outcome=CaseOutcome(outcome))
    counts = {r.rule: r for r in queries.outcomes()}
    assert set(counts) == {r.value for r in Rule}
    assert (counts[rule].confirmed, counts[rule].false_alarm, counts[rule].precision) == (
        3,
        1,
        0.75,
    )
    assert all(r.precision is None for name, r in counts.items() if name != rule)
    code = some[0].localities[0]
    mine = {r.rule: r for r in queries.outcomes(locality=code)}[rule]
    assert mine.confirmed + mine.false_alarm == sum(code in a.localities for a in some[:4])
    later = some[0].raised_at.replace(year=some[0].raised_at.year + 20)
    assert {r.rule: r for r in queries.outcomes(since=later)}[rule].confirmed == 0
    # detection counted the same closes
    assert dict(world[4].handler.context.outcomes()[rule]) == {"confirmed": 3, "false_alarm": 1}


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(5)), st.booleans())
def test_the_graph_shows_the_same_case_whatever_order_the_steps_arrive_in(order, alert_last):
    config = SimulationConfig(shipments=30, seed=3, days=1, crackdown_days=1, seizure_share=0.3)
    events = [parse_event(e.line) for e in Simulator(config).events()]
    detector = InProcessDetection()
    alerts = [a for e in events for a in detector.handle(e)]
    alert = alerts[0]
    steps = [
        case_step(alert, "acknowledge", 0),
        case_step(alert, "transfer", 1, to_locality="HP"),
        case_step(alert, "acknowledge", 2, actor="Đội QLTT Hải Phòng"),
        case_step(alert, "transfer", 3, to_locality="QN"),
        case_step(alert, "close", 4, outcome=CaseOutcome.FALSE_ALARM),
    ]
    graphs = []
    for arrival in (range(5), order):
        graph = EmbeddedGraph(REG)
        if not alert_last:
            graph.write(events, alerts)
        for i in arrival:
            graph.write(steps=[steps[i], steps[i]])  # with a redelivery
        if alert_last:  # the steps came first (another topic): the alert is bare until now
            assert alert.alert_id not in {
                a.alert_id for a in EmbeddedQueries(graph).alerts(limit=1000)
            }
            graph.write(events, alerts)
        graphs.append(EmbeddedQueries(graph).alert(alert.alert_id))
    assert graphs[0] == graphs[1]
    assert (graphs[1].case_status, graphs[1].case_outcome, graphs[1].assigned_to) == (
        "closed",
        "false_alarm",
        "QN",
    )
    assert [s.step_id for s in graphs[1].case_steps] == [s.step_id for s in steps]


# -- the HTTP API --------------------------------------------------------------------------------
@pytest.fixture
def client(world):
    _, queries, desk, _, _ = world
    checks = {"neo4j": lambda: True, "kafka": lambda: True}
    return TestClient(create_app(queries, [TOKEN], checks, REG, desk))


def test_case_steps_over_http(client, world):
    alert = world[3][3]
    url = f"/alerts/{alert.alert_id}"
    paths = client.get("/openapi.json").json()["paths"]
    assert {f"/alerts/{{alert_id}}/{a}" for a in ("acknowledge", "transfer", "close")} <= set(paths)
    assert client.post(f"{url}/acknowledge", json={"actor": "A"}).status_code == 401
    response = client.post(
        f"{url}/acknowledge", json={"actor": "Hoàng Minh", "note": "đã nhận"}, headers=AUTH
    )
    assert response.status_code == 200
    body = response.json()
    assert body["landed"] and body["alert"]["case_status"] == "acknowledged"
    assert body["step"]["via"] == f"api:{token_print(TOKEN)}" and TOKEN not in response.text
    handover = {"actor": "Hoàng Minh", "to_locality": "CB", "note": "Chuyển Cao Bằng"}
    response = client.post(f"{url}/transfer", json=handover, headers=AUTH)
    assert response.status_code == 200 and response.json()["alert"]["assigned_to"] == "CB"
    listed = client.get(
        "/alerts", params={"locality": "CB", "case_status": "transferred"}, headers=AUTH
    )
    assert alert.alert_id in {a["alert_id"] for a in listed.json()}
    response = client.post(
        f"{url}/close", json={"actor": "Đội CB", "outcome": "confirmed"}, headers=AUTH
    )
    assert response.status_code == 200
    detail = client.get(url, headers=AUTH).json()
    assert [s["action"] for s in detail["case_steps"]] == ["acknowledge", "transfer", "close"]
    assert detail["case_outcome"] == "confirmed"
    outcomes = {r["rule"]: r for r in client.get("/outcomes", headers=AUTH).json()}
    assert outcomes[alert.rule.value] == {
        "rule": alert.rule.value, "confirmed": 1, "false_alarm": 0, "precision": 1.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/alerts/ALR-none/acknowledge", {"actor": "A"}, 404, "ALR-none"),
        ("{url}/acknowledge", {}, 422, "actor"),
        ("{url}/close", {"actor": "A"}, 422, "outcome"),
        ("{url}/close", {"actor": "A", "outcome": "maybe"}, 422, "outcome"),
        (
            "{url}/transfer",
            {"actor": "A", "to_locality": "XX", "note": "n"},
            422,
            "unknown locality 'XX'",
        ),
        ("{url}/transfer", {"actor": "A", "to_locality": "HP"}, 422, "note"),
        ("{url}/transfer", {"actor": "A", "to_locality": "HP", "note": ""}, 422, "note"),
    ],
)
def test_bad_case_steps_get_a_clear_error(client, world, path, body, status, says):
    url = f"/alerts/{world[3][4].alert_id}"
    response = client.post(path.format(url=url), json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert says in response.json()["message"]
    assert world[1].alert(world[3][4].alert_id).case_steps == []  # nothing recorded


def test_a_conflict_is_409_and_kafka_down_is_503_with_nothing_recorded(world):
    _, queries, desk, alerts, _ = world
    client = TestClient(create_app(queries, [TOKEN], {}, REG, desk))
    url = f"/alerts/{alerts[5].alert_id}"
    assert client.post(f"{url}/acknowledge", json={"actor": "A"}, headers=AUTH).status_code == 200
    again = client.post(f"{url}/acknowledge", json={"actor": "B"}, headers=AUTH)
    assert again.status_code == 409 and again.json()["error"] == "case_conflict"

    def down(step):
        raise PublishError("cannot reach Kafka at 127.0.0.1:1")

    broken = TestClient(
        create_app(queries, [TOKEN], {}, REG, CaseDesk(queries, down, REG, wait_s=0))
    )
    response = broken.post(
        f"/alerts/{alerts[6].alert_id}/acknowledge", json={"actor": "A"}, headers=AUTH
    )
    assert response.status_code == 503 and "cannot reach Kafka" in response.json()["message"]
    assert queries.alert(alerts[6].alert_id).case_steps == []
    without = TestClient(create_app(queries, [TOKEN], {}, REG))
    response = without.post(
        f"/alerts/{alerts[6].alert_id}/acknowledge", json={"actor": "A"}, headers=AUTH
    )
    assert response.status_code == 503


def test_a_step_not_yet_in_the_graph_is_202(world):
    _, queries, _, alerts, _ = world
    sent = []
    desk = CaseDesk(queries, sent.append, REG, wait_s=0.2)
    client = TestClient(create_app(queries, [TOKEN], {}, REG, desk))
    response = client.post(
        f"/alerts/{alerts[7].alert_id}/acknowledge", json={"actor": "A"}, headers=AUTH
    )
    assert response.status_code == 202
    assert response.json()["landed"] is False and response.json()["alert"] is None
    assert [s.step_id for s in sent] == [response.json()["step"]["step_id"]]


def test_the_kafka_publisher_says_when_kafka_cannot_be_reached(world):
    address = f"127.0.0.1:{free_port()}"
    publish = kafka_publisher(address, "alert-cases")
    with pytest.raises(PublishError, match=f"cannot reach Kafka at {address}"):
        publish(case_step(world[3][0], "acknowledge"))

"""The case workflow as the task forces use it, on the real stack: an alert the worker
raised from real Kafka traffic, acknowledged, transferred and closed with
`goodsflow alerts ack|transfer|close`, read back with `show` and `outcomes`, and acted on
through the real `goodsflow api` process; every step goes through the alert-cases topic
and the worker into Neo4j."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from graph.exceptions import NotFound
from graph.queries import Neo4jQueries
from schemas import VIETNAM_TZ, Rule, alert_id_for
from tests.e2e.cli import goodsflow, running_api
from tests.e2e.test_api import TOKEN
from tests.factories import ROUTE, declaration, free_port, scan
from tests.stack import publisher


def raise_route_deviation(settings, neo4j_driver) -> str:
    """Real traffic with an off-route scan; waits until the worker's alert is in Neo4j."""
    decl = declaration()
    events = [
        decl,
        scan(decl.shipment_id, ROUTE[0], 10),
        scan(decl.shipment_id, "TN-THAINGUYEN", 120),
    ]
    with publisher(settings) as kafka:
        for event in events:
            kafka.publish(event)
    alert_id = alert_id_for(decl.shipment_id, Rule.ROUTE_DEVIATION)
    queries = Neo4jQueries(neo4j_driver, settings.neo4j.database)
    deadline = time.monotonic() + 90
    while True:
        try:
            queries.alert(alert_id)
            return alert_id
        except NotFound:
            assert time.monotonic() < deadline, "the worker raised no alert"
            time.sleep(0.5)


def test_a_task_force_works_a_case_from_the_terminal(settings, worker, neo4j_driver):
    started = datetime.now(VIETNAM_TZ)
    alert_id = raise_route_deviation(settings, neo4j_driver)

    ack = goodsflow("alerts", "ack", alert_id, "--by", "Đỗ Văn Hùng", "--note", "Đã nhận")
    assert ack.returncode == 0, ack.stderr
    assert "case: acknowledged" in ack.stdout
    again = goodsflow("alerts", "ack", alert_id, "--by", "Người khác")
    assert again.returncode == 1 and "already acknowledged by Đỗ Văn Hùng" in again.stderr
    assert "Traceback" not in again.stderr

    no_note = goodsflow("alerts", "transfer", alert_id, "--to", "QN", "--by", "Đỗ Văn Hùng")
    assert no_note.returncode == 2 and "--note" in no_note.stderr
    bad = goodsflow("alerts", "transfer", alert_id, "--to", "ZZ", "--note", "x", "--by", "H")
    assert bad.returncode == 1 and "unknown locality 'ZZ'" in bad.stderr
    moved = goodsflow(
        "alerts", "transfer", alert_id, "--to", "QN", "--by", "Đỗ Văn Hùng",
        "--note", "Xe chạy về Móng Cái, đề nghị Quảng Ninh theo dõi",
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    assert "case: transferred, with QN" in moved.stdout

    closed = goodsflow(
        "alerts", "close", alert_id, "--outcome", "confirmed", "--by", "Vũ Thị Lan",
        "--note", "Hàng giả nhãn hiệu", "--json",
    )  # fmt: skip
    assert closed.returncode == 0, closed.stderr
    receipt = json.loads(closed.stdout)
    assert receipt["landed"] and receipt["alert"]["case_outcome"] == "confirmed"
    assert receipt["step"]["via"].startswith("cli:")
    late = goodsflow("alerts", "close", alert_id, "--outcome", "false_alarm", "--by", "X")
    assert late.returncode == 1 and "closed (confirmed) by Vũ Thị Lan" in late.stderr

    shown = goodsflow("alerts", "show", alert_id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "Hồ sơ: đã đóng -> QN xác nhận vi phạm" in lines
    assert any("chuyển giao -> QN  Đỗ Văn Hùng" in line for line in lines)
    assert "      Xe chạy về Móng Cái, đề nghị Quảng Ninh theo dõi" in lines
    assert any(line.startswith("      - ") and "Thái Nguyên" in line for line in lines)
    english = goodsflow("alerts", "show", alert_id, "--lang", "en").stdout
    assert "Case: closed -> QN confirmed" in english

    counted = goodsflow("alerts", "outcomes", "--since", started.isoformat(), "--json")
    assert counted.returncode == 0, counted.stderr
    rows = {r["rule"]: r for r in json.loads(counted.stdout)}
    assert rows["route_deviation"]["confirmed"] >= 1
    table = goodsflow("alerts", "outcomes", "--since", started.isoformat(), "--locality", "QN")
    assert "route_deviation" in table.stdout and "precision" in table.stdout
    missing = goodsflow("alerts", "ack", "ALR-none", "--by", "A")
    assert missing.returncode == 1 and "ALR-none is not in the graph" in missing.stderr


@pytest.fixture
def api(tmp_path: Path):
    with running_api(tmp_path, TOKEN, free_port()) as base:
        yield base


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Authorization", f"Bearer {TOKEN}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_case_steps_through_the_api_process(settings, worker, neo4j_driver, api):
    alert_id = raise_route_deviation(settings, neo4j_driver)
    status, body = post(f"{api}/alerts/{alert_id}/transfer", {
        "actor": "Ngô Bảo", "to_locality": "HP", "note": "Hàng chuyển xuống cảng",
    })  # fmt: skip
    assert status == 200, body
    assert body["landed"] and body["alert"]["assigned_to"] == "HP"
    assert body["step"]["via"].startswith("api:") and TOKEN not in json.dumps(body)
    status, body = post(
        f"{api}/alerts/{alert_id}/close", {"actor": "Đội HP", "outcome": "false_alarm"}
    )
    assert status == 200 and body["alert"]["case_status"] == "closed"
    status, body = post(f"{api}/alerts/{alert_id}/acknowledge", {"actor": "Đội HP"})
    assert status == 409 and body["error"] == "case_conflict"
    status, body = post(f"{api}/alerts/{alert_id}/close", {"actor": "Đội HP", "outcome": "?"})
    assert status == 422 and "outcome" in body["message"]


def test_a_step_taken_while_the_worker_is_down_lands_when_it_is_back(
    settings, worker, neo4j_driver, api
):
    """The worker is killed (SIGKILL): the API still takes the step (202, on the topic, not
    yet in the graph), and the restarted worker gives it to detection and the graph."""
    alert_id = raise_route_deviation(settings, neo4j_driver)
    worker.stop(signal.SIGKILL)
    assert not worker.alive()
    try:
        status, body = post(
            f"{api}/alerts/{alert_id}/close", {"actor": "Đội QN", "outcome": "confirmed"}
        )
        assert status == 202 and body["landed"] is False, body
        step_id = body["step"]["step_id"]
    finally:
        offset = worker.log_path.stat().st_size
        worker.start()
    queries = Neo4jQueries(neo4j_driver, settings.neo4j.database)
    deadline = time.monotonic() + 90
    while [s.step_id for s in queries.alert(alert_id).case_steps] != [step_id]:
        assert time.monotonic() < deadline, worker.log_tail(offset)
        time.sleep(0.5)
    assert queries.alert(alert_id).case_outcome == "confirmed"
    # detection had it first (the worker logs the rule's running count at each close)
    assert f"alert {alert_id} closed (confirmed) by Đội QN" in worker.log_tail(offset, 10_000)

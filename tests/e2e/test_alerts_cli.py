"""`goodsflow alerts ...` as a task force uses it: subscriptions kept in their file, and
alerts read at a terminal from the real Kafka alerts topic."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

from kafka import KafkaProducer

from schemas import VIETNAM_TZ, Alert, Evidence, Rule, alert_id_for
from tests.e2e.cli import goodsflow
from tests.factories import case_step, unique


def test_subscribe_list_and_unsubscribe(tmp_path):
    env = {"GOODSFLOW_DELIVERY__SUBSCRIPTIONS": str(tmp_path / "subs.db")}
    added = goodsflow(
        "alerts", "subscribe", "--name", "Đội QLTT Lạng Sơn", "--locality", "LS",
        "--rule", "route_deviation", "--min-severity", "70",
        "--webhook", "https://ls.example/goodsflow", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    sub_id = added.stdout.split()[1].rstrip(":")
    assert "signing secret" in added.stdout
    listed = json.loads(goodsflow("alerts", "subscriptions", "--json", env=env).stdout)
    assert [(s["id"], s["locality"], s["min_severity"]) for s in listed] == [(sub_id, "LS", 70)]
    assert "secret" not in listed[0]
    bad = goodsflow("alerts", "subscribe", "--name", "x", "--locality", "ZZ", "--webhook",
                    "https://x/y", env=env)  # fmt: skip
    assert bad.returncode == 1 and "unknown locality 'ZZ'" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert goodsflow("alerts", "unsubscribe", sub_id, env=env).returncode == 0
    again = goodsflow("alerts", "unsubscribe", sub_id, env=env)
    assert again.returncode == 1 and sub_id in again.stderr


def _alert(shipment_id: str, severity: int, localities: list[str]) -> Alert:
    when = datetime(2026, 11, 25, 8, tzinfo=VIETNAM_TZ)
    return Alert(
        alert_id=alert_id_for(shipment_id, Rule.ROUTE_DEVIATION), revision=1,
        rule=Rule.ROUTE_DEVIATION, severity=severity, severity_factors={"off_route_scan": severity},
        shipment_id=shipment_id, localities=localities,
        evidence=[Evidence(event_id=unique("EV"), checkpoint_id="LS-HUUNGHI", occurred_at=when)],
        explanation_vi=f"Lô hàng {shipment_id} lệch tuyến",
        explanation_en=f"Shipment {shipment_id} off route", raised_at=when,
    )  # fmt: skip


def test_tail_prints_matching_alerts_and_handovers_as_they_arrive(settings, topics):
    low, other, wanted = unique("SHP"), unique("SHP"), unique("SHP")
    proc = subprocess.Popen(
        [sys.executable, "-m", "goodsflow", "alerts", "tail", "--locality", "LS",
         "--min-severity", "70", "--count", "2", "--timeout", "60", "--lang", "vi"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    assert "reading alerts and handovers from now" in proc.stderr.readline()
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    elsewhere = _alert(other, 90, ["QN"])
    for alert in (_alert(low, 40, ["LS"]), elsewhere, _alert(wanted, 90, ["LS"])):
        producer.send(
            settings.topics.alerts,
            key=alert.shipment_id.encode(),
            value=alert.model_dump_json().encode(),
        )
    # Quang Ninh hands its alert to Lang Son; a transfer elsewhere is not for LS
    to_ls = case_step(elsewhere, "transfer", to_locality="LS", note="Nhờ Lạng Sơn", alert=elsewhere)
    to_hp = case_step(elsewhere, "transfer", 1, to_locality="HP", note="x", alert=elsewhere)
    for step in (to_hp, to_ls):
        producer.send(
            settings.topics.alert_cases,
            key=step.shipment_id.encode(),
            value=step.model_dump_json().encode(),
        )
    producer.flush()
    producer.close()
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0
    assert wanted in out and f"Lô hàng {wanted} lệch tuyến" in out and "Lạng Sơn" in out
    assert "CHUYỂN GIAO QN -> Lạng Sơn: Nguyễn Văn An" in out and "    Nhờ Lạng Sơn" in out
    assert other in out  # the alert handed over, under its handover line
    assert low not in out and "Hải Phòng" not in out

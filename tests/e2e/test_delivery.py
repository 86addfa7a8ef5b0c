"""`goodsflow alerts deliver` as a real process between the real Kafka and real local HTTP
receivers: one that verifies every signature and refuses the first tries of each delivery
(retries, order, no loss), one that never answers (dead letters with the last error; it has
a lane of its own, so the first receiver does not wait for it). Records on the alerts topic
that are no alert (garbage, no value, a foreign producer's JSON) are dead-lettered with
their reason while the process goes on; its metrics are served over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.request import urlopen

from kafka import KafkaProducer

from graph.cases import kafka_publisher
from graph.writer import Neo4jGraphWriter
from schemas import VIETNAM_TZ, Alert, Evidence, Rule, alert_id_for, load_registry
from streams.delivery import SignatureError, SubscriptionStore, verify
from streams.delivery.signing import HEADER
from streams.readers import TopicTail
from tests.factories import case_step, free_port, unique
from tests.graph_world import private_start

WHEN = datetime(2026, 11, 25, 8, tzinfo=VIETNAM_TZ)


class Receiver:
    """A webhook receiver on a real port, in a thread."""

    def __init__(self, secret: str = "", refuse_first: int = 0, hang: bool = False) -> None:
        self.secret, self.refuse_first, self.hang = secret, refuse_first, hang
        self.tries: dict[str, int] = {}
        self.accepted: list[tuple[str, int]] = []
        self.bad_signatures: list[str] = []
        self.handovers: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.hang:
                    time.sleep(5)  # longer than the sender's attempt timeout
                    return
                try:
                    verify(receiver.secret, self.headers.get(HEADER), body)
                except SignatureError as exc:
                    receiver.bad_signatures.append(str(exc))
                    self.send_response(401)
                    self.end_headers()
                    return
                delivery = self.headers["X-Goodsflow-Delivery-Id"]
                n = receiver.tries[delivery] = receiver.tries.get(delivery, 0) + 1
                if n <= receiver.refuse_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                doc = json.loads(body)
                if self.headers["X-Goodsflow-Kind"] == "handover":
                    receiver.handovers.append(doc)
                else:
                    receiver.accepted.append((doc["shipment_id"], doc["revision"]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def _alert(
    shipment_id: str, localities: list[str], revision: int = 1, severity: int = 75, at=WHEN
) -> Alert:
    return Alert(
        alert_id=alert_id_for(shipment_id, Rule.WEIGHT_CHANGE), revision=revision,
        rule=Rule.WEIGHT_CHANGE, severity=severity, severity_factors={"weight_change": severity},
        shipment_id=shipment_id, localities=localities,
        evidence=[Evidence(event_id=unique("EV"), checkpoint_id="LS-HUUNGHI", occurred_at=at)],
        explanation_vi="Khối lượng thay đổi", explanation_en="Weight changed", raised_at=at,
    )  # fmt: skip


def _publish(settings, alerts: list[Alert]) -> None:
    """The alerts on the alerts topic, keyed by shipment, as the worker sends them."""
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for alert in alerts:
        key, value = alert.shipment_id.encode(), alert.model_dump_json().encode()
        producer.send(settings.topics.alerts, key=key, value=value)
    producer.flush()
    producer.close()


def _wait(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@contextmanager
def _delivering(
    tmp_path: Path,
    subs: SubscriptionStore,
    metrics_port: int | None = None,
    **more_env: str,
) -> Iterator[subprocess.Popen[str]]:
    """`goodsflow alerts deliver` running (3 tries, 1 s each, metrics on a free port),
    stopped cleanly after."""
    env = {
        **os.environ,
        "GOODSFLOW_DELIVERY__METRICS_PORT": str(metrics_port or free_port()),
        "GOODSFLOW_DELIVERY__SUBSCRIPTIONS": str(subs.path),
        "GOODSFLOW_DELIVERY__MAX_TRIES": "3",
        "GOODSFLOW_DELIVERY__ATTEMPT_TIMEOUT_S": "1",
        "GOODSFLOW_DELIVERY__BACKOFF_BASE_S": "0.2",
        "GOODSFLOW_DELIVERY__BACKOFF_CAP_S": "0.5",
        # a group of its own: starts at the end, not at what earlier runs left behind
        "GOODSFLOW_DELIVERY__GROUP": unique("goodsflow-delivery-test"),
        **more_env,
    }
    log_path = tmp_path / "deliver.log"
    log = log_path.open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "goodsflow", "alerts", "deliver"],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _wait(lambda: "delivering alerts" in log_path.read_text(), 60, "start")
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0, log_path.read_text()


def test_signed_deliveries_retried_in_order_and_dead_lettered(settings, topics, tmp_path):
    subs = SubscriptionStore(tmp_path / "subs.db", load_registry())
    healthy = Receiver(refuse_first=2)
    hung = Receiver(hang=True)
    healthy.secret = subs.add("LS team", "LS", healthy.url).secret
    hung_sub = subs.add("LS backup", "LS", hung.url)
    try:
        with _delivering(tmp_path, subs):
            _deliver_and_check(settings, healthy, hung_sub)
    finally:
        healthy.close()
        hung.close()


def _deliver_and_check(settings, healthy: Receiver, hung_sub) -> None:
    """Alerts for LS: the healthy receiver gets each once, in order; the hung one's
    deliveries are dead-lettered."""
    ours = [unique("SHP") for _ in range(3)]
    elsewhere = unique("SHP")
    sent = [  # one shipment's alert twice (a new revision): those two must stay in order
        _alert(ours[0], ["LS"]),
        _alert(elsewhere, ["QN"]),  # no subscription for Quang Ninh
        _alert(ours[1], ["LS", "HN"]),
        _alert(ours[0], ["LS"], revision=2),
        _alert(ours[2], ["HN", "LS"]),
    ]
    expected = [(a.shipment_id, a.revision) for a in sent if a.shipment_id in ours]

    def dead_ours(records) -> list[dict]:
        values = [json.loads(r.value) for r in records]  # deliveries' dead letters only
        return [v for v in values if v.get("kind") == "alert" and v["alert"]["shipment_id"] in ours]

    with TopicTail(settings.bootstrap_servers, settings.topics.alerts_delivery_dlq) as dlq:
        _publish(settings, sent)

        def accepted_ours() -> list[tuple[str, int]]:
            # other tests may send alerts that involve Lang Son meanwhile
            return [a for a in healthy.accepted if a[0] in ours]

        _wait(lambda: len(accepted_ours()) >= len(expected), 60, "the healthy receiver")
        dead = dead_ours(dlq.collect(lambda rs: len(dead_ours(rs)) >= len(expected), 90))
    # each delivery accepted once; one shipment's revisions in order; nothing else
    assert sorted(accepted_ours()) == sorted(expected)
    first = [rev for sid, rev in accepted_ours() if sid == ours[0]]
    assert first == [1, 2]
    assert all(n == 3 for n in healthy.tries.values())  # two refusals, then accepted, each
    assert healthy.bad_signatures == []
    assert sorted((d["alert"]["shipment_id"], d["revision"]) for d in dead) == sorted(expected)
    assert {d["subscription_id"] for d in dead} == {hung_sub.id}
    assert all(d["attempts"] == 3 and "Timeout" in d["last_error"] for d in dead)
    assert all(d["stage"] == "deliver" for d in dead)


def test_a_transfer_is_handed_to_the_receiving_locality(settings, topics, tmp_path):
    subs = SubscriptionStore(tmp_path / "subs.db", load_registry())
    hp, ls = Receiver(refuse_first=1), Receiver()
    hp.secret = subs.add("HP team", "HP", hp.url, min_severity=90).secret
    ls.secret = subs.add("LS team", "LS", ls.url).secret
    alert = _alert(unique("SHP"), ["LS"])  # severity 75
    publish = kafka_publisher(settings.bootstrap_servers, settings.topics.alert_cases)
    try:
        with _delivering(tmp_path, subs):
            publish(case_step(alert, "acknowledge"))  # hands nothing over
            handed = case_step(alert, "transfer", 1, to_locality="HP", alert=alert,
                               note="Xe về cảng Đình Vũ, nhờ Hải Phòng kiểm tra")  # fmt: skip
            publish(handed)
            _wait(lambda: hp.handovers, 60, "the handover")
            time.sleep(1)  # anything else would have come by now
    finally:
        hp.close()
        ls.close()
    (doc,) = hp.handovers
    assert doc["kind"] == "handover" and doc["step"]["step_id"] == handed.step_id
    assert (
        doc["step"]["note"].startswith("Xe về cảng") and doc["alert"]["alert_id"] == alert.alert_id
    )
    assert hp.bad_signatures == [] and list(hp.tries.values()) == [2]  # retried once
    assert ls.handovers == [] and ls.accepted == []


def test_a_queue_only_subscription_gets_the_alerts_of_shipments_in_the_risk_queue(
    settings, topics, tmp_path, neo4j_driver
):
    """Lang Son's queue holds 2 shipments a day (a config of the test's own). The graph
    holds three open alerts of a day of their own (severity 90, 85, 80); then four alerts
    come on the topic: a new shipment at 95 (in the queue: counted from the record itself,
    which the graph does not hold), one at 50 (not), and the graph's 80 (third: out) and 90
    (in). The plain subscription gets all four, the queue-only one two."""
    day = private_start() + timedelta(hours=10)
    registry = load_registry()
    writer = Neo4jGraphWriter(neo4j_driver, settings.neo4j.database)
    writer.init_schema(registry)
    known = {sev: _alert(unique("SHP"), ["LS"], severity=sev, at=day) for sev in (90, 85, 80)}
    writer.write((), list(known.values()))
    config = tmp_path / "detection.toml"
    shipped = (Path(__file__).parents[2] / "streams" / "detection.toml").read_text("utf-8")
    assert "capacity_per_day = 30" in shipped
    config.write_text(shipped.replace("capacity_per_day = 30", "capacity_per_day = 2"), "utf-8")
    new_top = _alert(unique("SHP"), ["LS"], severity=95, at=day + timedelta(hours=1))
    low = _alert(unique("SHP"), ["LS"], severity=50, at=day + timedelta(hours=1))
    sent = [new_top, low, known[80], known[90]]
    ours = {a.shipment_id for a in sent}
    subs = SubscriptionStore(tmp_path / "subs.db", registry)
    plain, queued = Receiver(), Receiver()
    plain.secret = subs.add("LS all", "LS", plain.url).secret
    queued.secret = subs.add("LS queue", "LS", queued.url, queue_only=True).secret
    port = free_port()
    try:
        with _delivering(
            tmp_path, subs, metrics_port=port, GOODSFLOW_DETECTION__CONFIG=str(config)
        ):
            _publish(settings, sent)

            def mine(receiver: Receiver) -> set[str]:
                return {sid for sid, _ in receiver.accepted if sid in ours}

            def counted() -> float:
                text = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
                return _metric(text, "goodsflow_delivery_deliveries_total", outcome="not_queued")

            _wait(lambda: len(mine(plain)) == 4, 60, "the plain subscription")
            _wait(lambda: len(mine(queued)) == 2 and counted() >= 2, 60, "the queue's")
            time.sleep(1)  # anything else would have come by now
    finally:
        plain.close()
        queued.close()
    assert mine(queued) == {new_top.shipment_id, known[90].shipment_id}
    assert queued.bad_signatures == [] and plain.bad_signatures == []


def _metric(text: str, name: str, **labels: str) -> float:
    """One sample of a Prometheus text exposition (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if m and m[1] == name and ",".join(sorted((m[2] or "").split(","))).strip(",") == want:
            return float(m[3])
    return 0.0


def test_records_that_are_no_alert_are_dead_lettered_and_delivery_goes_on(
    settings, topics, tmp_path
):
    """Garbage bytes, a record without a value and a foreign producer's JSON on the alerts
    topic each end in alerts-delivery-dlq with their reason and source; the process keeps
    running, delivers the next alert, and its /metrics counts all of it."""
    subs = SubscriptionStore(tmp_path / "subs.db", load_registry())
    receiver = Receiver()
    receiver.secret = subs.add("LS team", "LS", receiver.url).secret
    port = free_port()
    key = unique("FOREIGN").encode()
    bad = [
        b"\xff\xfe garbage \x00",
        None,  # a tombstone
        json.dumps({"order_id": 7, "status": "shipped", "note": "đơn hàng"}).encode(),
    ]
    alert = _alert(unique("SHP"), ["LS"])

    def mine(records) -> list:
        sources = [json.loads(r.value).get("source", {}) for r in records]
        return [r for r, s in zip(records, sources, strict=True) if s.get("key") == key.decode()]

    try:
        with (
            _delivering(tmp_path, subs, metrics_port=port) as proc,
            TopicTail(settings.bootstrap_servers, settings.topics.alerts_delivery_dlq) as dlq,
        ):
            producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
            for value in bad:  # one partition, so the alert comes after them
                producer.send(settings.topics.alerts, key=key, value=value)
            producer.send(settings.topics.alerts, key=key, value=alert.model_dump_json().encode())
            producer.flush()
            producer.close()
            _wait(lambda: (alert.shipment_id, 1) in receiver.accepted, 60, "the alert after them")
            dead = mine(dlq.collect(lambda rs: len(mine(rs)) >= len(bad), 60))
            assert proc.poll() is None, "the delivery process stopped"

            def scrape() -> str:
                with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                    return resp.read().decode()

            # the lag gauge is refreshed every few seconds
            _wait(lambda: "goodsflow_delivery_consumer_lag_records{" in scrape(), 20, "the lag")
            text = scrape()
    finally:
        receiver.close()

    garbage, tombstone, foreign = (json.loads(r.value) for r in dead)
    assert garbage["reason"].startswith("not JSON") and garbage["stage"] == "read"
    assert garbage["payload_base64"] and garbage["payload_truncated"] is False
    assert tombstone["reason"].startswith("no value") and tombstone["payload_size"] == 0
    assert foreign["reason"].startswith("not a valid alert: alert_id: Field required")
    assert foreign["payload_text"] == bad[2].decode()
    sources = [d["source"] for d in (garbage, tombstone, foreign)]
    assert {s["topic"] for s in sources} == {settings.topics.alerts}
    assert [s["offset"] for s in sources] == sorted(s["offset"] for s in sources)

    alerts = settings.topics.alerts
    assert _metric(text, "goodsflow_delivery_records_read_total", topic=alerts) >= 4
    assert _metric(text, "goodsflow_delivery_deliveries_total", outcome="delivered") >= 1
    for reason in ("not_json", "no_value", "invalid_alert"):
        assert _metric(text, "goodsflow_delivery_dead_letters_total", reason=reason) >= 1
    assert _metric(text, "goodsflow_delivery_latency_seconds_count", kind="alert") >= 1
    assert receiver.bad_signatures == []

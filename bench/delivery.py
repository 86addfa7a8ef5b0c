"""Webhook delivery throughput: alerts produced to the real Kafka, delivered by a real
`goodsflow alerts deliver` process to local HTTP receivers that accept at once.

Run with the local stack up (goodsflow stack up):

    .venv/bin/python bench/delivery.py [--alerts 3000] [--receivers 3]

Prints deliveries per second from the first alert produced to the last delivery accepted
(every receiver subscribes to every alert: alerts x receivers deliveries).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kafka import KafkaProducer

from goodsflow.settings import load_settings
from schemas import VIETNAM_TZ, Alert, Evidence, Rule, alert_id_for, load_registry
from streams.delivery import SubscriptionStore
from streams.topics import ensure_topics


def receiver(counter: list[int], lock: threading.Lock) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()
            with lock:
                counter[0] += 1

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--receivers", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings()
    ensure_topics(settings.bootstrap_servers, settings.topics)
    folder = Path(tempfile.mkdtemp())
    store = SubscriptionStore(folder / "subs.db", load_registry())
    counter, lock = [0], threading.Lock()
    servers = [receiver(counter, lock) for _ in range(args.receivers)]
    for n, server in enumerate(servers):
        store.add(f"bench {n}", "LS", f"http://127.0.0.1:{server.server_address[1]}/")
    log = (folder / "deliver.log").open("w")
    env = {
        **os.environ,
        "GOODSFLOW_DELIVERY__SUBSCRIPTIONS": str(store.path),
        # a group of its own: starts at the end, not at what tests left on the dev stack
        "GOODSFLOW_DELIVERY__GROUP": f"bench-delivery-{uuid.uuid4().hex[:8]}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "goodsflow", "alerts", "deliver"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        while "delivering alerts" not in (folder / "deliver.log").read_text():
            time.sleep(0.2)
        when = datetime(2026, 11, 25, 8, tzinfo=VIETNAM_TZ)
        run = uuid.uuid4().hex[:8]
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)
        started = time.perf_counter()
        for n in range(args.alerts):
            sid = f"BD{run}-{n:06d}"
            alert = Alert(
                alert_id=alert_id_for(sid, Rule.WEIGHT_CHANGE), revision=1,
                rule=Rule.WEIGHT_CHANGE, severity=70, severity_factors={"w": 70},
                shipment_id=sid, localities=["LS"],
                evidence=[Evidence(event_id=f"{sid}-e", checkpoint_id="LS-HUUNGHI",
                                   occurred_at=when)],
                explanation_vi="vi", explanation_en="en", raised_at=when,
            )  # fmt: skip
            value = alert.model_dump_json().encode()
            producer.send(settings.topics.alerts, key=sid.encode(), value=value)
        producer.flush()
        total = args.alerts * args.receivers
        while counter[0] < total:
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        print(
            f"{total:,} deliveries ({args.alerts:,} alerts x {args.receivers} receivers) in "
            f"{seconds:.1f} s = {total / seconds:,.0f} deliveries/s"
        )
        print(json.dumps({"deliveries_per_s": round(total / seconds)}))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for server in servers:
            server.shutdown()


if __name__ == "__main__":
    main()

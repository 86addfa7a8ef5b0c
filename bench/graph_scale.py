"""The graph at scale: 100,000 simulated shipments (with their alerts) loaded into the local
Neo4j, then each investigator query asked through the HTTP API (a real `goodsflow api`
process), reporting the load time and each query's p50 and p95 latency.

Run with the local stack up (goodsflow stack up); it takes several minutes:

    .venv/bin/python bench/graph_scale.py [--shipments 100000] [--requests 200]

The traffic gets its own ids and window of event time, so it can run against a graph that
already holds other data (it adds to it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta

from goodsflow.bootstrap import neo4j_driver
from goodsflow.evaluation import InProcessDetection
from goodsflow.settings import load_settings
from graph.writer import Neo4jGraphWriter
from producers.simulation import SimulationConfig, Simulator
from schemas import VIETNAM_TZ, load_registry, parse_event

TOKEN = "bench-token-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_api(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GOODSFLOW_API__TOKENS": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "goodsflow", "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the API did not start")


def timed_get(url: str) -> tuple[float, int]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    return (time.perf_counter() - started) * 1000, status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipments", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(5)
    run = uuid.uuid4().hex[:6]
    # a month of its own in years detection believes (2000..2099) and the tests do not use
    start = datetime(2031, 1, 1, tzinfo=VIETNAM_TZ) + timedelta(days=rng.randrange(20_000))
    days = 30
    config = SimulationConfig(
        shipments=args.shipments,
        seed=13,
        start=start,
        days=days,
        id_prefix=f"SC{run}-",
        entity_namespace=f"S{run}-",
    )
    simulated = list(Simulator(config).events())
    alerts = [a for a, _ in InProcessDetection().run(simulated)]
    events = [parse_event(e.line) for e in simulated]
    print(f"{args.shipments:,} shipments: {len(events):,} events, {len(alerts):,} alerts")

    settings = load_settings()
    with neo4j_driver(settings) as driver:
        writer = Neo4jGraphWriter(driver, settings.neo4j.database)
        writer.init_schema(load_registry())
        started = time.perf_counter()
        for i in range(0, len(events), args.batch):
            writer.write(events[i : i + args.batch])
        for i in range(0, len(alerts), args.batch):
            writer.write((), alerts[i : i + args.batch])
        seconds = time.perf_counter() - started
    print(
        f"load: {seconds:.0f} s ({len(events) / seconds:,.0f} events/s, batches of "
        f"{args.batch}; alerts included)"
    )

    declarations = [e for e in events if e.event_type == "shipment.declared"]
    open_alerts = sorted({a.alert_id for a in alerts if a.status == "open"})
    registry = load_registry()
    checkpoints = sorted(registry.checkpoints)
    localities = sorted(registry.localities)

    def window(length_days: int) -> dict[str, str | int]:
        since = start + timedelta(days=rng.uniform(0, days - length_days))
        return {
            "since": since.isoformat(),
            "until": (since + timedelta(days=length_days)).isoformat(),
        }

    def q(params: dict[str, str | int]) -> str:
        return urllib.parse.urlencode(params)

    def shipment() -> str:
        return rng.choice(declarations).shipment_id

    def connection() -> str:
        return "/connections?" + q(
            {
                "from": f"party:{rng.choice(declarations).shipper.party_id}",
                "to": f"vehicle:{rng.choice(declarations).vehicle_plate}",
                "max_hops": 4,
            }
        )

    medicine: dict[str, str | int] = {"category": "medicine"}
    asks = {
        "trace a shipment": lambda: f"/shipments/{shipment()}",
        "route as GeoJSON": lambda: f"/shipments/{shipment()}/route.geojson",
        "passed a checkpoint (1 day)": (
            lambda: f"/checkpoints/{rng.choice(checkpoints)}/passages?{q(window(1))}"
        ),
        "passed a locality (1 day, medicine)": (
            lambda: f"/localities/{rng.choice(localities)}/passages?{q(window(1) | medicine)}"
        ),
        "corridor flows (7 days)": lambda: f"/flows?{q(window(7))}",
        "hotspots by checkpoint (7 days)": lambda: f"/hotspots?{q(window(7))}",
        "alerts of a locality (open)": (
            lambda: f"/alerts?{q({'locality': rng.choice(localities), 'status': 'open'})}"
        ),
        "one alert with evidence": lambda: f"/alerts/{rng.choice(open_alerts)}",
        "neighbourhood of a driver (2 hops)": (
            lambda: f"/entities/driver/{rng.choice(declarations).driver_id}/neighbourhood"
        ),
        "connection party to vehicle (4 hops)": connection,
    }
    port = free_port()
    api = start_api(port)
    base = f"http://127.0.0.1:{port}"
    try:
        print(f"{'query (through the API)':<40} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}")
        results = {}
        for name, make in asks.items():
            for _ in range(5):  # warm up
                timed_get(base + make())
            times, errors = [], 0
            for _ in range(args.requests):
                ms, status = timed_get(base + make())
                times.append(ms)
                errors += status >= 500
            times.sort()
            p50 = statistics.median(times)
            p95 = times[int(0.95 * (len(times) - 1))]
            results[name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "errors": errors}
            print(f"{name:<40} {p50:>8.1f} {p95:>8.1f} {errors:>7}")
        print(json.dumps(results))
    finally:
        api.terminate()
        api.wait(timeout=10)


if __name__ == "__main__":
    main()

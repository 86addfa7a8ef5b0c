"""Graph writes against the local Neo4j. Run with the local stack up (goodsflow stack up).

``compare`` (the default): the same simulated traffic loaded twice, batched (one
transaction per batch of events, UNWIND) and one transaction per event, with events/s,
nodes + relationships created per second, and their ratio; also how long the client spends
packing Bolt parameters per row, with the driver's Rust extension and without. Each load
gets its own shipment ids, parties, vehicles, drivers and window of event time, so the
second load merges nothing into the first one's nodes.

    .venv/bin/python bench/graph_write.py [compare] [--shipments 2000] [--batch 500]

``worker``: the stream worker's shape on a grown graph. A preload of simulated shipments
with their alerts (loaded once, kept: later runs find it and skip it), then runs of fresh
shipments that share the preload's parties and drivers (a long-lived graph's entities keep
coming back), written as the worker writes them: ``write_isolating`` per batch of events
and, for events+alerts, the alerts that batch raised as a second, separate write. Runs
alternate between the two shapes; medians and ranges of events/s, CPU per event of this
process and (read from /proc, when the local stack's pid file is there) of Neo4j, which
vary less than wall time on a shared machine, and the server's time by statement (the
summary's available + consumed times, summed over a run's transactions).
Event time is in 2027 to 2029, years the detection believes (streams/event_time.py) and
no test writes in (tests/conftest.py and tests/graph_world.py keep theirs before today and
from 2030).

    .venv/bin/python bench/graph_write.py worker [--preload 50000] [--shipments 5000] \
        [--batch 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import neo4j

from goodsflow.bootstrap import neo4j_driver
from goodsflow.evaluation import InProcessDetection
from goodsflow.settings import load_settings
from graph.cypher import WRITE_QUERIES
from graph.projection import project
from graph.writer import Neo4jGraphWriter, bolt_row
from producers.simulation import SimulationConfig, Simulator
from schemas import VIETNAM_TZ, Alert, Event, load_registry, parse_event

COUNTS = "MATCH (n) WITH count(n) AS nodes MATCH ()-[r]->() RETURN nodes, count(r) AS rels"
SHIPMENTS_LIKE = "MATCH (s:Shipment) WHERE s.shipment_id STARTS WITH $prefix RETURN count(s) AS n"
PRELOAD_SEED = 17
PRELOAD_NAMESPACE = "WPRE-"  # the preload's parties, vehicles and drivers, shared by runs


def traffic(shipments: int) -> list[Event]:
    run = uuid.uuid4().hex[:6]
    start = datetime(9000, 1, 1, tzinfo=VIETNAM_TZ) + timedelta(days=random.randrange(300_000))
    config = SimulationConfig(
        shipments=shipments,
        seed=11,
        start=start,
        days=3,
        id_prefix=f"BW{run}-",
        entity_namespace=f"W{run}-",
    )
    return [parse_event(e.line) for e in Simulator(config).events()]


def counts(driver: neo4j.Driver) -> tuple[int, int]:
    records, _, _ = driver.execute_query(COUNTS)
    return records[0]["nodes"], records[0]["rels"]


def load(
    writer: Neo4jGraphWriter, driver: neo4j.Driver, events: list[Event], batch: int
) -> dict[str, float]:
    before = counts(driver)
    started = time.perf_counter()
    for i in range(0, len(events), batch):
        writer.write(events[i : i + batch])
    seconds = time.perf_counter() - started
    after = counts(driver)
    created = (after[0] - before[0]) + (after[1] - before[1])
    return {"events": len(events), "seconds": seconds, "created": created}


def packing_us_per_row(events: list[Event]) -> dict[str, float]:
    """Client time to pack the projection's rows as Bolt parameters, per row."""
    from neo4j._codec.hydration.bolt.v2 import HydrationHandler
    from neo4j._codec.packstream._common import PackableBuffer
    from neo4j._codec.packstream.v1 import Packer

    rows = [r for rs in project(events).statements().values() for r in rs]
    as_sent = [bolt_row(r) for r in rows]  # times as ISO text, as the writer sends them
    buffer = PackableBuffer()
    packer = Packer(buffer)
    hooks = packer._inject_hooks(HydrationHandler().new_hydration_scope().dehydration_hooks)
    result = {}
    for name, pack, batch in (
        ("python, datetimes", packer._py_pack, rows),
        ("rust, datetimes", packer._pack, rows),
        ("python, text times", packer._py_pack, as_sent),
        ("rust, text times", packer._pack, as_sent),
    ):
        best = float("inf")
        for _ in range(3):
            buffer.clear()
            started = time.perf_counter()
            for row in batch:
                pack(row, hooks)
            best = min(best, time.perf_counter() - started)
        result[name] = best / len(batch) * 1e6
    return result


def compare(args: argparse.Namespace) -> None:
    settings = load_settings()
    shipments = args.shipments or 2000
    batch = args.batch or 500
    with neo4j_driver(settings) as driver:
        writer = Neo4jGraphWriter(driver, settings.neo4j.database)
        writer.init_schema(load_registry())
        load(writer, driver, traffic(300), batch)  # warm up: plans, page cache
        batched_events, single_events = traffic(shipments), traffic(shipments)
        batched = load(writer, driver, batched_events, batch)
        single = load(writer, driver, single_events, 1)
    for name, r in (("batched", batched), ("per event", single)):
        print(
            f"{name:>9}: {r['events']:,} events in {r['seconds']:.1f} s = "
            f"{r['events'] / r['seconds']:,.0f} events/s, "
            f"{r['created'] / r['seconds']:,.0f} nodes+relationships/s"
        )
    ratio = (batched["events"] / batched["seconds"]) / (single["events"] / single["seconds"])
    print(f"batched / per event: {ratio:.1f}x")
    packing = packing_us_per_row(batched_events)
    print(
        "packing Bolt parameters, per row: "
        + ", ".join(f"{k} {v:.1f} us" for k, v in packing.items())
    )


# -- the worker's shape ------------------------------------------------------------------
def worker_traffic(
    shipments: int, seed: int, start: datetime, days: float, id_prefix: str, batch: int
) -> tuple[list[list[Event]], list[list[Alert]]]:
    """Simulated events cut into batches, and the alerts each batch raised (the detection
    handler run over them in order, as the worker's second stage does)."""
    config = SimulationConfig(
        shipments=shipments,
        seed=seed,
        start=start,
        days=days,
        id_prefix=id_prefix,
        entity_namespace=PRELOAD_NAMESPACE,
    )
    detection = InProcessDetection()
    events: list[list[Event]] = []
    alerts: list[list[Alert]] = []
    for n, simulated in enumerate(Simulator(config).events()):
        if n % batch == 0:
            events.append([])
            alerts.append([])
        event = parse_event(simulated.line)
        events[-1].append(event)
        alerts[-1] += detection.handle(event)
    return events, alerts


def preload(writer: Neo4jGraphWriter, driver: neo4j.Driver, shipments: int, batch: int) -> None:
    prefix = f"BWP{shipments}x"
    records, _, _ = driver.execute_query(SHIPMENTS_LIKE, prefix=prefix)
    if records[0]["n"] >= shipments:
        print(f"preload: {records[0]['n']:,} shipments {prefix}* already in the graph")
        return
    start = datetime(2027, 3, 1, tzinfo=VIETNAM_TZ)
    days = max(3.0, shipments / 1700)  # about the simulator's default traffic a day
    events, alerts = worker_traffic(shipments, PRELOAD_SEED, start, days, prefix, batch)
    took = []
    for evs, als in zip(events, alerts, strict=True):
        started = time.perf_counter()
        writer.write_isolating(evs)
        writer.write_isolating((), als)
        took.append(time.perf_counter() - started)
    n, seconds, tenth = sum(map(len, events)), sum(took), max(1, len(took) // 10)
    first, last = (tenth * batch / sum(part) for part in (took[:tenth], took[-tenth:]))
    print(
        f"preload: {shipments:,} shipments, {n:,} events, {sum(map(len, alerts)):,} alerts "
        f"in {seconds:.0f} s ({n / seconds:,.0f} events/s; its first tenth of batches "
        f"{first:,.0f}, its last {last:,.0f})"
    )


class Timed:
    """write_rows as the writer runs it, keeping each statement's server time."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)

    def __call__(self, tx: neo4j.ManagedTransaction, statements: dict[str, list[Any]]) -> int:
        written = 0
        for name, rows in statements.items():
            if rows:
                summary = tx.run(WRITE_QUERIES[name], rows=[bolt_row(r) for r in rows]).consume()
                self.ms[name] += (summary.result_available_after or 0) + (
                    summary.result_consumed_after or 0
                )
                written += len(rows)
        return written


class ServerCpu:
    """CPU seconds the local stack's Neo4j has used (Linux /proc; None elsewhere, or when
    the stack's pid file is not there)."""

    def __init__(self, pid_file: Path) -> None:
        try:
            self.pid: int | None = json.loads(pid_file.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            self.pid = None

    def seconds(self) -> float | None:
        if self.pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_run(
    writer: Neo4jGraphWriter,
    events: list[list[Event]],
    alerts: list[list[Alert]] | None,
    server: ServerCpu,
) -> tuple[float, float, float | None]:
    """Wall seconds, this process's CPU seconds and Neo4j's (or None)."""
    server_before, started, cpu = server.seconds(), time.perf_counter(), time.process_time()
    for i, batch in enumerate(events):
        report = writer.write_isolating(batch)
        assert not report.refused, report.refused
        if alerts is not None and alerts[i]:
            writer.write_isolating((), alerts[i])
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_after = server.seconds()
    if server_before is None or server_after is None:
        return wall, cpu, None
    return wall, cpu, server_after - server_before


def statement_times(
    driver: neo4j.Driver, database: str, events: list[list[Event]], alerts: list[list[Alert]]
) -> dict[str, float]:
    timed = Timed()
    with driver.session(database=database) as session:
        for evs, als in zip(events, alerts, strict=True):
            session.execute_write(timed, project(evs).statements())
            if als:
                session.execute_write(timed, project((), als).statements())
    return dict(timed.ms)


def worker(args: argparse.Namespace) -> None:
    shipments = args.shipments or 5000
    batch = args.batch or 2000
    settings = load_settings()
    rng = random.Random()
    with neo4j_driver(settings) as driver:
        writer = Neo4jGraphWriter(driver, settings.neo4j.database)
        writer.init_schema(load_registry())
        preload(writer, driver, args.preload, batch)
        records, _, _ = driver.execute_query("MATCH (s:Shipment) RETURN count(s) AS n")
        print(f"the graph holds {records[0]['n']:,} shipments")

        def fresh(n: int) -> tuple[list[list[Event]], list[list[Alert]]]:
            start = datetime(2028, 1, 1, tzinfo=VIETNAM_TZ) + timedelta(days=rng.randrange(600))
            prefix = f"BWR{uuid.uuid4().hex[:6]}-"
            seed = rng.randrange(1, 1_000_000)  # parties and drivers of the preload's pools
            return worker_traffic(n, seed, start, max(1.0, n / 1700), prefix, batch)

        server = ServerCpu(args.neo4j_pid_file)
        for _ in range(2):  # plans, the JIT, the page cache
            warm_events, warm_alerts = fresh(1500)
            worker_run(writer, warm_events, warm_alerts, server)
        rates: dict[str, list[float]] = {"events only": [], "events+alerts": []}
        client_ms: dict[str, list[float]] = {shape: [] for shape in rates}
        server_ms: dict[str, list[float]] = {shape: [] for shape in rates}
        for _ in range(args.runs):
            for shape in rates:
                events, alerts = fresh(shipments)
                wall, cpu, server_cpu = worker_run(
                    writer, events, alerts if shape == "events+alerts" else None, server
                )
                n = sum(map(len, events))
                rates[shape].append(n / wall)
                client_ms[shape].append(cpu / n * 1e6)
                extra = f", {sum(map(len, alerts)):,} alerts" if shape != "events only" else ""
                cpus = f"client {cpu / n * 1e6:,.0f}"
                if server_cpu is not None:
                    server_ms[shape].append(server_cpu / n * 1e6)
                    cpus += f", Neo4j {server_cpu / n * 1e6:,.0f}"
                print(
                    f"{shape:>13}: {n:,} events{extra} in {wall:.1f} s = "
                    f"{n / wall:,.0f} events/s (CPU ms per 1,000 events: {cpus})"
                )
        events, alerts = fresh(shipments)
        ms = statement_times(driver, settings.neo4j.database, events, alerts)
    print(f"batches of {batch:,} events, {shipments:,} shipments a run:")
    for shape, values in rates.items():
        cpus = f"client {statistics.median(client_ms[shape]):,.0f}"
        if server_ms[shape]:
            cpus += f", Neo4j {statistics.median(server_ms[shape]):,.0f}"
        print(
            f"{shape:>13}: median {statistics.median(values):,.0f} events/s "
            f"({min(values):,.0f} to {max(values):,.0f}, {len(values)} runs); "
            f"CPU ms per 1,000 events, medians: {cpus}"
        )
    total = sum(ms.values())
    print(f"server time by statement, one events+alerts run ({total / 1000:.1f} s):")
    for name, value in sorted(ms.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<14} {value / 1000:6.2f} s  {value / total:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", nargs="?", choices=("compare", "worker"), default="compare")
    parser.add_argument("--shipments", type=int, help="a load's (a run's) shipments")
    parser.add_argument("--batch", type=int, help="events a batch (500; worker: 2000)")
    parser.add_argument("--preload", type=int, default=50_000, help="worker: shipments")
    parser.add_argument("--runs", type=int, default=3, help="worker: runs of each shape")
    parser.add_argument(
        "--neo4j-pid-file",
        type=Path,
        default=Path(__file__).parents[1] / ".stack/run/neo4j.pid",
        help="worker: the local stack's Neo4j, for its CPU time",
    )
    args = parser.parse_args()
    if args.mode == "compare":
        compare(args)
    else:
        worker(args)


if __name__ == "__main__":
    main()

"""Graph writes: the same simulated traffic loaded twice into the local Neo4j, batched (one
transaction per batch of events, UNWIND) and one transaction per event, with events/s,
nodes + relationships created per second, and their ratio. Also how long the client spends
packing Bolt parameters per row, with the driver's Rust extension and without.

Run with the local stack up (goodsflow stack up):

    .venv/bin/python bench/graph_write.py [--shipments 2000] [--batch 500]

Each load gets its own shipment ids, parties, vehicles, drivers and window of event time,
so the second load merges nothing into the first one's nodes.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import datetime, timedelta

from goodsflow.bootstrap import neo4j_driver
from goodsflow.settings import load_settings
from graph.projection import project
from graph.writer import Neo4jGraphWriter, bolt_row
from producers.simulation import SimulationConfig, Simulator
from schemas import VIETNAM_TZ, Event, load_registry, parse_event

COUNTS = "MATCH (n) WITH count(n) AS nodes MATCH ()-[r]->() RETURN nodes, count(r) AS rels"


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


def counts(driver) -> tuple[int, int]:
    records, _, _ = driver.execute_query(COUNTS)
    return records[0]["nodes"], records[0]["rels"]


def load(writer: Neo4jGraphWriter, driver, events: list[Event], batch: int) -> dict[str, float]:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipments", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    settings = load_settings()
    with neo4j_driver(settings) as driver:
        writer = Neo4jGraphWriter(driver, settings.neo4j.database)
        writer.init_schema(load_registry())
        load(writer, driver, traffic(300), args.batch)  # warm up: plans, page cache
        batched_events, single_events = traffic(args.shipments), traffic(args.shipments)
        batched = load(writer, driver, batched_events, args.batch)
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


if __name__ == "__main__":
    main()

"""Detection throughput on one core: events per second through the in-process detection
handler (streams.handler.DetectionHandler: the engine with the watermark's wake-ups, the
context rules' wait, retention and the detection context fed directly).

    taskset -c 0 .venv/bin/python bench/engine.py [--shipments 20000] [--runs 3]

Events are simulated and parsed first (not timed); the timed loop is handler.handle per
event (state lookup, engine, store, wake-ups). Pinned to one core, it gives the one-core
figure; on a machine that also runs other work, compare medians of several runs. The
worker's own costs (parsing, state JSON, Kafka, Neo4j) are not in it.
"""

from __future__ import annotations

import argparse
import statistics
import time

from producers.simulation import SimulationConfig, Simulator
from schemas import load_registry, parse_event
from streams import load_detection_config
from streams.handler import DetectionHandler, DictStore, ListSink


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipments", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    simulated = Simulator(SimulationConfig(shipments=args.shipments, seed=5)).events()
    events = [parse_event(e.line) for e in simulated]
    config, registry = load_detection_config(), load_registry()
    rates = []
    for run in range(args.runs):
        sink = ListSink()
        handler = DetectionHandler(DictStore(), sink, config, registry)
        started = time.perf_counter()
        for event in events:
            handler.handle(event)
        seconds = time.perf_counter() - started
        alerts = len(sink.alerts)
        rates.append(len(events) / seconds)
        print(
            f"  run {run + 1}: {len(events):,} events, {alerts} alerts in {seconds:.2f} s "
            f"= {rates[-1]:,.0f} events/s ({1e6 / rates[-1]:.1f} us/event)"
        )
    median = statistics.median(rates)
    print(f"engine: median {median:,.0f} events/s ({1e6 / median:.1f} us/event)")


if __name__ == "__main__":
    main()

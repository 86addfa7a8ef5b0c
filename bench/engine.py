"""Detection throughput on one core: events per second through the detection handler (the
engine with per-partition watermarks and wake-ups, as the Faust agent runs it).

    .venv/bin/python bench/engine.py [--shipments 20000] [--runs 3]

Events are simulated and parsed first (not timed); the timed loop is
what the Faust agent does per event: handler.handle (state lookup, engine, store, wake-ups).
Run it pinned to one core for the one-core figure: taskset -c 0 .venv/bin/python ...
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
            f"= {rates[-1]:,.0f} events/s"
        )
    print(f"engine: median {statistics.median(rates):,.0f} events/s")


if __name__ == "__main__":
    main()

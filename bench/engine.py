"""Detection engine throughput on one core: events per second through `streams.process`.

    .venv/bin/python bench/engine.py [--shipments 20000] [--runs 3]

Events are simulated and parsed first (not timed); the timed loop is what the Faust agent
and the embedded runner do per event: look up the shipment's state, process, store it.
Run it pinned to one core for the one-core figure: taskset -c 0 .venv/bin/python ...
"""

from __future__ import annotations

import argparse
import statistics
import time

from producers.simulation import SimulationConfig, Simulator
from schemas import load_registry, parse_event
from streams import ShipmentState, load_detection_config, process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipments", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    events = [
        parse_event(e.line)
        for e in Simulator(SimulationConfig(shipments=args.shipments, seed=5)).events()
    ]
    config, registry = load_detection_config(), load_registry()
    rates = []
    for run in range(args.runs):
        states: dict[str, ShipmentState] = {}
        alerts = 0
        started = time.perf_counter()
        for event in events:
            outcome = process(states.get(event.shipment_id), event, config, registry)
            states[event.shipment_id] = outcome.state
            alerts += len(outcome.alerts)
        seconds = time.perf_counter() - started
        rates.append(len(events) / seconds)
        print(
            f"  run {run + 1}: {len(events):,} events, {alerts} alerts in {seconds:.2f} s "
            f"= {rates[-1]:,.0f} events/s"
        )
    print(f"engine: median {statistics.median(rates):,.0f} events/s")


if __name__ == "__main__":
    main()

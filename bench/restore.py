"""Restart time of a worker with a large detection state: how long a starting worker takes
to restore its partitions' shipments from the state topic and to read the facts topic,
and how much memory it then holds.

    .venv/bin/python -m bench.restore [--events 1000000]

The state is what detection leaves after that many simulated events (in-process, then
written to a run's own state and facts topics as the worker writes them); then a real
`goodsflow worker` starts on them and its log says when each part was done.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.harness import WorkerPool, new_run
from goodsflow.evaluation import InProcessDetection
from producers.simulation import SimulationConfig, Simulator
from schemas import VIETNAM_TZ, StreamHeartbeat, parse_record
from streams.detect import PROGRESS_KEY, ShipmentStore
from streams.facts import encode_fact
from streams.kafka_io import RecordBuffer, new_producer
from streams.records import Mark, WatermarkVector, mark_record
from streams.topics import PARTITIONS, partition_for


def simulate(events: int) -> tuple[InProcessDetection, int]:
    shipments = max(100, events * 10 // 67)  # about 6.7 events a shipment
    days = max(5.0, shipments / 5000)  # about 5,000 shipments a day
    start = datetime(2026, 10, 1, tzinfo=VIETNAM_TZ)
    sim = Simulator(SimulationConfig(shipments=shipments, seed=3, start=start, days=days))
    detector = InProcessDetection()
    count = 0
    for simulated in sim.events():
        record = parse_record(simulated.line.encode())
        if not isinstance(record, StreamHeartbeat):
            detector.handle(record)
            count += 1
            if count >= events:
                break
    return detector, count


async def write(run, detector: InProcessDetection) -> int:
    topics = run.settings.topics
    producer = new_producer(run.settings.bootstrap_servers)
    await producer.start()
    try:
        out, written = RecordBuffer(), 0
        store = ShipmentStore(detector.handler.config, detector.handler.detector.registry)
        for shipment_id, timers in detector.store.timers():
            state = detector.store.get(shipment_id)
            assert state is not None
            store.set(shipment_id, state, timers)
        for key, value, headers in store.changes():
            out.add(topics.detection_state, partition_for(key.decode()), key, value, headers)
            written += 1
            if out.count >= 20_000:
                await out.flush(producer)
        watermark = detector.handler.watermark
        assert watermark is not None
        vector = WatermarkVector(PARTITIONS, dict.fromkeys(range(PARTITIONS), watermark))
        for p in range(PARTITIONS):
            out.add(topics.detection_state, p, PROGRESS_KEY.encode(), vector.to_json())
        for state_id in list(detector.store.states):
            state = detector.store.states[state_id]
            for fact in state.facts():
                key, value = encode_fact(fact)
                out.add(topics.detection_facts, partition_for(state_id), key, value)
            if out.count >= 20_000:
                await out.flush(producer)
        for p in range(PARTITIONS):
            key, value, headers = mark_record(Mark(p, watermark))
            out.add(topics.detection_facts, p, key, value, headers)
        await out.flush(producer)
        return written
    finally:
        await producer.stop()


RESTORED = re.compile(r"restored: (\d+) records, (\d+) shipments in ([\d.]+) s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    started = time.perf_counter()
    detector, events = simulate(args.events)
    print(f"{events:,} events simulated and detected in {time.perf_counter() - started:.0f} s")
    log_dir = Path(tempfile.mkdtemp(prefix="goodsflow-restore-"))
    run = new_run(log_dir)
    written = asyncio.run(write(run, detector))
    print(f"{written:,} shipment states and their facts written to the state and facts topics")
    pool = WorkerPool(run)
    launched = time.monotonic()
    proc = pool.start()
    log = log_dir / "worker-1.log"
    restored = facts = None
    rss, ready = 0, 0.0
    while time.monotonic() - launched < 1800 and (restored is None or facts is None):
        time.sleep(0.5)
        text = log.read_text(errors="replace") if log.exists() else ""
        restored = restored or re.search(
            r"restored: (\d+) records, (\d+) shipments in ([\d.]+) s", text
        )
        facts = facts or re.search(r"facts read: (\d+) held", text)
        if restored and facts and not rss:
            time.sleep(2)
            rss = int(Path(f"/proc/{proc.pid}/status").read_text().split("VmRSS:")[1].split()[0])
            ready = time.monotonic() - launched
    pool.stop_all()
    assert restored and facts, f"the worker did not finish restoring: see {log}"
    print(
        f"worker start to restored: {ready:.1f} s ({restored.group(2)} shipments from "
        f"{restored.group(1)} records in {restored.group(3)} s; {facts.group(1)} facts read); "
        f"resident memory then {rss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()

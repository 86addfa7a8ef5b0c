"""Simulator throughput: events per second to a file and to Kafka.

    .venv/bin/python bench/simulate.py [--runs 3] [--file-shipments 150000]
                                       [--kafka-shipments 30000]

To a file: ~1 million events (150,000 shipments). To Kafka: a fresh 6-partition topic on
the configured broker (the local stack: `goodsflow stack up`), deleted afterwards; each
run waits for every acknowledgement (acks=all). Prints each run and the median.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

RATE = re.compile(r"^(\d+) events for (\d+) shipments in ([\d.]+) s \(([\d,]+) events/s\)", re.M)


def simulate(*args: str) -> tuple[int, float, float]:
    out = subprocess.run(
        [sys.executable, "-m", "goodsflow", "simulate", *args],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = RATE.search(out)
    assert match, out
    events, seconds = int(match.group(1)), float(match.group(3))
    return events, seconds, events / seconds


def report(name: str, runs: list[tuple[int, float, float]]) -> None:
    for events, seconds, rate in runs:
        print(f"  {name}: {events:,} events in {seconds:.1f} s = {rate:,.0f} events/s")
    print(f"{name}: median {statistics.median(r for *_, r in runs):,.0f} events/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--file-shipments", type=int, default=150_000)
    parser.add_argument("--kafka-shipments", type=int, default=30_000)
    parser.add_argument("--skip-kafka", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "traffic.jsonl")
        report("file", [
            simulate("--shipments", str(args.file_shipments), "--seed", str(seed),
                     "--out", str(out))
            for seed in range(args.runs)
        ])  # fmt: skip
        if args.skip_kafka:
            return
        from kafka import KafkaAdminClient

        from goodsflow.settings import load_settings

        bootstrap = load_settings().bootstrap_servers
        topic = f"bench-simulate-{uuid.uuid4().hex[:8]}"
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics({topic: {"num_partitions": 6, "replication_factor": 1}},
                            wait_for_metadata=True)  # fmt: skip
        try:
            truth = str(Path(tmp, "truth.jsonl"))
            report("kafka", [
                simulate("--shipments", str(args.kafka_shipments), "--seed", str(seed),
                         "--kafka", "--topic", topic, "--truth", truth)
                for seed in range(args.runs)
            ])  # fmt: skip
        finally:
            admin.delete_topics([topic])
            admin.close()


if __name__ == "__main__":
    main()

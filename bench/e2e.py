"""End-to-end throughput: events produced by a foreign client, to every offset committed
(graph and alerts complete, since a stage commits only after both), with 1, 2 and 3
workers, on this machine's real stack.

    .venv/bin/goodsflow stack up         # (or ./dev test once: it installs everything)
    .venv/bin/python -m bench.e2e [--shipments 20000] [--workers 1,2,3] [--runs 3]

First ``--warmup`` runs (2) with one worker, printed and not counted: on servers just
started, the first runs go at half speed or less while both JVMs compile, and a worker in
service meets warm servers. Per run: a topic prefix of its own; the workers start and
wait, idle, until their partitions are assigned; then the traffic (simulated, with
heartbeats) is produced by confluent-kafka (librdkafka's default partitioner,
gzip/snappy/lz4/zstd in turn), and the clock runs from the first record produced until
both stages have committed every offset.
``--clock start`` produces first and times from the workers' start instead (the workers'
own start-up, a second or two, counts then). The answers are checked against the
in-process run (tests/parity.py), so a fast wrong run does not count.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import (
    WorkerPool,
    check,
    drop_run,
    expected,
    new_run,
    produce,
    records_of,
    simulated_traffic,
    wait_until_done,
)
from goodsflow.bootstrap import neo4j_driver


def one_run(
    shipments: int, workers: int, seed: int, log_dir: Path, clock: str = "produce"
) -> tuple[float, int, str]:
    traffic = simulated_traffic(shipments, seed)
    want = expected(traffic)
    run = new_run(log_dir)
    records = records_of(traffic)
    topic = run.settings.topics.checkpoint_events
    pool = WorkerPool(run, session_timeout_s=10)
    try:
        if clock == "produce":  # workers running and idle; the clock starts with production
            for _ in range(workers):
                pool.start()
            wait_until_assigned(run.log_dir, workers)
            started = time.monotonic()
            produced_s = produce(run.settings.bootstrap_servers, topic, records)
        else:  # the traffic waiting in the topic; the clock starts with the workers
            produced_s = produce(run.settings.bootstrap_servers, topic, records)
            started = time.monotonic()
            for _ in range(workers):
                pool.start()
        done = wait_until_done(run.settings, timeout_s=1800)
    finally:
        pool.stop_all()
    seconds = done - started
    with neo4j_driver(run.settings) as driver:
        report = check(run, want, driver)
        if report.clean:
            drop_run(run, driver, want.shipments)
    verdict = "answers match" if report.clean else "WRONG: " + report.line()
    print(
        f"  {workers} worker(s): {want.events:,} events ({len(records):,} records, "
        f"produced in {produced_s:.1f} s) committed in {seconds:.1f} s = "
        f"{want.events / seconds:,.0f} events/s; {verdict}",
        flush=True,
    )
    return want.events / seconds, want.events, verdict


def wait_until_assigned(log_dir: Path, workers: int, timeout_s: float = 120.0) -> None:
    """Until every worker's log says both stages were given partitions, and the group has
    had a moment to settle (each join rebalances the members before it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        logs = [log_dir / f"worker-{i}.log" for i in range(1, workers + 1)]
        texts = [p.read_text(errors="replace") if p.exists() else "" for p in logs]
        if all("ingest: partitions assigned" in t and "detect: partitions assigned" in t
               for t in texts):  # fmt: skip
            time.sleep(3.0)
            return
        time.sleep(0.2)
    raise TimeoutError(f"workers not assigned after {timeout_s:.0f} s: see {log_dir}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipments", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="runs with one worker before the measured ones, printed but not counted: the "
        "first runs after the servers start run at half speed or less while both JVMs "
        "compile (a worker in service runs on warm servers)",
    )
    parser.add_argument(
        "--clock",
        choices=("produce", "start"),
        default="produce",
        help="produce: workers started and idle first, timed from the first record "
        "produced; start: the traffic produced first, timed from the workers' start",
    )
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="goodsflow-e2e-"))
    print(f"worker logs in {log_dir}")
    for run in range(args.warmup):
        print(f"warm-up run {run + 1} of {args.warmup} (not counted)", flush=True)
        one_run(args.shipments, 1, 31 + run, log_dir / f"warmup{run}", args.clock)
    for workers in (int(w) for w in args.workers.split(",")):
        rates = [
            one_run(args.shipments, workers, 41 + run, log_dir / f"w{workers}r{run}", args.clock)[0]
            for run in range(args.runs)
        ]
        print(
            f"{workers} worker(s): median {statistics.median(rates):,.0f} events/s "
            f"({min(rates):,.0f} to {max(rates):,.0f}, {args.runs} runs)",
            flush=True,
        )


if __name__ == "__main__":
    main()

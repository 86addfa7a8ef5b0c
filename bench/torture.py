"""The torture run: the real stack, traffic from a foreign client with mixed codecs, several
workers killed, joining and leaving, Neo4j and Kafka restarted mid-run; then the graph and
the alerts are compared with the in-process run of the same traffic. Lost, duplicated and
different must all be 0.

    .venv/bin/python -m bench.torture                   # 200,000 events, 3 workers,
                                                        # 10 kills, 5 joins/leaves,
                                                        # Neo4j and Kafka restarted once
    .venv/bin/python -m bench.torture --shipments 3000 --workers 2 --kills 3 \\
        --joins 0 --kafka-restarts 0                     # the CI-sized run (a test runs it)

The traffic is produced while the faults happen (paced over ``--produce-seconds``), so
kills land in the middle of batches, rebalances and restores. Worker logs stay in the
printed folder.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    Report,
    Run,
    WorkerPool,
    check,
    drop_run,
    expected,
    new_run,
    produce,
    records_of,
    simulated_traffic,
    stack,
    wait_until_done,
)
from goodsflow.bootstrap import neo4j_driver


@dataclass
class Plan:
    shipments: int = 30_000  # about 200,000 events
    workers: int = 3
    kills: int = 10
    joins: int = 5  # a worker joins, later one leaves: each counts one
    neo4j_restarts: int = 1
    kafka_restarts: int = 1
    produce_seconds: float = 90.0
    seed: int = 7
    timeout_s: float = 1800.0


@dataclass
class Outcome:
    report: Report
    seconds: float
    log_dir: Path
    faults: list[str] = field(default_factory=list)


def torture(plan: Plan, log_dir: Path | None = None) -> Outcome:
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="goodsflow-torture-"))
    rng = random.Random(plan.seed)
    traffic = simulated_traffic(plan.shipments, plan.seed)
    want = expected(traffic)
    run = new_run(log_dir)
    records = records_of(traffic)
    pool = WorkerPool(run)
    for _ in range(plan.workers):
        pool.start()
    started = time.monotonic()
    failure: list[BaseException] = []

    def producing() -> None:
        try:
            rate = len(records) / plan.produce_seconds
            produce(run.settings.bootstrap_servers, run.settings.topics.checkpoint_events,
                    records, rate=rate)  # fmt: skip
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    producer = threading.Thread(target=producing, name="producer")
    producer.start()
    faults = _schedule(plan, rng)
    done: list[str] = []
    try:
        for at, fault in faults:
            time.sleep(max(0.0, started + at - time.monotonic()))
            done.append(f"{time.monotonic() - started:6.1f} s  {_apply(fault, pool, run, rng)}")
            print(done[-1], flush=True)
        producer.join()
        for thread in RESTARTS:
            thread.join()
        if failure:
            raise failure[0]
        while len(pool.alive) < plan.workers:  # the last faults may have left fewer
            pool.start()
        finished = wait_until_done(run.settings, timeout_s=plan.timeout_s, poll_s=2.0)
    finally:
        pool.stop_all()
    crashed = pool.crashed()
    with neo4j_driver(run.settings) as driver:
        report = check(run, want, driver)
        report.details += crashed
        if report.clean and not crashed:
            drop_run(run, driver, want.shipments)
    return Outcome(report, finished - started, log_dir, done)


def _schedule(plan: Plan, rng: random.Random) -> list[tuple[float, str]]:
    """When each fault happens: spread over the time the traffic is produced and a little
    after (the workers are still catching up then)."""
    window = plan.produce_seconds * 1.2
    faults = (
        ["kill"] * plan.kills
        + ["join"] * ((plan.joins + 1) // 2)
        + ["leave"] * (plan.joins // 2)
        + ["neo4j"] * plan.neo4j_restarts
        + ["kafka"] * plan.kafka_restarts
    )
    rng.shuffle(faults)
    times = sorted(rng.uniform(3.0, window) for _ in faults)
    return list(zip(times, faults, strict=True))


def _apply(fault: str, pool: WorkerPool, run: Run, rng: random.Random) -> str:
    alive = pool.alive
    if fault == "kill" and alive:
        victim = rng.choice(alive)
        pool.kill(victim)
        pool.start()  # the operator's supervisor restarts it
        return f"SIGKILL worker pid {victim.pid}, a new one started"
    if fault == "join" or (fault in ("kill", "leave") and not alive):
        proc = pool.start()
        return f"worker pid {proc.pid} joined ({len(pool.alive)} running)"
    if fault == "leave":
        victim = rng.choice(alive)
        pool.stop(victim)
        return f"worker pid {victim.pid} left (SIGTERM, {len(pool.alive)} running)"
    service, pause = fault, rng.uniform(2.0, 6.0)  # neo4j or kafka

    def restart() -> None:  # beside the schedule: kills go on while it is down
        stack(run, "down", "--only", service)
        time.sleep(pause)
        stack(run, "up", "--only", service)

    thread = threading.Thread(target=restart, name=f"restart-{service}")
    thread.start()
    RESTARTS.append(thread)
    return f"{service} stopped, to start again {pause:.0f} s later"


RESTARTS: list[threading.Thread] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Plan()
    parser.add_argument("--shipments", type=int, default=defaults.shipments)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--kills", type=int, default=defaults.kills)
    parser.add_argument("--joins", type=int, default=defaults.joins)
    parser.add_argument("--neo4j-restarts", type=int, default=defaults.neo4j_restarts)
    parser.add_argument("--kafka-restarts", type=int, default=defaults.kafka_restarts)
    parser.add_argument("--produce-seconds", type=float, default=defaults.produce_seconds)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args()
    plan = Plan(
        args.shipments, args.workers, args.kills, args.joins, args.neo4j_restarts,
        args.kafka_restarts, args.produce_seconds, args.seed,
    )  # fmt: skip
    outcome = torture(plan)
    report = outcome.report
    print(f"worker logs in {outcome.log_dir}")
    print(
        f"{report.events:,} events, {plan.workers} workers, {plan.kills} kills, {plan.joins} "
        f"joins/leaves, {plan.neo4j_restarts} Neo4j and {plan.kafka_restarts} Kafka restarts: "
        f"done in {outcome.seconds:.0f} s; {report.line()}"
    )
    for line in report.details:
        print("  " + line[:400])
    raise SystemExit(0 if report.clean else 1)


if __name__ == "__main__":
    main()

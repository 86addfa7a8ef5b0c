"""Drive the real stack as operators and a hostile world do, then check the answers.

Used by bench/e2e.py (throughput), bench/torture.py (faults) and their CI-sized tests:

- a run of its own (:func:`new_run`): a topic prefix, so its topics, consumer groups and
  watermarks are its own;
- traffic (:func:`simulated_traffic`): simulated shipments with heartbeats, dated so the
  worker believes them;
- a foreign producer (:func:`produce`): confluent-kafka (librdkafka), its default
  partitioner, codecs rotating over gzip, snappy, lz4 and zstd;
- worker processes (:class:`WorkerPool`): `goodsflow worker`, started, killed (SIGKILL),
  stopped (SIGTERM);
- :func:`wait_until_done`: every offset of every stage committed;
- :func:`check`: the alerts and the graph against the in-process run of the same traffic
  (lost, duplicated and different counts);
- :func:`drop_run`: a clean run's topics and nodes deleted.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from goodsflow.evaluation import InProcessDetection
from goodsflow.settings import Settings, load_settings
from graph.embedded import EmbeddedGraph
from graph.embedded_queries import EmbeddedQueries
from producers.simulation import SimulationConfig, Simulator
from producers.simulation.generator import SimulatedEvent
from schemas import VIETNAM_TZ, Alert, StreamHeartbeat, load_registry, parse_record
from streams.topics import PARTITIONS, ensure_topics

ROOT = Path(__file__).resolve().parents[1]
CODECS = ("gzip", "snappy", "lz4", "zstd")


@dataclass
class Run:
    """One run's settings (its own topic prefix) and the environment for its processes."""

    settings: Settings
    env: dict[str, str]
    log_dir: Path


def new_run(log_dir: Path, **env: str) -> Run:
    prefix = f"run{uuid.uuid4().hex[:8]}."
    merged = {**os.environ, "GOODSFLOW_KAFKA__TOPIC_PREFIX": prefix, **env}
    settings = load_settings()
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"topic_prefix": prefix})}
    )
    ensure_topics(settings.bootstrap_servers, settings.topics)
    log_dir.mkdir(parents=True, exist_ok=True)
    return Run(settings, merged, log_dir)


def drop_run(run: Run, driver: Any, shipment_ids: list[str]) -> None:
    """Delete what a clean run made: its topics and its nodes. Run after run, a few dozen
    runs grow the broker's logs and the Neo4j store by gigabytes, later runs read them from
    this machine's slow disk, and measure that instead of goodsflow. Failed runs keep
    theirs, to be looked into."""
    drop_topics(run.settings)
    drop_graph(run.settings, driver, shipment_ids)


def drop_topics(settings: Settings) -> None:
    """Delete a finished run's topics (its own prefix; every run makes eight)."""
    from kafka import KafkaAdminClient

    if not settings.kafka.topic_prefix:  # never the unprefixed, shared topics
        return
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:  # the run's topics are those new_run made (ensure_topics: every spec)
        admin.delete_topics([spec.name for spec in settings.topics.specs()])
    finally:
        admin.close()


# A finished run's part of the graph, deleted a few thousand nodes a transaction: the
# alerts, seizures and corrections on its shipments, the parties, vehicles and drivers its
# shipments name (every run has a namespace of its own for them: nothing else names them),
# then the shipments themselves.
_DROP_GRAPH_QUERIES = (
    """
    UNWIND $shipment_ids AS id
    MATCH (:Shipment {shipment_id: id})<-[:FLAGS|SEIZED_FROM|CORRECTS]-(n)
    WITH DISTINCT n
    CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 2000 ROWS
    """,
    """
    UNWIND $shipment_ids AS id
    MATCH (:Shipment {shipment_id: id})-[:SHIPPED_BY|CONSIGNED_TO|CARRIED_BY|DRIVEN_BY]->(n)
    WITH DISTINCT n
    CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 2000 ROWS
    """,
    """
    UNWIND $shipment_ids AS id
    MATCH (s:Shipment {shipment_id: id})
    CALL (s) { DETACH DELETE s } IN TRANSACTIONS OF 1000 ROWS
    """,
)


def drop_graph(settings: Settings, driver: Any, shipment_ids: list[str]) -> None:
    """Delete a finished run's nodes from Neo4j (:data:`_DROP_GRAPH_QUERIES`)."""
    with driver.session(database=settings.neo4j.database) as session:
        for query in _DROP_GRAPH_QUERIES:
            session.run(query, shipment_ids=shipment_ids).consume()


def simulated_traffic(shipments: int, seed: int, days: float = 10.0) -> list[SimulatedEvent]:
    """Simulated traffic ending two days ago (times the worker believes), with heartbeats
    every 30 simulated minutes and a last one after the last event."""
    start = datetime.now(VIETNAM_TZ).replace(microsecond=0) - timedelta(days=days + 3)
    config = SimulationConfig(
        shipments=shipments,
        seed=seed,
        start=start,
        days=days,
        scenario_share=0.15,
        seizure_share=0.08,
        heartbeat_minutes=30,
        id_prefix=f"R{uuid.uuid4().hex[:6]}-",
        entity_namespace=f"N{uuid.uuid4().hex[:5]}",
    )
    return list(Simulator(config).events())


def records_of(traffic: Iterable[SimulatedEvent]) -> list[tuple[int | None, bytes | None, bytes]]:
    """(partition or None, key, value) in order: heartbeats to every partition."""
    out: list[tuple[int | None, bytes | None, bytes]] = []
    for ev in traffic:
        value = ev.line.encode()
        if not ev.shipment_id:
            out += [(p, None, value) for p in range(PARTITIONS)]
        else:
            out.append((None, ev.shipment_id.encode(), value))
    return out


def produce(
    bootstrap: str,
    topic: str,
    records: list[tuple[int | None, bytes | None, bytes]],
    *,
    chunk: int = 2000,
    rate: float | None = None,
    codecs: tuple[str, ...] = CODECS,
) -> float:
    """Send with confluent-kafka (librdkafka's default partitioner), each chunk of records
    with the next codec, acks=all and idempotence; wait for every delivery; return the
    seconds it took. ``rate``: records per second at most."""
    from confluent_kafka import Producer

    errors: list[str] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    producers = {
        codec: Producer(
            {
                "bootstrap.servers": bootstrap,
                "compression.type": codec,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                "message.timeout.ms": 600_000,
                "queue.buffering.max.messages": 1_000_000,
                "log_level": 3,  # errors only: a broker restart is part of the plan
            }
        )
        for codec in codecs
    }
    started = time.perf_counter()
    producer = None
    for n, (partition, key, value) in enumerate(records):
        if n % chunk == 0:
            # one producer at a time: records in flight from two producers would land out
            # of order, hours of event time apart (more than the allowed lateness)
            if producer is not None:
                producer.flush(600)
            producer = producers[codecs[(n // chunk) % len(codecs)]]
        assert producer is not None
        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": report}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        if rate and n % 200 == 0:
            due = started + n / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    for producer in producers.values():
        left = producer.flush(600)
        if left:
            errors.append(f"{left} records not delivered")
    if errors:
        raise RuntimeError(f"{len(errors)} produce errors, first: {errors[0]}")
    return time.perf_counter() - started


class WorkerPool:
    """`goodsflow worker` processes of one run."""

    def __init__(self, run: Run, session_timeout_s: int = 6) -> None:
        self.run = run
        self.env = {
            **run.env,
            "GOODSFLOW_WORKER__SESSION_TIMEOUT_S": str(session_timeout_s),
            "GOODSFLOW_WORKER__METRICS_PORT": "0",
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.run.log_dir / f"worker-{self.started}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "goodsflow", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env=self.env,
        )
        self.procs.append(proc)
        return proc

    @property
    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for proc in self.alive:
            self.stop(proc)

    def crashed(self) -> list[str]:
        """Logs of workers that exited on their own (not killed or stopped here)."""
        return [
            f"worker pid {p.pid} exited with {p.returncode}"
            for p in self.procs
            if p.returncode not in (None, 0, -signal.SIGKILL, -signal.SIGTERM)
        ]


def stack(run: Run, *args: str) -> None:
    """`goodsflow stack ...` (restarting Neo4j or Kafka mid-run)."""
    subprocess.run(
        [sys.executable, "-m", "goodsflow", "stack", *args],
        env=run.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )


def lag(settings: Settings) -> dict[str, int]:
    """Records not yet committed, per stage (a group that has committed nothing of a
    partition counts its whole log)."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    topics = settings.topics
    stages = {
        "ingest": (topics.ingest_group, [topics.checkpoint_events, topics.alert_cases]),
        "detect": (topics.detect_group, [topics.shipment_events]),
    }
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
    try:
        out = {}
        for stage, (group, names) in stages.items():
            tps = [TopicPartition(t, p) for t in names for p in range(PARTITIONS)]
            ends = consumer.end_offsets(tps)
            committed = admin.list_group_offsets(group).get(group, {})
            out[stage] = sum(
                ends[tp] - (getattr(committed.get(tp), "offset", None) or 0) for tp in tps
            )
        return out
    finally:
        admin.close()
        consumer.close()


def wait_until_done(settings: Settings, timeout_s: float, poll_s: float = 1.0) -> float:
    """Wait until both stages committed every offset (twice in a row, so the detection
    stage has seen the ingest stage's last output); return when that was first seen."""
    deadline = time.monotonic() + timeout_s
    done_at = None
    while time.monotonic() < deadline:
        try:
            pending = lag(settings)
        except Exception:  # Kafka restarting: ask again
            pending = {"unknown": 1}
        if not any(pending.values()):
            if done_at is not None:
                return done_at
            done_at = time.monotonic()
        else:
            done_at = None
        time.sleep(poll_s)
    raise TimeoutError(f"not done after {timeout_s:.0f} s: {lag(settings)}")


@dataclass
class Expected:
    alerts: dict[str, Alert]
    graph: EmbeddedQueries
    shipments: list[str]
    events: int


def expected(traffic: list[SimulatedEvent]) -> Expected:
    """The same traffic in-process: detection and the networkx graph."""
    detector, graph = InProcessDetection(), EmbeddedGraph(load_registry())
    latest: dict[str, Alert] = {}
    batch, raised = [], []
    for ev in traffic:
        record = parse_record(ev.line.encode())
        if isinstance(record, StreamHeartbeat):
            alerts = detector.tick(record.occurred_at)
        else:
            batch.append(record)
            alerts = detector.handle(record)
        for alert in alerts:
            raised.append(alert)
            latest[alert.alert_id] = alert
        if len(batch) >= 2000:
            graph.write(batch, raised)
            batch, raised = [], []
    graph.write(batch, raised)
    shipments = sorted({ev.shipment_id for ev in traffic if ev.shipment_id})
    return Expected(latest, EmbeddedQueries(graph), shipments, detector.events)


def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record a topic holds now (up to its end offsets when called)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=1000).values():
                records += [
                    r for r in batch if r.offset < ends[TopicPartition(r.topic, r.partition)]
                ]
        return records
    finally:
        consumer.close()


def stack_alerts(settings: Settings, shipments: set[str]) -> dict[str, Alert]:
    """The latest revision of every alert of these shipments on the alerts topic."""
    latest: dict[str, Alert] = {}
    for record in read_all(settings.bootstrap_servers, settings.topics.alerts):
        alert = Alert.model_validate_json(record.value)
        if alert.shipment_id in shipments:
            known = latest.get(alert.alert_id)
            if known is None or alert.revision >= known.revision:
                latest[alert.alert_id] = alert
    return latest


@dataclass
class Report:
    events: int
    events_lost: int = 0
    events_duplicated: int = 0
    alerts_lost: int = 0
    alerts_extra: int = 0
    alerts_different: int = 0
    graph_different: int = 0
    dead_letters: int = 0
    details: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.events_lost
            or self.events_duplicated
            or self.alerts_lost
            or self.alerts_extra
            or self.alerts_different
            or self.graph_different
            or self.dead_letters
        )

    def line(self) -> str:
        return (
            f"lost {self.events_lost} events, {self.alerts_lost} alerts; duplicated "
            f"{self.events_duplicated} events, {self.alerts_extra} alerts; different "
            f"{self.alerts_different} alerts, {self.graph_different} graph relationships; "
            f"{self.dead_letters} dead letters"
        )


def check(run: Run, want: Expected, driver: Any) -> Report:
    """The stack's alerts and graph against the in-process run's."""
    from graph.queries import Neo4jQueries
    from graph.writer import Neo4jGraphWriter
    from tests.parity import differences

    settings = run.settings
    report = Report(events=want.events)
    got = stack_alerts(settings, set(want.shipments))
    for alert_id, (a, b) in differences(want.alerts, got).items():
        if a is None:
            report.alerts_extra += 1
        elif b is None:
            report.alerts_lost += 1
        else:
            report.alerts_different += 1
        if len(report.details) < 20:
            report.details.append(f"alert {alert_id}: in-process {a} / stack {b}")
    recorded = Neo4jGraphWriter(driver, settings.neo4j.database).recorded_event_count(
        want.shipments
    )
    report.events_lost = max(0, want.events - recorded)
    neo = Neo4jQueries(driver, settings.neo4j.database, timeout_s=600)
    mine, theirs = neo.relationships(want.shipments), want.graph.relationships(want.shipments)
    # the same relationship twice where in-process has it once (several goods lines of one
    # category make equal tuples on both sides)
    report.events_duplicated = sum((Counter(mine) - Counter(theirs)).values())
    report.graph_different = len(set(mine) ^ set(theirs))
    for rel in sorted(set(mine) ^ set(theirs))[:10]:
        side = "stack only" if rel in set(mine) else "in-process only"
        report.details.append(f"{side}: {rel}")
    report.dead_letters = dead_letter_count(settings)
    return report


def dead_letter_count(settings: Settings) -> int:
    """Distinct records (by their source) on the dead-letter topic."""
    records = read_all(settings.bootstrap_servers, settings.topics.dead_letters)
    return len({json.dumps(json.loads(r.value).get("source"), sort_keys=True) for r in records})


def seeded(seed: int) -> random.Random:
    return random.Random(seed)

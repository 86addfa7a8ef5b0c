"""The embedded mode and the real stack agree: the same simulated traffic and case steps
through the in-process pipeline (same detection handler, networkx graph) and through Kafka,
the worker and Neo4j end with the same alerts (tests/parity.py), the same cases, and the
same graph around its shipments (counts by label and type, and a canonical digest)."""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import timedelta

from goodsflow.embedded import EmbeddedCases
from goodsflow.evaluation import InProcessDetection
from graph.cases import kafka_publisher
from graph.embedded import EmbeddedGraph
from graph.embedded_queries import EmbeddedQueries
from graph.exceptions import NotFound
from graph.queries import Neo4jQueries
from producers.simulation import SimulationConfig, Simulator
from producers.simulation.output import to_kafka
from schemas import (
    Alert,
    AlertStatus,
    CaseOutcome,
    CaseStep,
    StreamHeartbeat,
    load_registry,
    parse_record,
)
from streams.readers import TopicTail
from tests.factories import case_step
from tests.parity import differences, latest


def _traffic(run: str, start, phase: str, **config) -> list:
    return list(
        Simulator(
            SimulationConfig(
                id_prefix=f"EMB{run}{phase}-",
                entity_namespace=f"M{run}-",
                start=start,
                heartbeat_minutes=30,
                **config,
            )
        ).events()
    )


def _case_steps(alerts: dict[str, Alert]) -> list[CaseStep]:
    """The task forces act on the first traffic's open alerts: most confirmed (so the second
    traffic meets hot corridors), some false alarms, one transferred, one acknowledged."""
    steps = []
    chosen = sorted(
        (a for a in alerts.values() if a.status == AlertStatus.OPEN), key=lambda a: a.alert_id
    )
    for i, alert in enumerate(chosen[:16]):
        if i == 0:
            steps.append(case_step(alert, "transfer", i, to_locality="HP"))
        elif i == 1:
            steps.append(case_step(alert, "acknowledge", i))
        else:
            outcome = CaseOutcome.FALSE_ALARM if i % 5 == 0 else CaseOutcome.CONFIRMED
            steps += [
                case_step(alert, "acknowledge", i),
                case_step(alert, "close", i + 0.5, outcome=outcome),
            ]
    return steps


def test_embedded_and_stack_give_the_same_alerts_and_graph(
    settings, worker, neo4j_driver, event_time_window
):
    """Two traffics with the task forces' case steps between them: the confirmed alerts of
    the first make corridors hot for the health goods of the second, on both."""
    run = uuid.uuid4().hex[:6]
    first = _traffic(
        run, event_time_window, "A", shipments=120, seed=29, days=2, scenario_share=0.3,
        crackdown_days=2, seizure_share=0.25,
    )  # fmt: skip
    second = _traffic(
        run, event_time_window + timedelta(days=2, hours=2), "B", shipments=80, seed=31,
        days=1, scenario_share=0.1, crackdown_days=1, seizure_share=0.0,
    )  # fmt: skip
    ours = sorted({e.shipment_id for e in first + second})

    # embedded: the demo's pipeline
    detector, graph = InProcessDetection(), EmbeddedGraph(load_registry())
    embedded: dict[str, Alert] = {}

    def run_embedded(simulated) -> None:
        batch, raised = [], []
        for line in simulated:
            record = parse_record(line.line.encode())
            if isinstance(record, StreamHeartbeat):
                alerts = detector.tick(record.occurred_at)
            else:
                batch.append(record)
                alerts = detector.handle(record)
            for alert in alerts:
                raised.append(alert)
                embedded[alert.alert_id] = alert
            if len(batch) >= 500:
                graph.write(batch, raised)
                batch, raised = [], []
        graph.write(batch, raised)

    run_embedded(first)
    after_first = dict(embedded)
    steps = _case_steps(embedded)
    publish_embedded = EmbeddedCases(detector, graph)
    for step in steps:
        publish_embedded(step)
    run_embedded(second)
    embedded_alerts = dict(embedded)
    fed_back = [
        a
        for a in embedded.values()
        if any("confirmed by a task force" in ev.detail for ev in a.evidence)
    ]
    assert fed_back, "no alert of the second traffic cites a confirmed alert"
    embedded_digest = EmbeddedQueries(graph).digest(ours)
    assert embedded_digest.relationships["ON"] == len(steps)

    # the stack
    def stack_alerts(records) -> dict[str, Alert]:
        alerts = (Alert.model_validate_json(r.value) for r in records)
        return latest(a for a in alerts if a.shipment_id in ours)

    neo = Neo4jQueries(neo4j_driver, settings.neo4j.database)
    with TopicTail(settings.bootstrap_servers, settings.topics.alerts) as tail:
        topic = settings.topics.checkpoint_events
        to_kafka(first, settings.bootstrap_servers, topic, lambda _: None)
        records = tail.collect(
            lambda rs: not differences(after_first, stack_alerts(rs)), timeout_s=120
        )
        assert not differences(after_first, stack_alerts(records)), worker.log_tail()
        publish = kafka_publisher(settings.bootstrap_servers, settings.topics.alert_cases)
        for step in steps:
            publish(step)
        stepped = {s.alert_id for s in steps}
        deadline = time.monotonic() + 60
        while _landed(neo, stepped) < len(steps):
            assert time.monotonic() < deadline, worker.log_tail()
            time.sleep(0.5)  # landed in the graph: detection has them too
        to_kafka(second, settings.bootstrap_servers, topic, lambda _: None)
        records = tail.collect(
            lambda rs: not differences(embedded_alerts, stack_alerts(rs)), timeout_s=120
        )
    assert not differences(embedded_alerts, stack_alerts(records)), worker.log_tail()
    for alert_id in stepped:  # revisions count judgements, which differ (tests/parity.py)
        assert neo.alert(alert_id).model_dump(exclude={"revision"}) == EmbeddedQueries(graph).alert(
            alert_id
        ).model_dump(exclude={"revision"})

    deadline = time.monotonic() + 120
    stack_digest = neo.digest(ours)
    while stack_digest != embedded_digest and time.monotonic() < deadline:
        time.sleep(1)  # the graph sink writes in batches, alerts after their events
        stack_digest = neo.digest(ours)
    assert stack_digest.nodes == embedded_digest.nodes
    assert stack_digest.relationships == embedded_digest.relationships
    assert stack_digest.sha256 == embedded_digest.sha256


def _landed(neo: Neo4jQueries, alert_ids: set[str]) -> int:
    """How many case steps of these alerts the graph shows (alerts not yet written: 0)."""
    count = 0
    for alert_id in alert_ids:
        with contextlib.suppress(NotFound):
            count += len(neo.alert(alert_id).case_steps)
    return count

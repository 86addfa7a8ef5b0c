"""The evaluation through the real stack: simulator -> Kafka -> Faust worker -> alerts
topic gives exactly the alerts the engine gives in-process (same ids, rules, revisions,
statuses, severities and evidence)."""

from __future__ import annotations

import uuid

from goodsflow.evaluation import InProcessDetection
from producers.simulation import SimulationConfig, Simulator
from producers.simulation.output import to_kafka
from schemas import Alert
from streams.readers import TopicTail
from streams.rules import RULES
from streams.topics import ALERTS, CHECKPOINT_EVENTS

Key = tuple[str, str]


def _summary(alert: Alert) -> tuple:
    return (
        alert.alert_id,
        alert.revision,
        alert.status.value,
        alert.severity,
        sorted(e.event_id for e in alert.evidence),
    )


def test_stack_and_in_process_give_the_same_alerts(settings, worker, event_time_window):
    run = uuid.uuid4().hex[:6]
    config = SimulationConfig(
        shipments=250,
        seed=17,
        days=2,
        scenario_share=0.3,
        crackdown_days=2,
        seizure_share=0.25,  # enough seizures for links and hot corridors in 250 shipments
        id_prefix=f"EVAL{run}-",
        entity_namespace=f"E{run}-",  # not linked to other tests' seizures on this worker
        start=event_time_window,
    )
    events = list(Simulator(config).events())
    ours = {e.shipment_id for e in events}

    # in-process: the same handler, the same partitions, so the same watermarks
    expected: dict[Key, tuple] = {}
    for alert, _ in InProcessDetection().run(events):
        expected[(alert.shipment_id, alert.rule.value)] = _summary(alert)
    assert {rule for _, rule in expected} == {rule.value for rule in RULES}, "every rule"

    def final(records) -> dict[Key, tuple]:
        latest: dict[Key, tuple] = {}
        for record in records:
            alert = Alert.model_validate_json(record.value)
            if alert.shipment_id in ours:
                key = (alert.shipment_id, alert.rule.value)
                if key not in latest or alert.revision > latest[key][1]:
                    latest[key] = _summary(alert)
        return latest

    with TopicTail(settings.bootstrap_servers, ALERTS) as tail:
        to_kafka(events, settings.bootstrap_servers, CHECKPOINT_EVENTS, lambda _: None)
        tail.collect(lambda rs: final(rs) == expected, timeout_s=120)
        records = tail.collect(lambda rs: False, timeout_s=3)  # and nothing more arrives
    got = final(records)
    differences = {
        key: {"in-process": expected.get(key), "stack": got.get(key)}
        for key in sorted(set(expected) | set(got))
        if expected.get(key) != got.get(key)
    }
    assert not differences, f"{differences}\n{worker.log_tail()}"

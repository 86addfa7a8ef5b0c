"""The evaluation through the real stack: simulator -> Kafka -> worker -> alerts topic
ends with the alerts the engine gives in-process (tests/parity.py says what "the same"
means), for every rule."""

from __future__ import annotations

import uuid

from goodsflow.evaluation import InProcessDetection
from producers.simulation import SimulationConfig, Simulator
from producers.simulation.output import to_kafka
from schemas import Alert
from streams.readers import TopicTail
from streams.rules import RULES
from tests.parity import differences, latest


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
        heartbeat_minutes=30,
    )
    events = list(Simulator(config).events())
    ours = {e.shipment_id for e in events}
    expected = latest(alert for alert, _ in InProcessDetection().run(events))
    assert {a.rule for a in expected.values()} == set(RULES), "every rule"

    def final(records) -> dict[str, Alert]:
        alerts = (Alert.model_validate_json(r.value) for r in records)
        return latest(a for a in alerts if a.shipment_id in ours)

    with TopicTail(settings.bootstrap_servers, settings.topics.alerts) as tail:
        topic = settings.topics.checkpoint_events
        to_kafka(events, settings.bootstrap_servers, topic, lambda _: None)
        tail.collect(lambda rs: not differences(expected, final(rs)), timeout_s=120)
        records = tail.collect(lambda rs: False, timeout_s=3)  # and nothing more arrives
    diff = differences(expected, final(records))
    assert not diff, f"{diff}\n{worker.log_tail()}"

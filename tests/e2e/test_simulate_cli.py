"""`goodsflow simulate` as a user runs it: to a file, and to the real Kafka."""

from __future__ import annotations

import json
from datetime import datetime

from producers.publisher import CHECKPOINT_HEADER
from streams.readers import TopicTail
from tests.e2e.cli import goodsflow
from tests.factories import unique


def test_simulate_to_a_file_writes_events_and_separate_truth(tmp_path):
    out = tmp_path / "traffic.jsonl"
    result = goodsflow("simulate", "--shipments", "400", "--seed", "9", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert f"{len(lines)} events for 400 shipments" in result.stdout
    truth = [
        json.loads(x) for x in (tmp_path / "traffic.jsonl.truth.jsonl").read_text().splitlines()
    ]
    assert truth and {"shipment_id", "scenario", "rule", "act_event_ids", "act_at"} <= set(truth[0])
    assert f"ground truth: {len(truth)} labelled shipments" in result.stdout


def test_simulate_refuses_unknown_scenarios_clearly(tmp_path):
    result = goodsflow("simulate", "--out", str(tmp_path / "x"), "--scenarios", "teleport")
    assert result.returncode == 2
    assert "teleport" in result.stderr and "Traceback" not in result.stderr


def test_simulate_to_kafka_sends_every_event_keyed_by_shipment(settings, tmp_path):
    from kafka import KafkaAdminClient

    topic = unique("sim")
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    admin.create_topics(
        {topic: {"num_partitions": 3, "replication_factor": 1}}, wait_for_metadata=True
    )
    try:
        result = goodsflow(
            "simulate", "--kafka", "--topic", topic, "--shipments", "150", "--rate", "5000",
            "--truth", str(tmp_path / "truth.jsonl"),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        sent = int(result.stdout.split(" events")[0])
        with TopicTail(settings.bootstrap_servers, topic, from_beginning=True) as tail:
            tail.collect(lambda rs: len([r for r in rs if r.key]) >= sent, timeout_s=60)
            records = tail.collect(lambda rs: False, timeout_s=1)  # and the last heartbeats
        events = [r for r in records if r.key is not None]
        assert len(events) == sent
        for record in events[:50]:
            event = json.loads(record.value)
            assert record.key == event["shipment_id"].encode()
            assert dict(record.headers)[CHECKPOINT_HEADER] == event["checkpoint_id"].encode()
        # event time on every partition: heartbeats every 30 simulated minutes, the last
        # one after the last event, the same on each of the 3 partitions
        beats = [json.loads(r.value) for r in records if r.key is None]
        assert {b["event_type"] for b in beats} == {"stream.heartbeat"}
        by_partition = {
            p: [
                json.loads(r.value)["occurred_at"]
                for r in records
                if r.key is None and r.partition == p
            ]
            for p in range(3)
        }
        assert by_partition[0] == by_partition[1] == by_partition[2] and len(by_partition[0]) > 2
        last_event = max(datetime.fromisoformat(json.loads(r.value)["occurred_at"]) for r in events)
        assert max(map(datetime.fromisoformat, by_partition[0])) > last_event
    finally:
        admin.delete_topics([topic])
        admin.close()

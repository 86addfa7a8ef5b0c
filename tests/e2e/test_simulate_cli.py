"""`goodsflow simulate` as a user runs it: to a file, and to the real Kafka."""

from __future__ import annotations

import json

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
            records = tail.collect(lambda rs: len(rs) >= sent, timeout_s=60)
        assert len(records) == sent
        for record in records[:50]:
            event = json.loads(record.value)
            assert record.key == event["shipment_id"].encode()
            assert dict(record.headers)[CHECKPOINT_HEADER] == event["checkpoint_id"].encode()
    finally:
        admin.delete_topics([topic])
        admin.close()

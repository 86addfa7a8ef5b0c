"""Traffic from clients goodsflow did not write, compressed with every codec and placed by
their own partitioners, ends with the alerts the in-process run gives (tests/parity.py):
the worker reads every codec and re-keys events by shipment, so the producer's placement
does not matter."""

from __future__ import annotations

import uuid
from datetime import timedelta

from bench.harness import produce, records_of
from goodsflow.evaluation import InProcessDetection
from producers.simulation import SimulationConfig, Simulator
from schemas import Alert
from streams.readers import TopicTail
from tests.foreign import java_partition, kcat_produce, librdkafka_partition
from tests.parity import differences, latest


def _traffic(start, seed: int):
    run = uuid.uuid4().hex[:6]
    config = SimulationConfig(
        shipments=200, seed=seed, days=1.5, start=start, scenario_share=0.3,
        crackdown_days=1.5, seizure_share=0.2, heartbeat_minutes=30,
        id_prefix=f"FOR{run}-", entity_namespace=f"F{run}",
    )  # fmt: skip
    return list(Simulator(config).events())


def _ends_like_in_process(settings, worker, traffic, send) -> None:
    expected = latest(a for a, _ in InProcessDetection().run(traffic))
    ours = {ev.shipment_id for ev in traffic if ev.shipment_id}
    assert len({a.rule for a in expected.values()}) >= 6

    def final(records) -> dict[str, Alert]:
        alerts = (Alert.model_validate_json(r.value) for r in records)
        return latest(a for a in alerts if a.shipment_id in ours)

    with TopicTail(settings.bootstrap_servers, settings.topics.alerts) as tail:
        send(records_of(traffic))
        records = tail.collect(lambda rs: not differences(expected, final(rs)), timeout_s=120)
    diff = differences(expected, final(records))
    assert not diff, f"{list(diff.items())[:3]}\n{worker.log_tail()}"


def test_librdkafka_default_placement_and_every_codec(settings, worker, event_time_window):
    traffic = _traffic(event_time_window, seed=23)
    keys = [ev.shipment_id.encode() for ev in traffic if ev.shipment_id]
    # the placement really is not Java's for most shipments
    assert sum(librdkafka_partition(k, 6) != java_partition(k, 6) for k in keys) > len(keys) / 2

    def send(records):
        produce(
            settings.bootstrap_servers, settings.topics.checkpoint_events, records, chunk=300,
            codecs=("gzip", "snappy", "lz4", "zstd", "none"),
        )  # fmt: skip

    _ends_like_in_process(settings, worker, traffic, send)


def test_kcat_with_javas_placement(settings, worker, event_time_window):
    traffic = _traffic(event_time_window + timedelta(days=3), seed=29)

    def send(records):
        topic = settings.topics.checkpoint_events
        events = [(key, value) for partition, key, value in records if partition is None]
        kcat_produce(
            settings.bootstrap_servers, topic, events, codec="zstd", partitioner="murmur2_random"
        )
        for partition in range(6):  # the heartbeats, each to its partition
            beats = [(None, v) for p, _, v in records if p == partition]
            kcat_produce(settings.bootstrap_servers, topic, beats, partition=partition)

    _ends_like_in_process(settings, worker, traffic, send)

"""Fault tests: the real worker process is killed (SIGKILL, no chance to clean up) and
restarted. Nothing accepted is lost and nothing is duplicated: per-shipment state comes
back from the changelog topic or from redelivered events, and replays are harmless."""

from __future__ import annotations

import signal
import time

from schemas import Alert
from streams.readers import TopicTail
from tests.factories import ROUTE, declaration, scan
from tests.stack import publisher

# Per shipment: its passages, and the distinct events its relationships name.
PASSAGES = """
MATCH (s:Shipment) WHERE s.shipment_id IN $ids
RETURN s.shipment_id AS id, COUNT { (s)-[:PASSED]->() } AS passages,
       size(COLLECT { MATCH (s)-[r]->() WHERE r.event_id IS NOT NULL
                      RETURN DISTINCT r.event_id }) AS events
"""


def _graph(driver, ids):
    records, _, _ = driver.execute_query(PASSAGES, ids=ids)
    return {r["id"]: (r["passages"], r["events"]) for r in records}


def _offsets(settings) -> str:
    """The worker groups' committed offsets and the end of every partition they read: a
    failure then says whether Kafka counts as done a record a stage never finished."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    topics = settings.topics
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
    lines = []
    try:
        for group, topic in (
            (topics.ingest_group, topics.checkpoint_events),
            (topics.detect_group, topics.shipment_events),
        ):
            committed = admin.list_group_offsets(group).get(group, {})
            tps = [TopicPartition(topic, p) for p in range(6)]
            ends = consumer.end_offsets(tps)
            lines += [
                f"{group} {topic}[{tp.partition}]: committed "
                f"{getattr(committed.get(tp), 'offset', None)}, end {ends[tp]}"
                for tp in tps
            ]
    finally:
        admin.close()
        consumer.close()
    return "\n".join(lines) + "\n"


def _wait(fn, done, timeout_s):
    deadline = time.monotonic() + timeout_s
    result = fn()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.5)
        result = fn()
    return result


def test_killed_worker_resumes_without_loss_or_duplicates(settings, worker, neo4j_driver):
    before = [declaration() for _ in range(5)]
    first_half = [
        ev
        for decl in before
        for ev in (decl, scan(decl.shipment_id, ROUTE[0], 10), scan(decl.shipment_id, ROUTE[1], 60))
    ]
    ids = [d.shipment_id for d in before]
    with publisher(settings) as kafka:
        kafka.publish_all(first_half)
    assert _wait(
        lambda: _graph(neo4j_driver, ids), lambda g: g == {i: (2, 3) for i in ids}, 60
    ) == {i: (2, 3) for i in ids}, worker.log_tail()

    worker.stop(signal.SIGKILL)
    assert not worker.alive()

    # While no worker runs, the off-route scans arrive; the declarations they must be
    # judged against were processed by the killed worker.
    off_route = [scan(d.shipment_id, "TN-THAINGUYEN", 180) for d in before]
    with TopicTail(settings.bootstrap_servers, settings.topics.alerts) as alerts:
        with publisher(settings) as kafka:
            kafka.publish_all(off_route)
        worker.start()
        wanted = {ev.shipment_id.encode() for ev in off_route}
        records = alerts.collect(lambda rs: wanted <= {r.key for r in rs}, timeout_s=120)

    raised = [Alert.model_validate_json(r.value) for r in records if r.key in wanted]
    why = _offsets(settings)  # where the groups stand, should an assertion fail
    assert sorted(a.shipment_id for a in raised) == sorted(ids), why + worker.log_tail()
    for alert in raised:
        assert [e.checkpoint_id for e in alert.evidence] == ["TN-THAINGUYEN"]
    final = _wait(lambda: _graph(neo4j_driver, ids), lambda g: g == {i: (3, 4) for i in ids}, 60)
    assert final == {i: (3, 4) for i in ids}, why


def _committed(settings, group: str, topic: str, partition: int) -> int | None:
    from kafka import KafkaAdminClient, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        found = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return getattr(found.get(TopicPartition(topic, partition)), "offset", None)


def test_sigterm_during_a_neo4j_outage_commits_nothing_unwritten(settings, worker, neo4j_driver):
    """The batch waiting for Neo4j is not committed when the worker is stopped: after
    Neo4j and the worker are back, it reaches the graph."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.topics import partition_for
    from tests.e2e.cli import goodsflow

    decl = declaration()
    sid = decl.shipment_id
    with publisher(settings) as kafka:  # kafka-python: murmur2, as partition_for
        kafka.publish_all([decl, scan(sid, ROUTE[0], 10)])
    assert _wait(lambda: _graph(neo4j_driver, [sid]), lambda g: g == {sid: (1, 2)}, 60)
    tp = TopicPartition(settings.topics.checkpoint_events, partition_for(sid))
    assert goodsflow("stack", "down", "--only", "neo4j").returncode == 0
    try:
        with publisher(settings) as kafka:
            kafka.publish_all([scan(sid, ROUTE[1], 60), scan(sid, ROUTE[2], 120)])
        time.sleep(5)  # read by now, and waiting for Neo4j
        worker.stop(signal.SIGTERM)
        assert not worker.alive()
        consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
        end = consumer.end_offsets([tp])[tp]
        consumer.close()
        committed = _committed(settings, settings.topics.ingest_group, tp.topic, tp.partition)
        assert committed is not None and committed <= end - 2, (committed, end)
    finally:
        assert goodsflow("stack", "up", "--only", "neo4j").returncode == 0
    worker.start()
    final = _wait(lambda: _graph(neo4j_driver, [sid]), lambda g: g == {sid: (3, 4)}, 120)
    assert final == {sid: (3, 4)}, _offsets(settings) + worker.log_tail()


def test_the_worker_serves_its_metrics(settings, worker):
    """Prometheus metrics: records and events counted, watermarks and lag present."""
    import urllib.request

    decl = declaration()
    with publisher(settings) as kafka:
        kafka.publish_all([decl, scan(decl.shipment_id, "TN-THAINGUYEN", 30)])

    def scrape() -> str:
        with urllib.request.urlopen(worker.metrics_url, timeout=5) as response:
            return response.read().decode()

    def value(text: str, name: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )

    text = _wait(scrape, lambda t: value(t, "goodsflow_worker_alerts_total") > 0, 60)
    for name in (
        "goodsflow_worker_records_total",
        "goodsflow_worker_events_total",
        "goodsflow_worker_batch_seconds_count",
        "goodsflow_worker_event_graph_batch_seconds_count",
    ):
        assert value(text, name) > 0, name
    for name in (
        "goodsflow_worker_consumer_lag",
        "goodsflow_worker_input_watermark_seconds",
        "goodsflow_worker_dead_letters_total",
        "process_resident_memory_bytes",
    ):
        assert name in text, name

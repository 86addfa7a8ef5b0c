"""The worker's Prometheus metrics, in a registry of its own (served by streams/app.py on
GOODSFLOW_WORKER__METRICS_PORT, 9464 by default).

Rates come from the counters (``rate(goodsflow_worker_events_total[1m])`` is events per
second); watermarks are gauges of event time in Unix seconds, so
``time() - goodsflow_worker_watermark_seconds`` is how far detection lags behind the
wall clock on live traffic.
"""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram

from streams.metrics import new_registry

_WORDS = re.compile(r"[A-Za-z_]+")


def reason_class(reason: str) -> str:
    """A short, bounded label for a dead-letter reason ("not JSON", "invalid event",
    "occurred_at", "Neo4j refused it", ...): the first words before any detail."""
    head = reason.split(":", 1)[0].strip()
    words = _WORDS.findall(head)[:4]
    return " ".join(words)[:40] or "other"


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = new_registry()
        r = self.registry
        self.records_in = Counter(
            "goodsflow_worker_records", "Records read, by stage", ["stage"], registry=r
        )
        self.events = Counter(
            "goodsflow_worker_events", "Checkpoint events accepted by the ingest stage", registry=r
        )
        self.alerts = Counter(
            "goodsflow_worker_alerts",
            "Alert revisions sent, by rule and status",
            ["rule", "status"],
            registry=r,
        )
        self.dead_letters = Counter(
            "goodsflow_worker_dead_letters",
            "Records sent to the dead-letter topic, by reason",
            ["reason"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "goodsflow_worker_batch_seconds",
            "Time to process one batch completely (before its commit), by stage",
            ["stage"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.graph_seconds = Histogram(
            "goodsflow_worker_graph_batch_seconds",
            "Time to write one batch of alerts and case steps to Neo4j",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.event_graph_seconds = Histogram(
            "goodsflow_worker_event_graph_batch_seconds",
            "Time to write one batch of events to Neo4j",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.restore_seconds = Histogram(
            "goodsflow_worker_restore_seconds",
            "Time to restore the detection state of newly assigned partitions",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.lag = Gauge(
            "goodsflow_worker_consumer_lag",
            "Records not yet committed, by consumer group, topic and partition",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.input_watermark = Gauge(
            "goodsflow_worker_input_watermark_seconds",
            "Watermark of each checkpoint-events partition read here (event time, Unix s)",
            ["partition"],
            registry=r,
        )
        self.watermark = Gauge(
            "goodsflow_worker_watermark_seconds",
            "Watermark of each detection partition held here (event time, Unix s)",
            ["partition"],
            registry=r,
        )
        self.context_watermark = Gauge(
            "goodsflow_worker_context_watermark_seconds",
            "Event time up to which facts about other shipments are complete (Unix s)",
            registry=r,
        )
        self.context_facts = Gauge(
            "goodsflow_worker_context_facts",
            "Facts about other shipments held in memory",
            registry=r,
        )

    def dead_letter(self, reason: str) -> None:
        self.dead_letters.labels(reason_class(reason)).inc()

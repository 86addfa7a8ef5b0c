"""Kafka topics goodsflow owns: names, partition counts and configs, and their creation.

Topics are created by the project (``goodsflow topics create``, also run by the worker at
start), never by broker auto-creation. Every topic about shipments is keyed by shipment id
and has the same partition count, so one shipment's events, state and alerts share a
partition number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from schemas import GoodsflowError

APP_ID = "goodsflow"
PARTITIONS = 6

CHECKPOINT_EVENTS = "checkpoint-events"
CHECKPOINT_EVENTS_DLQ = "checkpoint-events-dlq"
ALERTS = "alerts"
ALERTS_DELIVERY_DLQ = "alerts-delivery-dlq"
ALERT_CASES = "alert-cases"  # the task forces' steps on alerts (schemas/cases.py)
SHIPMENT_STATE_TABLE = "shipment-state"
# Faust names a table's changelog topic "<app id>-<table name>-changelog".
SHIPMENT_STATE_CHANGELOG = f"{APP_ID}-{SHIPMENT_STATE_TABLE}-changelog"

WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = PARTITIONS
    configs: dict[str, str] = field(default_factory=dict)


TOPICS = (
    TopicSpec(CHECKPOINT_EVENTS, configs={"retention.ms": str(4 * WEEK_MS)}),
    TopicSpec(CHECKPOINT_EVENTS_DLQ, configs={"retention.ms": str(8 * WEEK_MS)}),
    TopicSpec(ALERTS, configs={"retention.ms": str(8 * WEEK_MS)}),
    TopicSpec(ALERTS_DELIVERY_DLQ, configs={"retention.ms": str(8 * WEEK_MS)}),
    # the record of who did what with each alert: kept, like the graph's copy of it
    TopicSpec(ALERT_CASES, configs={"retention.ms": "-1"}),
    TopicSpec(SHIPMENT_STATE_CHANGELOG, configs={"cleanup.policy": "compact"}),
)


def partition_for(shipment_id: str, partitions: int = PARTITIONS) -> int:
    """The partition Kafka's default partitioner gives this shipment's events: murmur2 of
    the key, as the Java client and kafka-python compute it. Lets in-process runs see the
    same partitions (and so the same watermarks) as the real stack."""
    from kafka.partitioner.default import murmur2

    return int(murmur2(shipment_id.encode("utf-8")) & 0x7FFFFFFF) % partitions


class TopicError(GoodsflowError):
    """A topic could not be created, or exists with the wrong partition count."""


def ensure_topics(
    bootstrap_servers: str,
    specs: tuple[TopicSpec, ...] = TOPICS,
    replication_factor: int = 1,
) -> list[str]:
    """Create the missing topics; check the existing ones. Returns the names created.

    Raises:
        TopicError: the broker is unreachable, or a topic exists with another partition
            count (which would break per-shipment co-partitioning).
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, bootstrap_timeout_ms=10000)
    except (KafkaError, OSError) as exc:
        raise TopicError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from None
    try:
        existing = {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}
        for spec in specs:
            have = existing.get(spec.name)
            if have is not None and have != spec.partitions:
                raise TopicError(
                    f"topic {spec.name} has {have} partitions, goodsflow needs "
                    f"{spec.partitions}; recreate it (this loses its messages)"
                )
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            admin.create_topics(
                {
                    spec.name: {
                        "num_partitions": spec.partitions,
                        "replication_factor": replication_factor,
                        "configs": spec.configs,
                    }
                    for spec in missing
                },
                wait_for_metadata=True,
            )
        return [spec.name for spec in missing]
    except KafkaError as exc:
        raise TopicError(f"creating topics failed: {exc}") from None
    finally:
        admin.close()

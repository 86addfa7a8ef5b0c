"""Kafka topics goodsflow owns: names, partition counts and configs, and their creation.

Topics are created by the project (``goodsflow topics create``, also run by the worker at
start), never by broker auto-creation. Every name can carry a prefix
(GOODSFLOW_KAFKA__TOPIC_PREFIX), so several deployments (or test sessions) share one
cluster without seeing each other's records; consumer groups carry it too.

The worker's own topics (docs/STREAMS.md explains each):

- ``goodsflow-shipment-events``: checkpoint events and case steps re-keyed by shipment id
  with goodsflow's own partitioner, whatever partitioner the producer used, plus each
  input partition's watermark, broadcast to every partition;
- ``goodsflow-detection-facts``: the facts about shipments that other shipments' rules
  read (declarations' parties, vehicles and drivers; seizures; closed cases), with the
  watermark of the input partition they came from; every worker reads all of it;
- ``goodsflow-detection-state``: the detection state of each shipment, compacted; a
  worker that takes over a partition restores it from here.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

from schemas import GoodsflowError

PARTITIONS = 6
WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = PARTITIONS
    configs: dict[str, str] = field(default_factory=dict)
    # configs that an existing topic is brought to (the others are only set at creation)
    enforced: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topics:
    """goodsflow's topic and consumer-group names under one prefix.

    Example:
        >>> Topics("staging.").checkpoint_events
        'staging.checkpoint-events'
    """

    prefix: str = ""

    # -- the contract's topics: written and read by checkpoints, the API, task forces ----
    @property
    def checkpoint_events(self) -> str:
        return f"{self.prefix}checkpoint-events"

    @property
    def dead_letters(self) -> str:
        """What the worker could not process, with the reason and the original bytes."""
        return f"{self.prefix}checkpoint-events-dlq"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}alerts"

    @property
    def alerts_delivery_dlq(self) -> str:
        return f"{self.prefix}alerts-delivery-dlq"

    @property
    def alert_cases(self) -> str:
        """The task forces' steps on alerts (schemas/cases.py)."""
        return f"{self.prefix}alert-cases"

    # -- the worker's own ----------------------------------------------------------------
    @property
    def shipment_events(self) -> str:
        return f"{self.prefix}goodsflow-shipment-events"

    @property
    def detection_facts(self) -> str:
        return f"{self.prefix}goodsflow-detection-facts"

    @property
    def detection_state(self) -> str:
        return f"{self.prefix}goodsflow-detection-state"

    # -- consumer groups ---------------------------------------------------------------
    def group(self, name: str) -> str:
        """A consumer group under the prefix (``ingest``, ``detect``, a delivery group)."""
        return f"{self.prefix}{name}"

    @property
    def ingest_group(self) -> str:
        return self.group("goodsflow-ingest")

    @property
    def detect_group(self) -> str:
        return self.group("goodsflow-detect")

    def specs(self) -> tuple[TopicSpec, ...]:
        """Every topic goodsflow creates, with its partitions and configs."""
        return (
            # The broker stamps each event with the time it received it (LogAppendTime):
            # the worker judges an event's own time against that, and a replay sees the
            # same stamps (streams/event_time.py).
            TopicSpec(
                self.checkpoint_events,
                configs={
                    "retention.ms": str(4 * WEEK_MS),
                    "message.timestamp.type": "LogAppendTime",
                },
                enforced=("message.timestamp.type",),
            ),
            TopicSpec(self.dead_letters, configs={"retention.ms": str(8 * WEEK_MS)}),
            TopicSpec(self.alerts, configs={"retention.ms": str(8 * WEEK_MS)}),
            TopicSpec(self.alerts_delivery_dlq, configs={"retention.ms": str(8 * WEEK_MS)}),
            # the record of who did what with each alert: kept, like the graph's copy of it
            TopicSpec(self.alert_cases, configs={"retention.ms": "-1"}),
            # read once by the detection stage shortly after it is written
            TopicSpec(self.shipment_events, configs={"retention.ms": str(WEEK_MS)}),
            TopicSpec(self.detection_facts, configs={"cleanup.policy": "compact"}),
            TopicSpec(self.detection_state, configs={"cleanup.policy": "compact"}),
        )


def partition_for(shipment_id: str, partitions: int = PARTITIONS) -> int:
    """The partition of a shipment in goodsflow's own topics: murmur2 of the key, as the
    Java client and kafka-python compute it (their default partitioner). The worker
    re-keys every input record with it, so one shipment's events and state always share a
    partition, whatever partitioner the producer used."""
    if partitions == PARTITIONS:
        return _partition_of(shipment_id)
    return int(_murmur2(shipment_id.encode("utf-8")) & 0x7FFFFFFF) % partitions


@functools.lru_cache(maxsize=65_536)
def _partition_of(shipment_id: str) -> int:
    # a shipment's events come in a few at a time; murmur2 is pure Python in kafka-python
    return int(_murmur2(shipment_id.encode("utf-8")) & 0x7FFFFFFF) % PARTITIONS


def _murmur2(data: bytes) -> int:
    from kafka.partitioner.default import murmur2

    return int(murmur2(data))


class TopicError(GoodsflowError):
    """A topic could not be created, or exists with the wrong partition count."""


class KafkaUnreachable(TopicError):
    """No broker answered (it may be restarting: worth trying again)."""


def ensure_topics(
    bootstrap_servers: str,
    topics: Topics | None = None,
    replication_factor: int = 1,
) -> list[str]:
    """Create the missing topics; check the existing ones (partition count) and bring their
    enforced configs in line. Returns the names created.

    Raises:
        TopicError: the broker is unreachable, or a topic exists with another partition
            count (which would break per-shipment co-partitioning).
    """
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import KafkaError

    specs = (topics or Topics()).specs()
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, bootstrap_timeout_ms=10000)
    except (KafkaError, OSError) as exc:
        raise KafkaUnreachable(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from None
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
        enforced = [
            ConfigResource(
                ConfigResourceType.TOPIC,
                spec.name,
                configs={key: spec.configs[key] for key in spec.enforced},
            )
            for spec in specs
            if spec.enforced and spec.name in existing
        ]
        if enforced:
            admin.alter_configs(enforced)
        return [spec.name for spec in missing]
    except KafkaError as exc:
        raise TopicError(f"creating topics failed: {exc}") from None
    finally:
        admin.close()

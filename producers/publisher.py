"""Publish checkpoint events to Kafka with kafka-python.

Every event is validated against the contract before it is sent; the key is the shipment
id (so one shipment's events stay in one partition, in order), the checkpoint id travels in
a header, and the producer waits for all in-sync replicas (acks=all) with idempotence on,
so a retried send is never duplicated.

Example:
    >>> with KafkaEventPublisher("127.0.0.1:9092") as pub:  # doctest: +SKIP
    ...     pub.publish(event)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from producers.exceptions import PublishError
from schemas import Event, StreamHeartbeat, event_to_json

CHECKPOINT_HEADER = "goodsflow-checkpoint-id"
EVENT_TYPE_HEADER = "goodsflow-event-type"

log = logging.getLogger(__name__)


def event_headers(checkpoint_id: str, event_type: str) -> list[tuple[str, bytes]]:
    """The Kafka headers every checkpoint event carries."""
    return [
        (CHECKPOINT_HEADER, checkpoint_id.encode("utf-8")),
        (EVENT_TYPE_HEADER, event_type.encode("utf-8")),
    ]


class KafkaEventPublisher:
    """Send validated events to the checkpoint-events topic.

    Args:
        bootstrap_servers: "host:port[,host:port]".
        topic: defaults to goodsflow's checkpoint-events topic.
        timeout_s: how long :meth:`flush` waits for the broker's acknowledgements.
        linger_ms, batch_size: batching; bulk senders (the simulator) raise both.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = "checkpoint-events",
        timeout_s: float = 30.0,
        connect_timeout_s: float = 30.0,
        linger_ms: int = 5,
        batch_size: int = 16_384,
    ) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.topic = topic
        self.timeout_s = timeout_s
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap_servers,
                acks="all",
                enable_idempotence=True,
                linger_ms=linger_ms,
                batch_size=batch_size,
                bootstrap_timeout_ms=int(connect_timeout_s * 1000),
            )
        except (KafkaError, OSError) as exc:
            raise PublishError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from None
        self._pending: list = []

    def publish(self, event: Event) -> None:
        """Queue one validated event for sending (call :meth:`flush` to wait for it)."""
        self._pending.append(
            self.send_raw(
                event.shipment_id.encode("utf-8"),
                event_to_json(event),
                event_headers(event.checkpoint_id, event.event_type),
            )
        )

    def send_raw(
        self,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> Any:
        """Send bytes as they are; return the send's future (it resolves on the broker's
        acknowledgement). Not validated: for the outbox, whose events were validated when
        accepted, and for tools that test the pipeline's handling of bad input."""
        return self._producer.send(
            self.topic, key=key, value=value, headers=headers or [], partition=partition
        )

    def heartbeat(self, heartbeat: StreamHeartbeat) -> None:
        """Queue a heartbeat to every partition of the topic: event time has reached its
        time everywhere this publisher writes (schemas/heartbeat.py)."""
        value = heartbeat.model_dump_json().encode("utf-8")
        headers = [(EVENT_TYPE_HEADER, heartbeat.event_type.encode("utf-8"))]
        for partition in self.partitions():
            self._pending.append(self.send_raw(None, value, headers, partition))

    def partitions(self) -> list[int]:
        """The topic's partitions (it must exist)."""
        found = self._producer.partitions_for(self.topic)
        if not found:
            raise PublishError(f"topic {self.topic} does not exist")
        return sorted(found)

    def publish_raw(self, key: bytes | None, value: bytes) -> None:
        """Queue bytes as they are (see :meth:`send_raw`); :meth:`flush` waits for them."""
        self._pending.append(self.send_raw(key, value))

    def publish_all(self, events: Iterable[Event]) -> int:
        """Send events and wait until the broker acknowledged every one; return the count."""
        count = 0
        for event in events:
            self.publish(event)
            count += 1
        self.flush()
        return count

    def flush(self) -> None:
        """Wait until every queued event is acknowledged by the broker.

        Raises:
            PublishError: an event could not be delivered within the timeout.
        """
        from kafka.errors import KafkaError

        self._producer.flush(timeout=self.timeout_s)
        pending, self._pending = self._pending, []
        for future in pending:
            try:
                future.get(timeout=self.timeout_s)
            except KafkaError as exc:
                raise PublishError(f"Kafka did not acknowledge an event: {exc}") from None

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait until everything sent so far was acknowledged or failed (no raising)."""
        self._producer.flush(timeout=self.timeout_s if timeout_s is None else timeout_s)

    def close(self) -> None:
        self._producer.close(timeout=self.timeout_s)

    def __enter__(self) -> KafkaEventPublisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()
        self.close()

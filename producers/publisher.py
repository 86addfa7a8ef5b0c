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

from producers.exceptions import PublishError
from schemas import Event, event_to_json

CHECKPOINT_HEADER = "goodsflow-checkpoint-id"
EVENT_TYPE_HEADER = "goodsflow-event-type"

log = logging.getLogger(__name__)


class KafkaEventPublisher:
    """Send validated events to the checkpoint-events topic.

    Args:
        bootstrap_servers: "host:port[,host:port]".
        topic: defaults to goodsflow's checkpoint-events topic.
        timeout_s: how long :meth:`flush` waits for the broker's acknowledgements.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = "checkpoint-events",
        timeout_s: float = 30.0,
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
                linger_ms=5,
                bootstrap_timeout_ms=int(timeout_s * 1000),
            )
        except (KafkaError, OSError) as exc:
            raise PublishError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from None
        self._pending: list = []

    def publish(self, event: Event) -> None:
        """Queue one validated event for sending (call :meth:`flush` to wait for it)."""
        future = self._producer.send(
            self.topic,
            key=event.shipment_id.encode("utf-8"),
            value=event_to_json(event),
            headers=[
                (CHECKPOINT_HEADER, event.checkpoint_id.encode("utf-8")),
                (EVENT_TYPE_HEADER, event.event_type.encode("utf-8")),
            ],
        )
        self._pending.append(future)

    def publish_raw(self, key: bytes | None, value: bytes) -> None:
        """Send bytes as they are (for tools that test the pipeline's handling of bad input)."""
        self._pending.append(self._producer.send(self.topic, key=key, value=value))

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

"""Read a topic from a remembered position with kafka-python: take the end offsets now,
then collect what arrives after them. Used by the demo and the tests to read alerts and
dead letters back."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes
    partition: int
    offset: int
    headers: list[tuple[str, bytes]]
    topic: str = ""


class TopicTail:
    """Everything written to ``topic`` (one name, or several) after this object was
    created (or, with ``from_beginning``, everything the topic holds).

    Example:
        >>> tail = TopicTail("127.0.0.1:9092", "alerts")  # doctest: +SKIP
        >>> ... publish ...
        >>> records = tail.collect(lambda recs: len(recs) >= 3, timeout_s=60)
    """

    def __init__(
        self, bootstrap_servers: str, topic: str | list[str], from_beginning: bool = False
    ) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
        )
        tps = []
        for name in [topic] if isinstance(topic, str) else topic:
            partitions = self._consumer.partitions_for_topic(name) or set()
            if not partitions:
                self._consumer.close()
                raise LookupError(f"topic {name} does not exist")
            tps += [TopicPartition(name, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        if from_beginning:
            self._consumer.seek_to_beginning(*tps)
        else:
            for tp, offset in self._consumer.end_offsets(tps).items():
                self._consumer.seek(tp, offset)
        self.records: list[Record] = []

    def collect(
        self, done: Callable[[list[Record]], bool], timeout_s: float = 60.0
    ) -> list[Record]:
        """Poll until ``done(records)`` is true or the timeout passes; return the records."""
        deadline = time.monotonic() + timeout_s
        while not done(self.records) and time.monotonic() < deadline:
            self.poll(0.5)
        return self.records

    def poll(self, timeout_s: float) -> list[Record]:
        """What arrived within ``timeout_s`` (also kept in ``records``)."""
        new = [
            Record(m.key, m.value, m.partition, m.offset, list(m.headers or []), m.topic)
            for batch in self._consumer.poll(timeout_ms=int(timeout_s * 1000)).values()
            for m in batch
        ]
        self.records.extend(new)
        return new

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The API checkpoint software uses: validate, accept durably, forward when possible.

Example:
    >>> pub = CheckpointPublisher(Path("outbox.db"), "127.0.0.1:9092")  # doctest: +SKIP
    >>> pub.publish({"event_id": "E1", "event_type": "checkpoint.scanned", ...})
    >>> pub.flush()            # sends what is pending; safe to call at any time
    FlushResult(sent=1, pending=0, error=None)

``publish`` raises :class:`schemas.InvalidEventError` (naming each bad field) for an event
that breaks the contract; once it returns, the event is on disk and will reach Kafka, even
if the process is killed or the uplink is down for days.
"""

from __future__ import annotations

from pathlib import Path

from producers.forwarder import FlushResult, flush_outbox
from producers.outbox import SQLiteOutbox
from schemas import Event, parse_event, validate_event


class CheckpointPublisher:
    def __init__(
        self, outbox_path: Path, bootstrap_servers: str, topic: str = "checkpoint-events"
    ) -> None:
        self.outbox = SQLiteOutbox(outbox_path)
        self.bootstrap_servers, self.topic = bootstrap_servers, topic

    def publish(self, event: Event | dict[str, object] | str | bytes) -> Event:
        """Validate and durably accept one event; return it as validated."""
        if isinstance(event, str | bytes):
            valid = parse_event(event)
        elif isinstance(event, dict):
            valid = validate_event(event)
        else:
            valid = event
        self.outbox.accept([valid])
        return valid

    def flush(self, timeout_s: float = 60.0, connect_timeout_s: float = 10.0) -> FlushResult:
        """Send what is pending (see :func:`producers.forwarder.flush_outbox`)."""
        return flush_outbox(
            self.outbox,
            self.bootstrap_servers,
            topic=self.topic,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )

    def close(self) -> None:
        self.outbox.close()

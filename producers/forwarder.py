"""Forward the outbox to Kafka: pending events in acceptance order, each marked sent only
after the broker acknowledged it (acks=all, idempotent producer).

When the broker is unreachable nothing is lost: the events stay pending with the error
recorded, and the next flush sends them. An event sent but not yet marked when the process
dies is sent again by the next flush; downstream that repeat is harmless (same event_id).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from producers.exceptions import PublishError
from producers.outbox import SQLiteOutbox
from producers.publisher import KafkaEventPublisher, event_headers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlushResult:
    sent: int
    pending: int
    error: str | None = None


def flush_outbox(
    outbox: SQLiteOutbox,
    bootstrap_servers: str,
    *,
    topic: str = "checkpoint-events",
    timeout_s: float = 60.0,
    connect_timeout_s: float = 10.0,
    batch_size: int = 500,
) -> FlushResult:
    """Send every pending event; stop at the first batch the broker does not acknowledge."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if not outbox.pending(limit=1):
        return FlushResult(0, 0)
    try:
        publisher = KafkaEventPublisher(
            bootstrap_servers, topic, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s
        )
    except PublishError as exc:
        return FlushResult(0, outbox.status().pending, str(exc))
    sent = 0
    error: str | None = None
    try:
        last_seq = 0
        while error is None:
            batch = outbox.pending(limit=batch_size, after_seq=last_seq)
            if not batch:
                break
            futures = [
                (
                    ev.seq,
                    publisher.send_raw(
                        ev.shipment_id.encode("utf-8"),
                        ev.payload,
                        event_headers(ev.checkpoint_id, ev.event_type),
                    ),
                )
                for ev in batch
            ]
            publisher.wait()
            acked, failed = [], []
            for seq, future in futures:
                if future.succeeded():
                    acked.append(seq)
                else:
                    failed.append(seq)
                    error = error or f"Kafka did not acknowledge: {future.exception or 'timeout'}"
            outbox.mark_sent(acked)
            if failed:
                outbox.mark_failed(failed, error or "not acknowledged")
            sent += len(acked)
            last_seq = batch[-1].seq
    finally:
        publisher.close()
    return FlushResult(sent, outbox.status().pending, error)

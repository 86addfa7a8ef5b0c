"""A durable local outbox for checkpoint events (SQLite in WAL mode).

An event is *accepted* once it is committed to the outbox file (``synchronous=FULL``: the
commit returns after the write-ahead log is on disk), so it survives a process kill, a
power cut after the commit, and any broker outage. The forwarder
(:mod:`producers.forwarder`) sends pending events in acceptance order and marks each one
sent only after Kafka acknowledged it. An event id is accepted once: offering it again is
a no-op, so a checkpoint that retries after a crash does not queue duplicates.

Example:
    >>> box = SQLiteOutbox(Path("outbox.db"))  # doctest: +SKIP
    >>> box.accept([event])  # on disk when this returns
    1
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from producers.exceptions import OutboxError
from schemas import Event, event_to_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT NOT NULL UNIQUE,
    shipment_id   TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    payload       BLOB NOT NULL,
    accepted_at   TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    sent_at       TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
"""


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    event_id: str
    shipment_id: str
    checkpoint_id: str
    event_type: str
    payload: bytes


@dataclass(frozen=True)
class OutboxStatus:
    pending: int
    sent: int
    oldest_pending_accepted_at: str | None
    last_error: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SQLiteOutbox:
    """The outbox file. Safe to open from several processes (SQLite locks the file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open the outbox {path}: {exc}") from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: {exc}") from None

    def accept(self, events: Iterable[Event]) -> int:
        """Store validated events durably (one transaction); return how many were new."""
        rows = [
            (
                ev.event_id,
                ev.shipment_id,
                ev.checkpoint_id,
                ev.event_type,
                event_to_json(ev),
                _now(),
            )
            for ev in events
        ]
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO outbox "
                "(event_id, shipment_id, checkpoint_id, event_type, payload, accepted_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            return db.total_changes - before

    def pending(self, limit: int = 500, after_seq: int = 0) -> list[PendingEvent]:
        """Unsent events in acceptance order."""
        cursor = self._db.execute(
            "SELECT seq, event_id, shipment_id, checkpoint_id, event_type, payload FROM outbox "
            "WHERE sent_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [PendingEvent(*row) for row in cursor]

    def mark_sent(self, seqs: Iterable[int]) -> None:
        now = _now()
        with self._transaction() as db:
            db.executemany(
                "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL "
                "WHERE seq = ?",
                [(now, seq) for seq in seqs],
            )

    def mark_failed(self, seqs: Iterable[int], error: str) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                [(error[:2000], seq) for seq in seqs],
            )

    def status(self) -> OutboxStatus:
        pending, sent, oldest = self._db.execute(
            "SELECT count(*) FILTER (WHERE sent_at IS NULL), count(sent_at), "
            "min(accepted_at) FILTER (WHERE sent_at IS NULL) FROM outbox"
        ).fetchone()
        last_error = self._db.execute(
            "SELECT last_error FROM outbox WHERE sent_at IS NULL AND last_error IS NOT NULL "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return OutboxStatus(pending, sent, oldest, last_error[0] if last_error else None)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SQLiteOutbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

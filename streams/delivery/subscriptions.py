"""Task forces' subscriptions, kept in a small SQLite file.

Why SQLite and not the graph: delivery must keep working when Neo4j is down (alerts are
still produced to Kafka), the file holds each subscription's webhook secret (so it is
created readable by its owner only), and a task force's subscriptions are a handful of
rows that want transactions, not traversals. The graph records the case workflow, not who
listens.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from schemas import Alert, AlertStatus, CaseStep, GoodsflowError, Registry, Rule

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    locality TEXT NOT NULL,
    rules TEXT NOT NULL,          -- JSON list; empty: every rule
    min_severity INTEGER NOT NULL,
    webhook_url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    queue_only INTEGER NOT NULL DEFAULT 0  -- 1: only alerts of shipments in the risk queue
)
"""
# Files made before a column existed get it, with its default.
COLUMNS_ADDED = {"queue_only": "INTEGER NOT NULL DEFAULT 0"}
# The alerts a queue-only subscription was let through: their later revisions go too.
SENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_sent (
    subscription_id TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    PRIMARY KEY (subscription_id, alert_id)
)
"""


class SubscriptionError(GoodsflowError):
    """A subscription is invalid (unknown locality or rule, a bad URL, a severity out of
    range) or does not exist."""


class Subscription(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    locality: str
    rules: list[Rule] = Field(default_factory=list)  # empty: every rule
    min_severity: int = Field(ge=0, le=100)
    webhook_url: str
    secret: str = Field(repr=False)
    created_at: datetime
    queue_only: bool = False  # only alerts whose shipment is in the locality's risk queue


def matches(subscription: Subscription, alert: Alert) -> bool:
    """Whether ``alert`` goes to ``subscription``: it involves the locality, is of one of
    the rules, and is severe enough. A withdrawal goes wherever its rule and locality go,
    whatever the severity, so a receiver can cancel what it was sent."""
    if subscription.locality not in alert.localities:
        return False
    if subscription.rules and alert.rule not in subscription.rules:
        return False
    return alert.status == AlertStatus.WITHDRAWN or alert.severity >= subscription.min_severity


def matches_handover(subscription: Subscription, step: CaseStep) -> bool:
    """Whether a transfer goes to ``subscription``: it hands the alert to the
    subscription's locality, and the alert is of one of its rules. Whatever the severity:
    a person chose to hand it over."""
    if step.to_locality != subscription.locality or step.alert is None:
        return False
    return not subscription.rules or step.alert.rule in subscription.rules


class SubscriptionStore:
    """Subscriptions in the SQLite file ``path`` (created, owner-only, on first use)."""

    def __init__(self, path: Path, registry: Registry) -> None:
        self.path, self.registry = path, registry

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path)) as db:
            if new:
                os.chmod(self.path, 0o600)  # it holds webhook secrets
            db.execute(SCHEMA)
            db.execute(SENT_SCHEMA)
            have = {row[1] for row in db.execute("PRAGMA table_info(subscriptions)")}
            for column, spec in COLUMNS_ADDED.items():
                if column not in have:
                    try:
                        db.execute(f"ALTER TABLE subscriptions ADD COLUMN {column} {spec}")
                    except sqlite3.OperationalError as exc:  # another process added it
                        if "duplicate column" not in str(exc):
                            raise
            with db:
                yield db

    def add(
        self,
        name: str,
        locality: str,
        webhook_url: str,
        rules: list[str] | None = None,
        min_severity: int = 0,
        queue_only: bool = False,
    ) -> Subscription:
        """A new subscription, with a fresh secret for signing its webhooks; ``queue_only``:
        only the alerts whose shipment is in the locality's risk queue (and handovers)."""
        if locality not in self.registry.localities:
            known = ", ".join(sorted(self.registry.localities))
            raise SubscriptionError(f"unknown locality {locality!r}; one of {known}")
        try:
            parsed_rules = [Rule(r) for r in rules or []]
        except ValueError as exc:
            known = ", ".join(r.value for r in Rule)
            raise SubscriptionError(f"{exc}; rules are {known}") from None
        url = urlparse(webhook_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise SubscriptionError(f"webhook URL {webhook_url!r} is not an http(s) URL")
        if not 0 <= min_severity <= 100:
            raise SubscriptionError(f"minimum severity {min_severity} is not between 0 and 100")
        subscription = Subscription(
            id=f"SUB-{uuid.uuid4().hex[:12]}",
            name=name,
            locality=locality,
            rules=parsed_rules,
            min_severity=min_severity,
            webhook_url=webhook_url,
            secret=secrets.token_hex(32),
            created_at=datetime.now(UTC),
            queue_only=queue_only,
        )
        with self._db() as db:
            db.execute(
                "INSERT INTO subscriptions (id, name, locality, rules, min_severity, webhook_url, "
                "secret, created_at, queue_only) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    subscription.id,
                    name,
                    locality,
                    json.dumps([r.value for r in parsed_rules]),
                    min_severity,
                    webhook_url,
                    subscription.secret,
                    subscription.created_at.isoformat(),
                    int(queue_only),
                ),
            )
        return subscription

    def was_sent(self, subscription_id: str, alert_id: str) -> bool:
        """Whether ``alert_id`` was let through to the queue-only subscription before."""
        with self._db() as db:
            row = db.execute(
                "SELECT 1 FROM queue_sent WHERE subscription_id = ? AND alert_id = ?",
                (subscription_id, alert_id),
            ).fetchone()
        return row is not None

    def mark_sent(self, subscription_id: str, alert_id: str) -> None:
        """Remember that ``alert_id`` was let through to the queue-only subscription."""
        with self._db() as db:
            db.execute(
                "INSERT OR IGNORE INTO queue_sent VALUES (?, ?)", (subscription_id, alert_id)
            )

    def remove(self, subscription_id: str) -> None:
        with self._db() as db:
            gone = db.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))
            db.execute("DELETE FROM queue_sent WHERE subscription_id = ?", (subscription_id,))
        if gone.rowcount == 0:
            raise SubscriptionError(f"no subscription {subscription_id}")

    def all(self) -> list[Subscription]:
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute(
                "SELECT id, name, locality, rules, min_severity, webhook_url, secret, created_at, "
                "queue_only "
                "FROM subscriptions ORDER BY locality, created_at"
            ).fetchall()
        return [
            Subscription(
                id=r[0],
                name=r[1],
                locality=r[2],
                rules=json.loads(r[3]),
                min_severity=r[4],
                webhook_url=r[5],
                secret=r[6],
                created_at=datetime.fromisoformat(r[7]),
                queue_only=bool(r[8]),
            )
            for r in rows
        ]

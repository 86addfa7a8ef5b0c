"""Writes the graph projection to Neo4j: one managed transaction per batch.

The driver is passed in (built by an entry point's bootstrap). Each batch runs every
statement of :data:`graph.cypher.WRITE_QUERIES` inside ``session.execute_write``, so the
driver retries transient errors and deadlocks; the statements are keyed MERGEs, so a retry
or a redelivered batch changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import neo4j
from neo4j.exceptions import DriverError, Neo4jError

from graph.cypher import (
    MERGE_CHECKPOINTS_QUERY,
    MERGE_LOCALITIES_QUERY,
    NODE_COUNTS_QUERY,
    RECORDED_EVENT_COUNT_QUERY,
    RELATIONSHIP_COUNTS_QUERY,
    SCHEMA_QUERIES,
    WRITE_QUERIES,
)
from graph.exceptions import GraphUnavailable
from graph.projection import GraphRows, project, reference_rows
from schemas import Alert, CaseStep, Event, Registry

log = logging.getLogger(__name__)


def bolt_row(row: dict[str, Any]) -> dict[str, Any]:
    """Times as ISO text (the Cypher reads them back with datetime()): packing a Python
    datetime as a Bolt parameter costs about 20 microseconds a row here, even with the
    driver's Rust extension, against under 2 for the whole row as text
    (bench/graph_write.py)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _write_rows(tx: neo4j.ManagedTransaction, statements: dict[str, list[dict[str, Any]]]) -> int:
    written = 0
    for name, rows in statements.items():
        if rows:
            tx.run(WRITE_QUERIES[name], rows=[bolt_row(row) for row in rows]).consume()
            written += len(rows)
    return written


class Neo4jGraphWriter:
    """Batched, idempotent writes of events and alerts to Neo4j.

    Args:
        driver: an open ``neo4j.Driver``; the writer never closes it.
        database: the Neo4j database name.

    Raises:
        GraphUnavailable: from any method, when Neo4j is unreachable or a write still fails
            after the driver's retries.
    """

    def __init__(self, driver: neo4j.Driver, database: str = "neo4j") -> None:
        self._driver = driver
        self._database = database

    def init_schema(self, registry: Registry) -> None:
        """Create constraints and indexes and load the reference registry (idempotent)."""
        localities, checkpoints = reference_rows(registry)
        try:
            for query in SCHEMA_QUERIES:
                self._driver.execute_query(query, database_=self._database)
            self._driver.execute_query(
                MERGE_LOCALITIES_QUERY, rows=localities, database_=self._database
            )
            self._driver.execute_query(
                MERGE_CHECKPOINTS_QUERY, rows=checkpoints, database_=self._database
            )
        except (DriverError, Neo4jError) as exc:
            raise GraphUnavailable(f"could not set up the graph schema: {exc}") from exc

    def write(
        self,
        events: Iterable[Event] = (),
        alerts: Iterable[Alert] = (),
        steps: Iterable[CaseStep] = (),
    ) -> int:
        """Write a batch in one transaction; return the number of rows written."""
        rows = project(events, alerts, steps)
        return self.write_rows(rows)

    def write_rows(self, rows: GraphRows) -> int:
        if not len(rows):
            return 0
        try:
            with self._driver.session(database=self._database) as session:
                written: int = session.execute_write(_write_rows, rows.statements())
                return written
        except (DriverError, Neo4jError) as exc:
            raise GraphUnavailable(f"graph write failed after retries: {exc}") from exc

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts of nodes by label and relationships by type."""
        try:
            nodes, _, _ = self._driver.execute_query(NODE_COUNTS_QUERY, database_=self._database)
            rels, _, _ = self._driver.execute_query(
                RELATIONSHIP_COUNTS_QUERY, database_=self._database
            )
        except (DriverError, Neo4jError) as exc:
            raise GraphUnavailable(f"could not read the graph summary: {exc}") from exc
        return {
            "nodes": {r["label"]: r["count"] for r in nodes},
            "relationships": {r["type"]: r["count"] for r in rels},
        }

    def recorded_event_count(self, shipment_ids: list[str]) -> int:
        """How many distinct events of these shipments the graph holds."""
        try:
            records, _, _ = self._driver.execute_query(
                RECORDED_EVENT_COUNT_QUERY, shipment_ids=shipment_ids, database_=self._database
            )
        except (DriverError, Neo4jError) as exc:
            raise GraphUnavailable(f"could not count recorded events: {exc}") from exc
        return int(records[0]["events"])

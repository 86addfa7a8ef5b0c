"""Writes the graph projection to Neo4j: one managed transaction per batch.

The driver is passed in (built by an entry point's bootstrap). Each batch runs every
statement of :data:`graph.cypher.WRITE_QUERIES` inside ``session.execute_write``, so the
driver retries transient errors and deadlocks; the statements are keyed MERGEs, so a retry
or a redelivered batch changes nothing.

A failed write is one of two things. Either Neo4j is away or busy (:class:`GraphUnavailable`:
the caller backs off and writes the same batch again), or it refused the rows themselves
(:class:`GraphRefused`: a value it cannot take, such as a time at UTC+19:00; the same rows
fail the same way forever). :meth:`Neo4jGraphWriter.write_isolating` tells the refused
events, alerts and steps of a batch from the rest by bisection, writes the rest and hands
the refused back, so one poisoned event costs a dead letter instead of the whole stream.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
from graph.exceptions import GraphRefused, GraphUnavailable
from graph.projection import GraphRows, project, reference_rows
from schemas import Alert, CaseStep, Event, Registry

log = logging.getLogger(__name__)

Unit = Event | Alert | CaseStep
"""What a batch is made of, and what is refused or written whole: each projects to rows in
several statements, so a refusal is pinned on the unit, never on a row."""

UNSENDABLE = "goodsflow.Unsendable"
"""The code of a refusal by the driver itself: a value it cannot pack (a lone surrogate in a
string, an integer beyond 64 bits); Neo4j never saw it."""

# Neo4j errors that the rows cause, as (classification, category) of the status code: the
# statement with these parameters (Statement, including the "property value is too large to
# index" DatabaseError), a constraint (Schema), the values sent (Request). Every other
# ClientError is about the session, never the rows (Security: credentials; Database: no such
# database; Transaction, General): refusing rows for those would dead-letter the stream.
_REFUSALS = frozenset(
    {
        ("ClientError", "Statement"),
        ("ClientError", "Schema"),
        ("ClientError", "Request"),
        ("DatabaseError", "Statement"),
    }
)


def refusal(exc: Exception) -> GraphRefused | None:
    """The refusal ``exc`` stands for, or None when retrying later may succeed.

    Transient by this rule: ServiceUnavailable (server down or unreachable, including
    IncompleteCommit), SessionExpired, TransientError (deadlocks, a database not ready),
    any other DriverError and OSError (connections, pools, configuration), and the
    ClientErrors that are about the session rather than the rows (see ``_REFUSALS``).
    """
    if isinstance(exc, Neo4jError) and not exc.is_retryable():
        parts = (exc.code or "").split(".")
        if len(parts) == 4 and (parts[1], parts[2]) in _REFUSALS:
            return GraphRefused(exc.code or "", exc.message or str(exc))
    return None


def bolt_row(row: dict[str, Any]) -> dict[str, Any]:
    """Times as ISO text (the Cypher reads them back with datetime()): packing a Python
    datetime as a Bolt parameter costs about 20 microseconds a row here, even with the
    driver's Rust extension, against under 2 for the whole row as text
    (bench/graph_write.py)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


class _Unsendable(Exception):
    """The driver could not pack a statement's rows. Raised inside the transaction function,
    so the driver does not retry it (it retries only its own retryable errors)."""


def _write_rows(tx: neo4j.ManagedTransaction, statements: dict[str, list[dict[str, Any]]]) -> int:
    """Run each statement with its rows (as :func:`bolt_row` made them)."""
    written = 0
    for name, params in statements.items():
        if params:
            try:
                # the driver packs here, into a buffer it rolls back when packing fails, so
                # the connection stays usable; nothing else in run() raises these
                result = tx.run(WRITE_QUERIES[name], rows=params)
            except (ValueError, TypeError, OverflowError) as exc:
                raise _Unsendable(f"{name}: {type(exc).__name__}: {exc}") from exc
            result.consume()
            written += len(params)
    return written


def _bolt_statements(rows: GraphRows) -> dict[str, list[dict[str, Any]]]:
    return {name: [bolt_row(row) for row in rs] for name, rs in rows.statements().items() if rs}


@dataclass(frozen=True)
class PreparedBatch:
    """A batch projected and made ready to send (:meth:`Neo4jGraphWriter.prepare`): the
    work that needs no server, done where it suits the caller (the worker does it while
    Neo4j writes the batch before)."""

    units: tuple[Unit, ...]
    statements: dict[str, list[dict[str, Any]]]


def _rows_of(units: Sequence[Unit]) -> GraphRows:
    return project(
        [u for u in units if not isinstance(u, Alert | CaseStep)],
        [u for u in units if isinstance(u, Alert)],
        [u for u in units if isinstance(u, CaseStep)],
    )


@dataclass(frozen=True)
class Refused:
    """An event, alert or case step Neo4j refused, with its reason: dead-letter it.

    Attributes:
        item: the unit as given to :meth:`Neo4jGraphWriter.write_isolating`.
        code: Neo4j's status code (``Neo.ClientError.Statement.ArgumentError``), or
            :data:`UNSENDABLE`.
        message: Neo4j's message (or the driver's), naming the value it refused.
    """

    item: Unit
    code: str
    message: str


@dataclass(frozen=True)
class WriteReport:
    """What :meth:`Neo4jGraphWriter.write_isolating` did with a batch.

    Attributes:
        written_rows: rows written, over all transactions (as :meth:`~Neo4jGraphWriter.write`
            counts them).
        refused: the units refused, in batch order; everything else was written.
        transactions: write transactions run: 1 when nothing is refused (0 for an empty
            batch); a refused unit adds up to two per halving, so k of n cost O(k log n).
    """

    written_rows: int
    refused: tuple[Refused, ...]
    transactions: int


@dataclass
class _Tally:
    written_rows: int = 0
    transactions: int = 0
    refused: list[Refused] = field(default_factory=list)


class Neo4jGraphWriter:
    """Batched, idempotent writes of events and alerts to Neo4j.

    Args:
        driver: an open ``neo4j.Driver``; the writer never closes it.
        database: the Neo4j database name.
        max_transaction_retry_time: seconds the driver keeps retrying one write's transient
            failures (its sessions' setting of that name; the driver's own default is 30 s)
            before the writer raises GraphUnavailable. Kept short so the caller's backoff
            loop, which can see a shutdown, gets control back soon: a call returns within
            about this plus the driver's last retry delay (1, 2, 4 ... s), plus the driver's
            connection_timeout per attempt when the host does not answer at all. None keeps
            the driver's setting.

    Raises:
        GraphUnavailable: from any method, when Neo4j is unreachable or a write still fails
            after the driver's retries; the same call may succeed later.
        GraphRefused: from :meth:`write` and :meth:`write_rows`, when Neo4j refuses the
            rows themselves (:meth:`write_isolating` returns the refused units instead).
    """

    def __init__(
        self,
        driver: neo4j.Driver,
        database: str = "neo4j",
        max_transaction_retry_time: float | None = 5.0,
    ) -> None:
        self._driver = driver
        self._database = database
        self._session_config: dict[str, Any] = {"database": database}
        if max_transaction_retry_time is not None:
            self._session_config["max_transaction_retry_time"] = max_transaction_retry_time

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
        """Write a batch in one transaction, all or nothing; return the number of rows
        written.

        Raises:
            GraphRefused: Neo4j refused a row; nothing of the batch was written.
            GraphUnavailable: retry later.
        """
        rows = project(events, alerts, steps)
        return self.write_rows(rows)

    def write_rows(self, rows: GraphRows) -> int:
        """Write projected rows in one transaction; return how many (errors as :meth:`write`)."""
        if not len(rows):
            return 0
        return self._write_statements(_bolt_statements(rows))

    def _write_statements(self, statements: dict[str, list[dict[str, Any]]]) -> int:
        try:
            with self._driver.session(**self._session_config) as session:
                written: int = session.execute_write(_write_rows, statements)
                return written
        except _Unsendable as exc:
            raise GraphRefused(UNSENDABLE, str(exc)) from exc
        except (DriverError, Neo4jError, OSError) as exc:
            refused = refusal(exc)
            if refused is not None:
                raise refused from exc
            raise GraphUnavailable(f"graph write failed after retries: {exc}") from exc

    def write_isolating(
        self,
        events: Iterable[Event] = (),
        alerts: Iterable[Alert] = (),
        steps: Iterable[CaseStep] = (),
    ) -> WriteReport:
        """Write a batch, setting aside the events, alerts and steps Neo4j refuses.

        The batch goes in one transaction, as with :meth:`write`. Only when Neo4j refuses it
        is it halved, and each half written or halved again, down to the single units that
        Neo4j refuses on their own; those come back with Neo4j's reason, everything else is
        written. A half whose sibling was written whole is split without being tried whole
        first (it is the one that failed), which saves a transaction a level.

        Raises:
            GraphUnavailable: Neo4j went away (before or during the bisection). Some halves
                may be written already; writing the whole batch again is harmless (keyed
                MERGEs) and refuses the same units.

        Example::

            report = writer.write_isolating(events)
            for refused in report.refused:
                dead_letter(refused.item, f"{refused.code}: {refused.message}")
        """
        return self.write_prepared(self.prepare(events, alerts, steps))

    @staticmethod
    def prepare(
        events: Iterable[Event] = (),
        alerts: Iterable[Alert] = (),
        steps: Iterable[CaseStep] = (),
    ) -> PreparedBatch:
        """Project a batch and make its rows ready to send (no server needed)."""
        units = (*events, *alerts, *steps)
        return PreparedBatch(units, _bolt_statements(_rows_of(units)))

    def write_prepared(self, batch: PreparedBatch) -> WriteReport:
        """:meth:`write_isolating` of a prepared batch (the same report, the same errors)."""
        tally = _Tally()
        if batch.statements:
            tally.transactions += 1
            try:
                tally.written_rows += self._write_statements(batch.statements)
            except GraphRefused as exc:
                if len(batch.units) == 1:
                    tally.refused.append(Refused(batch.units[0], exc.code, exc.message))
                else:
                    self._settle(batch.units, tally, failed=True)
        if tally.refused:
            log.warning(
                "Neo4j refused %d of the batch's units (%d transactions): %s",
                len(tally.refused),
                tally.transactions,
                "; ".join(sorted({r.code for r in tally.refused})),
            )
        return WriteReport(tally.written_rows, tuple(tally.refused), tally.transactions)

    def _settle(self, units: Sequence[Unit], tally: _Tally, failed: bool) -> bool:
        """Write ``units`` or find which of them Neo4j refuses; True when none was.
        ``failed``: these units are known to fail together, so skip trying them whole."""
        if not failed or len(units) == 1:
            rows = _rows_of(units)
            if not len(rows):
                return True
            tally.transactions += 1
            try:
                tally.written_rows += self.write_rows(rows)
                return True
            except GraphRefused as exc:
                if len(units) == 1:
                    tally.refused.append(Refused(units[0], exc.code, exc.message))
                    return False
        half = len(units) // 2
        first = self._settle(units[:half], tally, failed=False)
        # If the first half went through whole, the second is what failed. (Unless units
        # fail only together: then its halves are written apart and none is refused.)
        second = self._settle(units[half:], tally, failed=first)
        return first and second

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

"""A locality's risk queue for a day, from the graph: what the API's
``/localities/{code}/queue``, ``goodsflow alerts queue`` and queue-only webhook
subscriptions show. The ranking itself is streams/queue.py's, the same that ``goodsflow
evaluate`` measures.

From the graph, the queue takes the locality's open alerts whose case is not closed: those
involving it, but not those it handed to another locality, and those handed to it. A day's
queue ranks the shipments with such an alert raised that day (Vietnam time), each by its
alerts raised up to the day's end, looking back ``LOOKBACK`` days.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from graph.exceptions import QueryError
from graph.results import MAX_ROWS, AlertRecord, QueueEntry
from schemas import VIETNAM_TZ
from streams.config import QueueConfig
from streams.queue import Queued, Ranked, daily_queues, day_of

if TYPE_CHECKING:
    from graph.embedded_queries import EmbeddedQueries
    from graph.queries import Neo4jQueries

LOOKBACK = timedelta(days=3)  # how far back a shipment's first alert is looked for


@dataclass(frozen=True)
class DayQueue:
    """A locality's queue for a day, and the graph's records of the alerts in it."""

    locality: str
    day: date
    queued: list[Queued]
    records: dict[str, AlertRecord] = field(default_factory=dict)

    def entries(self) -> list[QueueEntry]:
        """The queue as the API and the CLI show it, riskiest first (sampled last)."""
        return [
            QueueEntry(
                rank=rank,
                shipment_id=q.shipment_id,
                risk=q.risk,
                sampled=q.sampled,
                rules=list(q.rules),
                alerts=[self.records[a] for a in q.alert_ids if a in self.records],
            )
            for rank, q in enumerate(self.queued, start=1)
        ]


def day_window(day: date) -> tuple[datetime, datetime]:
    """``day``'s start and end, Vietnam time (QueryError for a day the look-back or the
    end would take out of the calendar)."""
    if not 1 < day.year < 9999:
        raise QueryError(f"day {day.isoformat()} is out of range (years 2 to 9998)")
    start = datetime.combine(day, time(), VIETNAM_TZ)
    return start, start + timedelta(days=1)


def _pages(read: Callable[[int, int], Sequence[Any]]) -> Iterable[Any]:
    offset = 0
    while True:
        rows = read(MAX_ROWS, offset)
        yield from rows
        if len(rows) < MAX_ROWS:
            return
        offset += len(rows)


def _as_involving(record: AlertRecord, locality: str) -> AlertRecord:
    """A transferred alert counts in the queue of the locality it was handed to."""
    if locality in record.localities:
        return record
    return record.model_copy(update={"localities": [*record.localities, locality]})


def _open_records(
    queries: Neo4jQueries | EmbeddedQueries, locality: str, since: datetime, until: datetime
) -> tuple[list[AlertRecord], set[str]]:
    """The open alerts of ``locality``'s queue raised in ``[since, until)`` (the module's
    docstring says which), and the ids of those left out for their case (closed, or handed
    to another locality)."""
    kept, left_out = [], set()
    for record in _pages(
        lambda limit, offset: queries.alerts(
            locality=locality, status="open", since=since, until=until, limit=limit, offset=offset
        )
    ):
        if record.case_status != "closed" and record.assigned_to in (None, locality):
            kept.append(_as_involving(record, locality))
        else:
            left_out.add(record.alert_id)
    return kept, left_out


def shipment_queued(
    queries: Neo4jQueries | EmbeddedQueries, locality: str, alert: Ranked, cfg: QueueConfig
) -> bool:
    """Whether ``alert``'s shipment is in ``locality``'s queue of the day ``alert`` was
    raised, ``alert`` counted (the graph may not hold it yet; when the graph holds it with
    its case closed or handed to another locality, it is not)."""
    day = day_of(alert)
    start, end = day_window(day)
    records, left_out = _open_records(queries, locality, start - LOOKBACK, end)
    if alert.alert_id in left_out:
        return False
    queued = daily_queues([*records, alert], locality, cfg).get(day, [])
    return any(q.shipment_id == alert.shipment_id for q in queued)


def day_queue(
    queries: Neo4jQueries | EmbeddedQueries,
    locality: str,
    day: date,
    cfg: QueueConfig,
) -> DayQueue:
    """``locality``'s queue on ``day``, with the day's random floor (the shipments through
    the locality's checkpoints that day with no alert)."""
    start, end = day_window(day)
    records, _ = _open_records(queries, locality, start - LOOKBACK, end)
    passed = _pages(
        lambda limit, offset: queries.passed(
            start, end, locality=locality, limit=limit, offset=offset
        )
    )
    traffic = {day: {p.shipment_id for p in passed}}
    queued = daily_queues(records, locality, cfg, traffic).get(day, [])
    return DayQueue(locality, day, queued, {r.alert_id: r for r in records})

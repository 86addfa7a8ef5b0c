"""The ingest stage's judgement of input records. Pure: records in, verdicts out.

Every record of ``checkpoint-events`` and ``alert-cases`` gets exactly one verdict: an
event or a case step to pass on, a heartbeat that moves event time, or a rejection with
the reason (any exception while reading it, not only a contract violation: the worker
must never stop on one hostile record). Per input partition of ``checkpoint-events`` it
keeps the stream time (the latest event or heartbeat time) and, after each batch that
moved it, gives a watermark mark: the stream time minus the allowed lateness.

Example:
    >>> ingest = Ingest(Topics(), detection_config)  # doctest: +SKIP
    >>> verdicts = ingest.take(records)  # doctest: +SKIP
    >>> verdicts.events, verdicts.rejected, verdicts.marks  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from schemas import CaseStep, Event, StreamHeartbeat, parse_record
from schemas.errors import InvalidEventError
from streams.config import DetectionConfig
from streams.event_time import problem
from streams.records import Mark
from streams.topics import Topics


@dataclass(frozen=True)
class InputRecord:
    """One record as the consumer gave it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None  # when the broker received it (LogAppendTime)

    @property
    def received_ms(self) -> int | None:
        """The broker's timestamp, None when it has none."""
        if self.timestamp_ms is None or self.timestamp_ms < 0:
            return None
        return self.timestamp_ms


@dataclass(frozen=True)
class Rejected:
    record: InputRecord
    reason: str
    problems: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Verdicts:
    events: list[tuple[InputRecord, Event]] = field(default_factory=list)
    cases: list[tuple[InputRecord, CaseStep]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    def extend(self, later: Verdicts) -> None:
        """Add the verdicts of the records read after these (a mark replaces the earlier
        mark of its partition: stream time only moves forward)."""
        self.events += later.events
        self.cases += later.cases
        self.rejected += later.rejected
        marks = {m.source: m for m in self.marks} | {m.source: m for m in later.marks}
        self.marks = [marks[p] for p in sorted(marks)]


class Ingest:
    """Reads input records; remembers each input partition's stream time."""

    def __init__(self, topics: Topics, config: DetectionConfig) -> None:
        self.topics, self.cfg = topics, config.event_time
        self.lateness = timedelta(minutes=config.event_time.allowed_lateness_minutes)
        self.stream_time: dict[int, datetime] = {}

    def take(self, records: Iterable[InputRecord]) -> Verdicts:
        """A verdict for every record, and the marks of the partitions whose time moved."""
        out = Verdicts()
        moved: set[int] = set()
        for record in records:
            if record.topic == self.topics.alert_cases:
                self._case(record, out)
            elif self._event(record, out):
                moved.add(record.partition)
        out.marks = [Mark(p, self.stream_time[p] - self.lateness) for p in sorted(moved)]
        return out

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions another worker reads now."""
        for partition in partitions:
            self.stream_time.pop(partition, None)

    def _event(self, record: InputRecord, out: Verdicts) -> bool:
        """Judge a checkpoint-events record; whether it moved its partition's time."""
        if not record.value:
            out.rejected.append(Rejected(record, "empty record: no value"))
            return False
        try:
            parsed = parse_record(record.value)
        except InvalidEventError as exc:
            out.rejected.append(Rejected(record, exc.reason, exc.problems))
            return False
        except Exception as exc:  # whatever a hostile record triggers
            out.rejected.append(Rejected(record, f"unreadable record: {_describe(exc)}"))
            return False
        why = problem(parsed.occurred_at, record.received_ms, self.cfg)
        if why is not None:
            out.rejected.append(Rejected(record, why, [{"field": "occurred_at", "error": why}]))
            return False
        if not isinstance(parsed, StreamHeartbeat):
            out.events.append((record, parsed))
        known = self.stream_time.get(record.partition)
        if known is None or parsed.occurred_at > known:
            self.stream_time[record.partition] = parsed.occurred_at
            return True
        return False

    def _case(self, record: InputRecord, out: Verdicts) -> None:
        if not record.value:
            out.rejected.append(Rejected(record, "empty case step: no value"))
            return
        try:
            out.cases.append((record, CaseStep.model_validate_json(record.value)))
        except ValidationError as exc:
            problems = [
                {
                    "field": ".".join(map(str, e["loc"])) or "(root)",
                    "error": e["msg"],
                }
                for e in exc.errors(include_url=False)
            ]
            reason = "; ".join(f"{p['field']}: {p['error']}" for p in problems)
            out.rejected.append(Rejected(record, f"invalid case step: {reason}", problems))
        except Exception as exc:
            out.rejected.append(Rejected(record, f"unreadable case step: {_describe(exc)}"))


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:500]}" if text else type(exc).__name__

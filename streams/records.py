"""The worker's own records between its stages: what goes on ``goodsflow-shipment-events``
and the watermark marks on it and on ``goodsflow-detection-facts``. Pure.

A record's kind travels in a header, so a reader routes it without parsing the value:

- ``event``: a checkpoint event that passed the ingest stage, as normalised JSON, keyed by
  shipment id;
- ``case``: a task force's step on an alert (schemas/cases.py), keyed by shipment id;
- ``watermark``: "everything of input partition ``source`` earlier than ``watermark`` has
  been written before this record" (Flink's watermark, carried in the log). The ingest
  stage writes one to every partition of the shipment-events topic and to its own
  partition of the facts topic after each batch that moved it.

``source`` header: where the record came from (``topic/partition/offset``), so a dead
letter written later still names the original record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from schemas.times import canonical

KIND = "gf-kind"
SOURCE = "gf-source"

EVENT = b"event"
CASE = b"case"
WATERMARK = b"watermark"

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Mark:
    """Input partition ``source`` has been written up to ``watermark`` (event time)."""

    source: int
    watermark: datetime


def mark_record(mark: Mark) -> tuple[bytes, bytes, Headers]:
    """(key, value, headers) of a watermark mark."""
    value = json.dumps({"source": mark.source, "watermark": mark.watermark.isoformat()})
    return f"~watermark/{mark.source}".encode(), value.encode(), [(KIND, WATERMARK)]


def read_mark(value: bytes) -> Mark:
    """A mark from its value (ValueError, KeyError or TypeError when it is not one)."""
    data = json.loads(value)
    return Mark(int(data["source"]), canonical(datetime.fromisoformat(data["watermark"])))


def kind_of(headers: Headers | tuple[tuple[str, bytes], ...] | None) -> bytes | None:
    for name, value in headers or ():
        if name == KIND:
            return value
    return None


def source_of(headers: Headers | tuple[tuple[str, bytes], ...] | None) -> str:
    for name, value in headers or ():
        if name == SOURCE:
            return value.decode("utf-8", errors="replace")
    return ""


def record_headers(kind: bytes, topic: str, partition: int, offset: int) -> Headers:
    return [(KIND, kind), (SOURCE, f"{topic}/{partition}/{offset}".encode())]


def parse_source(source: str) -> tuple[str, int, int]:
    """(topic, partition, offset) of a ``source`` header ("", -1, -1 when unknown)."""
    topic, _, rest = source.rpartition("/")
    topic, _, partition = topic.rpartition("/")
    try:
        return topic, int(partition), int(rest)
    except ValueError:
        return "", -1, -1


@dataclass
class WatermarkVector:
    """The latest mark of every input partition, as one reader has seen them; the
    watermark is their minimum (none until every input partition has sent one), as a Flink
    operator's is the minimum over its input channels."""

    sources: int
    marks: dict[int, datetime]

    @classmethod
    def empty(cls, sources: int) -> WatermarkVector:
        return cls(sources, {})

    def update(self, mark: Mark) -> bool:
        """Take a mark (a mark never moves a source back); whether it moved anything."""
        known = self.marks.get(mark.source)
        if known is not None and mark.watermark <= known:
            return False
        self.marks[mark.source] = mark.watermark
        return True

    @property
    def watermark(self) -> datetime | None:
        if len(self.marks) < self.sources:
            return None
        return min(self.marks.values())

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "sources": self.sources,
                "marks": {str(k): v.isoformat() for k, v in self.marks.items()},
            }
        ).encode()

    @classmethod
    def from_json(cls, value: bytes) -> WatermarkVector:
        data = json.loads(value)
        marks = {int(k): canonical(datetime.fromisoformat(v)) for k, v in data["marks"].items()}
        return cls(int(data["sources"]), marks)

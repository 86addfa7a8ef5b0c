"""Events the ingest stage parsed, handed to the detection stage of the same worker.

The ingest stage forwards each event to ``goodsflow-shipment-events`` as the bytes it
received, and the detection stage reads them back. Parsing them again cost about a tenth
of the worker's CPU. Parsing is a pure function of the bytes (the events are frozen), so
when detection reads bytes that ingest parsed in this process, it takes ingest's result.

Detection does not always read what this worker's ingest parsed (with several workers, a
shipment's partition may be another worker's), so the handoff holds a bounded number of
events and forgets the oldest; a miss parses the bytes as before.

Example:
    >>> handoff = ParsedEvents(limit=2)
    >>> handoff.put(b"x", event)  # doctest: +SKIP
    >>> handoff.parse(b"x") is event  # doctest: +SKIP
    True
"""

from __future__ import annotations

from schemas import Event, StreamHeartbeat, parse_record

# About five batches of 2,000 events: detection reads an event a batch or two after ingest
# forwarded it. An event with its models is about 3 KB.
LIMIT = 10_000


class ParsedEvents:
    """Parsed events by the exact bytes they were parsed from."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._events: dict[bytes, Event] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._events)

    def put(self, value: bytes, event: Event) -> None:
        """``event`` is what ``parse_record(value)`` gave."""
        events = self._events
        events[value] = event
        while len(events) > self.limit:
            del events[next(iter(events))]  # the oldest (dicts keep insertion order)

    def parse(self, value: bytes) -> Event | StreamHeartbeat:
        """``parse_record(value)``, taken from the handoff when ingest parsed it here (once:
        a record read again after a rebalance is parsed again)."""
        event = self._events.pop(value, None)
        if event is not None:
            self.hits += 1
            return event
        self.misses += 1
        return parse_record(value)

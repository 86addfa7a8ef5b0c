"""The handoff of parsed events from ingest to detection: the same answer as parsing the
bytes, each event taken once, and a bounded size."""

from __future__ import annotations

from schemas import event_to_json, parse_record
from streams.handoff import ParsedEvents
from tests.factories import declaration, scan


def test_a_handed_over_event_is_taken_once_then_the_bytes_are_parsed_again():
    decl = declaration()
    value = event_to_json(decl)
    parsed = parse_record(value)
    handoff = ParsedEvents()
    handoff.put(value, parsed)
    assert handoff.parse(value) is parsed
    again = handoff.parse(value)  # read again after a rebalance: parsed anew
    assert again is not parsed and again == parsed
    assert (handoff.hits, handoff.misses) == (1, 1)


def test_bytes_ingest_never_saw_are_parsed():
    decl = declaration()
    handoff = ParsedEvents()
    handoff.put(event_to_json(decl), parse_record(event_to_json(decl)))
    other = event_to_json(scan(decl.shipment_id, "LS-HUUNGHI", 30))
    assert handoff.parse(other) == parse_record(other)
    assert (handoff.hits, handoff.misses, len(handoff)) == (0, 1, 1)


def test_the_oldest_events_are_forgotten_past_the_limit():
    decl = declaration()
    values = [event_to_json(scan(decl.shipment_id, "LS-HUUNGHI", m)) for m in range(5)]
    handoff = ParsedEvents(limit=3)
    for value in values:
        handoff.put(value, parse_record(value))
    assert len(handoff) == 3
    for value in values:
        assert handoff.parse(value) == parse_record(value)
    assert (handoff.hits, handoff.misses) == (3, 2)  # the two oldest were parsed again

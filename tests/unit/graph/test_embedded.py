"""The embedded graph on its own (no server): replays change nothing, corrections mark and
never delete, whichever of the event and its correction comes first."""

import pytest

from graph.embedded import EmbeddedGraph
from graph.embedded_queries import EmbeddedQueries
from graph.exceptions import NotFound
from schemas import load_registry
from tests.factories import ROUTE, correction, declaration, scan

REG = load_registry()


def _size(g: EmbeddedGraph) -> tuple[int, int]:
    return g.g.number_of_nodes(), g.g.number_of_edges()


def test_a_replayed_batch_changes_nothing():
    decl = declaration()
    events = [decl, *(scan(decl.shipment_id, cp, 90 * i) for i, cp in enumerate(ROUTE))]
    graph = EmbeddedGraph(REG)
    graph.write(events)
    once = _size(graph)
    graph.write(events)
    graph.write(reversed(events))
    assert _size(graph) == once
    named = {
        d["event_id"] for _, _, d in graph.g.out_edges(("Shipment", decl.shipment_id), data=True)
    }
    assert named == {e.event_id for e in events}


@pytest.mark.parametrize("correction_first", [False, True])
def test_a_correction_marks_the_passage_retracted(correction_first):
    decl = declaration()
    scans = [scan(decl.shipment_id, cp, 90 * i) for i, cp in enumerate(ROUTE[:3])]
    fix = correction(scans[1])
    graph = EmbeddedGraph(REG)
    if correction_first:
        graph.write([fix])
    graph.write([decl, *scans])
    if not correction_first:
        graph.write([fix])
    trace = EmbeddedQueries(graph).trace(decl.shipment_id)
    assert [p.retracted for p in trace.passages] == [False, True, False]
    with pytest.raises(NotFound):
        EmbeddedQueries(graph).trace("SHP-none")

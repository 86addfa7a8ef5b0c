import re

from graph import cypher, project
from schemas import Rule, load_registry
from streams import load_detection_config, process
from tests.factories import ROUTE, declaration, scan


def test_a_declaration_projects_one_row_with_its_parties_and_ordered_route():
    decl = declaration()
    rows = project([decl])
    assert len(rows) == 1
    (row,) = rows.declarations
    assert (row["shipment_id"], row["event_id"]) == (decl.shipment_id, decl.event_id)
    assert row["categories"] == ["dietary_supplements"]
    assert row["declared_weight_kg"] == 1800.0
    assert row["route"] == ROUTE
    assert row["shipper"] == decl.shipper.model_dump()
    assert row["consignee"] == decl.consignee.model_dump()


def test_scan_projects_one_passage_carrying_its_event_id_and_time():
    ev = scan("SHP-1", "BN-TUSON", observed_weight_kg=1790, observed_plate="12C-345.67")
    rows = project([ev])
    assert rows.passages == [
        {
            "shipment_id": "SHP-1",
            "checkpoint_id": "BN-TUSON",
            "event_id": ev.event_id,
            "occurred_at": ev.occurred_at,
            "direction": "passing",
            "observed_weight_kg": 1790.0,
            "seal_status": "not_checked",
            "observed_plate": "12C-345.67",
        }
    ]


def test_alert_projects_with_its_evidence_ids():
    decl = declaration()
    off = scan(decl.shipment_id, "TN-THAINGUYEN")
    state = process(None, decl, load_detection_config(), load_registry()).state
    alert = process(state, off, load_detection_config(), load_registry()).alerts[0]
    rows = project([], [alert])
    assert rows.alerts[0]["rule"] == Rule.ROUTE_DEVIATION.value
    assert rows.alerts[0]["evidence_event_ids"] == [off.event_id]
    assert len(rows) == 1


def test_write_queries_take_values_only_as_parameters():
    # Every statement unwinds $rows and takes every value from it: no other parameter, and
    # no literal string that a value could have been formatted into.
    for name, query in cypher.WRITE_QUERIES.items():
        assert query.lstrip().startswith("UNWIND $rows AS row"), name
        assert set(re.findall(r"\$(\w+)", query)) == {"rows"}, name
        assert "'" not in query and '"' not in query, name
    assert list(cypher.WRITE_QUERIES) == list(project([]).statements())

"""EPCIS 2.0 -> contract v1, rule by rule, on test documents written from the standard."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from producers.epcis.locations import load_locations
from producers.epcis.mapping import identifier, map_document, read_document
from producers.exceptions import EpcisError
from schemas import (
    CargoTransferred,
    CheckpointScanned,
    CorrectionReason,
    EventCorrected,
    InspectionOutcome,
    InspectionRecorded,
)

DATA = Path(__file__).parents[2] / "data" / "epcis"
BOL = "epcis:urn:epcglobal:cbv:bt:8934567000005:BOL-2026-0042"


@pytest.fixture(scope="module")
def document():
    raw = (DATA / "border-crossing.jsonld").read_bytes()
    return json.loads(raw), map_document(read_document(raw), load_locations(None))


def _by_id(result, event_id):
    return next(e for e in result.events if e.event_id == event_id)


def test_arriving_object_event_becomes_an_inbound_scan_at_the_mapped_checkpoint(document):
    _, result = document
    scan = _by_id(result, "epcis:urn:uuid:3f0c2a7e-5d4b-4c1a-9e2f-0a1b2c3d4e5f")
    assert isinstance(scan, CheckpointScanned)
    assert scan.direction.value == "inbound"
    assert scan.checkpoint_id == "LS-HUUNGHI"  # readPoint through the location table
    assert scan.shipment_id == BOL  # the bill of lading, not the purchase order
    assert float(scan.observed_weight_kg) == 3180.0  # 3.18 TNE from the Mass sensor
    # eventTime in UTC, shown at its eventTimeZoneOffset, microseconds kept
    assert scan.occurred_at.isoformat() == "2026-11-25T07:55:00.123456+07:00"


def test_bizstep_as_urn_bizlocation_and_the_hash_event_id_form(document):
    raw, result = document
    ni = raw["epcisBody"]["eventList"][1]["eventID"]
    scan = _by_id(result, identifier(ni, "eid"))
    assert scan.event_id.startswith("epcis:eid:")  # ni:///... has characters ids cannot hold
    assert scan.direction.value == "outbound"  # urn:epcglobal:cbv:bizstep:departing
    assert scan.checkpoint_id == "BN-BACGIANG"  # from bizLocation
    assert scan.shipment_id == BOL  # bizTransaction type as a CBV URN
    assert scan.occurred_at.utcoffset() == timedelta(hours=7)


def test_inspecting_with_a_cbv_url_disposition_becomes_a_discrepancy(document):
    _, result = document
    inspection = _by_id(result, "epcis:urn:uuid:7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d")
    assert isinstance(inspection, InspectionRecorded)
    assert inspection.outcome == InspectionOutcome.DISCREPANCY
    assert inspection.findings[0].kind.value == "unsafe_or_expired"
    assert inspection.shipment_id == "epcis:urn:epc:id:sscc:8934567.0000000042"


def test_aggregation_and_transformation_between_logistic_units_become_transfers(document):
    _, result = document
    loading = _by_id(result, "epcis:urn:uuid:0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e")
    assert isinstance(loading, CargoTransferred)
    assert loading.shipment_id == "epcis:urn:epc:id:sscc:8934567.0000000042"
    assert loading.to_shipment_id == "epcis:urn:epc:id:sscc:8934567.0000000099"
    assert (loading.goods[0].quantity, loading.goods[0].unit) == (120, "CT")
    repack = _by_id(result, "epcis:urn:uuid:1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f")
    assert repack.shipment_id == loading.to_shipment_id
    assert repack.to_shipment_id == "epcis:urn:epc:id:sscc:8930001.0000000007"
    assert repack.checkpoint_id == "HN-DONGXUAN"


def test_an_event_without_event_id_gets_a_stable_content_id(document):
    raw, result = document
    scans = [e for e in result.events if e.event_id.startswith("epcis:content:")]
    assert len(scans) == 1
    again = map_document(read_document(json.dumps(raw)), load_locations(None))
    assert [e.event_id for e in again.events] == [e.event_id for e in result.events]


def test_error_declaration_becomes_a_correction_of_the_original(document):
    _, result = document
    correction = _by_id(result, "epcis:urn:uuid:3f0c2a7e-5d4b-4c1a-9e2f-0a1b2c3d4e5f.error")
    assert isinstance(correction, EventCorrected)
    assert correction.corrected_event_id == "epcis:urn:uuid:3f0c2a7e-5d4b-4c1a-9e2f-0a1b2c3d4e5f"
    assert correction.reason == CorrectionReason.INCORRECT_DATA
    assert correction.corrective_event_ids == [
        "epcis:urn:uuid:9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
    ]
    assert correction.shipment_id == BOL
    assert correction.occurred_at.isoformat() == "2026-11-25T08:30:00+07:00"


def test_what_cannot_be_mapped_is_rejected_with_the_reason(document):
    _, result = document
    reasons = {r.index: r.reason for r in result.rejects}
    assert set(reasons) == {5, 6, 8}
    assert "photographing" in reasons[5] and "no counterpart" in reasons[5]
    assert "urn:epc:id:sgln:4000001.00001.0" in reasons[6] and "location table" in reasons[6]
    assert "AssociationEvent" in reasons[8]
    assert len(result.events) == 7


def test_query_documents_are_read_too():
    raw = (DATA / "query-results.json").read_bytes()
    (event,) = map_document(read_document(raw), load_locations(None)).events
    assert event.direction.value == "outbound" and event.checkpoint_id == "LS-HUUNGHI"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"{not json", "not a JSON document"),
        (b"[]", "top level is not a JSON object"),
        (b'{"type": "EPCISMasterDataDocument", "schemaVersion": "2.0"}', "type must be"),
        (b'{"type": "EPCISDocument", "schemaVersion": "1.2", "epcisBody": {}}', "schemaVersion"),
        (b'{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {}}', "eventList"),
        (
            b'{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [1]}}',
            "eventList[0]",
        ),
    ],
)
def test_a_malformed_document_is_one_clear_error(doc, message):
    with pytest.raises(EpcisError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_document(doc)


def test_event_level_problems_name_the_field():
    base = json.loads((DATA / "query-results.json").read_text())
    event = base["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]
    cases = {
        "eventTimeZoneOffset": ("7", "eventTimeZoneOffset"),
        "eventTime": ("2026-11-25T03:00:00", "has no UTC offset"),
    }
    for field, (value, message) in cases.items():
        bad = {**event, field: value}
        (reject,) = map_document([bad], load_locations(None)).rejects
        assert message in reject.reason


def test_a_location_table_file_extends_the_default(tmp_path):
    table = tmp_path / "locations.csv"
    table.write_text("location,checkpoint_id\nurn:epc:id:sgln:4000001.00001.0,HN-NINHHIEP\n")
    assert load_locations(table)["urn:epc:id:sgln:4000001.00001.0"] == "HN-NINHHIEP"
    bad = tmp_path / "bad.json"
    bad.write_text('{"urn:x": "NOWHERE"}')
    with pytest.raises(EpcisError, match="NOWHERE"):
        load_locations(bad)

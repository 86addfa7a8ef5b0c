import json
from datetime import datetime

from producers.files import read_events
from schemas import CheckpointScanned, ShipmentDeclared, event_to_json
from tests.factories import declaration, scan


def test_jsonl_lines_are_numbered_and_blank_lines_skipped(tmp_path):
    decl = declaration()
    path = tmp_path / "in.jsonl"
    path.write_text(
        event_to_json(decl).decode() + "\n\n" + '{"event_type": "checkpoint.scanned"}\n',
        encoding="utf-8",
    )
    lines = list(read_events(path))
    assert [line.number for line in lines] == [1, 3]
    assert lines[0].event == decl
    assert lines[1].event is None and "event_id" in lines[1].error.reason


def test_csv_rows_become_events_with_json_cells_for_nested_fields(tmp_path):
    decl = declaration()
    data = json.loads(event_to_json(decl))
    path = tmp_path / "in.csv"
    header = ["event_id", "event_type", "schema_version", "occurred_at", "checkpoint_id",
              "shipment_id", "direction", "observed_weight_kg", "shipper", "consignee",
              "origin_country", "vehicle_plate", "driver_id", "goods", "declared_route",
              "destination_locality"]  # fmt: skip

    def cell(value):
        return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value

    rows = [
        {k: cell(data.get(k, "")) for k in header},
        {"event_id": "S1", "event_type": "checkpoint.scanned", "schema_version": "1",
         "occurred_at": "2026-11-25T08:00:00+07:00", "checkpoint_id": "LS-HUUNGHI",
         "shipment_id": decl.shipment_id, "direction": "inbound", "observed_weight_kg": "3180"},
        {"event_id": "S2", "event_type": "checkpoint.scanned",
         "occurred_at": "2026-11-25T08:00:00", "checkpoint_id": "LS-HUUNGHI",
         "shipment_id": decl.shipment_id, "direction": "inbound"},
    ]  # fmt: skip
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    lines = list(read_events(path))
    assert isinstance(lines[0].event, ShipmentDeclared) and lines[0].event == decl
    assert isinstance(lines[1].event, CheckpointScanned)
    assert str(lines[1].event.observed_weight_kg) == "3180"
    assert lines[2].event is None
    assert lines[2].error.problems[0]["field"] == "occurred_at"
    assert [line.number for line in lines] == [2, 3, 4]  # the header is line 1


def test_csv_scan_needs_no_json(tmp_path):
    path = tmp_path / "scans.csv"
    path.write_text(
        "event_id,event_type,occurred_at,checkpoint_id,shipment_id,direction\n"
        "E1,checkpoint.scanned,2026-11-25T08:00:00+07:00,LS-HUUNGHI,SHP-1,inbound\n",
        encoding="utf-8",
    )
    (line,) = read_events(path)
    expected = scan("SHP-1", "LS-HUUNGHI", 0, event_id="E1", direction="inbound",
                    observed_plate=None,
                    occurred_at=datetime.fromisoformat("2026-11-25T08:00:00+07:00"))  # fmt: skip
    assert line.event == expected

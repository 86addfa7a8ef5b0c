"""Read checkpoint events from files: JSON lines, or CSV.

CSV: the header names the event's fields; an empty cell means the field is absent; a cell
that starts with ``[`` or ``{`` is JSON (goods lines, parties, a declared route), so every
event type can be written as CSV, and scans need no JSON at all::

    event_id,event_type,occurred_at,checkpoint_id,shipment_id,direction,observed_weight_kg
    E1,checkpoint.scanned,2026-11-25T08:00:00+07:00,LS-HUUNGHI,SHP-1,inbound,3180
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas import Event, InvalidEventError, parse_event, validate_event


@dataclass(frozen=True)
class FileLine:
    """One line of an input file: the event, or why it was rejected."""

    number: int
    raw: str
    event: Event | None = None
    error: InvalidEventError | None = None


def detect_format(path: Path) -> str:
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def _csv_value(cell: str) -> object:
    cell = cell.strip()
    if cell[:1] in ("[", "{"):
        try:
            return json.loads(cell)
        except json.JSONDecodeError:
            return cell  # the contract's validation will name the field
    return cell


def _csv_record(row: dict[str, str | None]) -> dict[str, object]:
    record = {k.strip(): _csv_value(v) for k, v in row.items() if k and v not in (None, "")}
    if "schema_version" in record and str(record["schema_version"]).isdigit():
        record["schema_version"] = int(str(record["schema_version"]))
    return record


def read_events(path: Path, fmt: str | None = None) -> Iterator[FileLine]:
    """Each non-empty line (each CSV row) of ``path``, validated against the contract.

    Line numbers are the file's: for CSV the header is line 1.
    """
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                raw = json.dumps(row, ensure_ascii=False)
                try:
                    event = validate_event(_csv_record(row))
                    yield FileLine(reader.line_num, raw, event=event)
                except InvalidEventError as exc:
                    yield FileLine(reader.line_num, raw, error=exc)
        return
    with path.open("rb") as binary:  # each line decoded alone: one bad byte costs one line
        for number, data in enumerate(binary, start=1):
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                why = f"not UTF-8 at byte {exc.start + 1} of the line"
                yield FileLine(number, data.decode("utf-8", "replace").rstrip("\r\n"),
                               error=InvalidEventError(why))  # fmt: skip
                continue
            if not line.strip():
                continue
            try:
                yield FileLine(number, line.rstrip("\r\n"), event=parse_event(line))
            except InvalidEventError as exc:
                yield FileLine(number, line.rstrip("\r\n"), error=exc)

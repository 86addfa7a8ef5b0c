"""Map GS1 EPCIS 2.0 JSON / JSON-LD documents to contract-v1 events. Pure.

Rule by rule (docs/EPCIS.md has the full table):

- Document: ``type`` EPCISDocument (events in ``epcisBody.eventList``) or EPCISQueryDocument
  (in ``epcisBody.queryResults.resultsBody.eventList``), ``schemaVersion`` 2.x. Anything
  else raises EpcisError and nothing of the document is imported.
- Identity: ``eventID`` (a ``urn:uuid:`` or the standard's ``ni:///sha-256;...`` hash form)
  becomes ``event_id`` deterministically, so re-importing a document changes nothing.
  Without an eventID, a hash of the event's content (errorDeclaration excluded) is used.
- Time: ``eventTime`` shown at ``eventTimeZoneOffset`` (the event keeps its local offset;
  microseconds are kept).
- Where: ``readPoint.id``, else ``bizLocation.id``, through the location table.
- Which shipment: a bizTransaction of type ``bol`` (bill of lading) or ``desadv`` (despatch
  advice), else ``parentID``, else the only SSCC among the EPCs.
- What: bizStep shipping/departing/loading (outbound), arriving/receiving/accepting/unloading
  (inbound), transporting (passing) -> checkpoint.scanned; inspecting -> inspection.recorded
  (outcome from the disposition); an AggregationEvent that loads or packs other logistic
  units (SSCCs) into its parent, or a TransformationEvent from input to output SSCCs ->
  cargo.transferred. A weight sensor reading (type Mass) -> observed_weight_kg.
- ``errorDeclaration`` (on a copy of the erroneous event, as the standard prescribes) ->
  event.corrected of the original, reason incorrect_data or did_not_occur, with the
  correctiveEventIDs mapped the same way.
- Namespaced vendor extensions are ignored. Anything that cannot be mapped is rejected with
  the reason; the other events of the document are still imported.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from producers.epcis.vocabulary import (
    ERROR_REASONS,
    INSPECTING,
    INSPECTION_DISPOSITIONS,
    KG_PER_UOM,
    MASS_TYPES,
    SCAN_STEPS,
    SHIPMENT_TRANSACTIONS,
    TRANSFER_STEPS,
    cbv_word,
)
from producers.exceptions import EpcisError
from schemas import Event, InvalidEventError, validate_event

MAPPED_TYPES = ("ObjectEvent", "AggregationEvent", "TransformationEvent")
_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,110}$")
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
SSCC = "urn:epc:id:sscc:"


class MappingError(Exception):
    """One EPCIS event cannot be mapped; the message is the reason."""


@dataclass(frozen=True)
class Reject:
    index: int  # position in the eventList
    epcis_event_id: str | None
    reason: str
    event: dict[str, Any]


@dataclass
class ImportResult:
    events: list[Event] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def read_document(raw: bytes | str) -> list[dict[str, Any]]:
    """The event list of an EPCIS 2.0 document; EpcisError when the document is malformed."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EpcisError(f"not a JSON document: {exc}") from None
    if not isinstance(doc, dict):
        raise EpcisError("not an EPCIS document: the top level is not a JSON object")
    kind = doc.get("type")
    if kind not in ("EPCISDocument", "EPCISQueryDocument"):
        raise EpcisError(f"type must be EPCISDocument or EPCISQueryDocument, got {kind!r}")
    if not str(doc.get("schemaVersion", "")).startswith("2"):
        raise EpcisError(f"schemaVersion must be 2.x, got {doc.get('schemaVersion')!r}")
    body = doc.get("epcisBody")
    if not isinstance(body, dict):
        raise EpcisError("epcisBody is missing or not an object")
    if kind == "EPCISQueryDocument":
        body = (body.get("queryResults") or {}).get("resultsBody") or {}
    events = body.get("eventList")
    if not isinstance(events, list):
        raise EpcisError("the eventList is missing or not a list")
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise EpcisError(f"eventList[{i}] is not an object")
    return events


def _hash_id(prefix: str, text: str) -> str:
    return f"epcis:{prefix}:{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def identifier(value: str, prefix: str = "id") -> str:
    """``value`` if it is a valid contract identifier (prefixed), else a stable hash of it."""
    return f"epcis:{value}" if _ID.match(value) else _hash_id(prefix, value)


def event_id_of(ev: dict[str, Any]) -> str:
    eid = ev.get("eventID")
    if isinstance(eid, str) and eid:
        return identifier(eid, "eid")
    content = {k: v for k, v in ev.items() if k not in ("errorDeclaration", "eventID")}
    return _hash_id("content", json.dumps(content, sort_keys=True, ensure_ascii=False))


def _offset(value: object) -> timezone:
    match = _OFFSET.match(value) if isinstance(value, str) else None
    if not match:
        raise MappingError(f"eventTimeZoneOffset {value!r} is not of the form +HH:MM")
    sign = 1 if match.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


def _time(value: object, tz: timezone, name: str) -> str:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise MappingError(f"{name} {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise MappingError(f"{name} {value!r} has no UTC offset")
    return when.astimezone(tz).isoformat()


def _checkpoint(ev: dict[str, Any], locations: dict[str, str]) -> str:
    ids = [
        place.get("id")
        for place in (ev.get("readPoint"), ev.get("bizLocation"))
        if isinstance(place, dict)
    ]
    for location in ids:
        if location in locations:
            return locations[location]
    if not ids:
        raise MappingError("no readPoint or bizLocation: cannot tell which checkpoint")
    raise MappingError(
        f"location {ids[0]!r} is not in the location table (--locations): cannot tell which "
        f"checkpoint"
    )


def _epcs(ev: dict[str, Any], *keys: str) -> list[str]:
    return [e for key in keys for e in ev.get(key) or [] if isinstance(e, str)]


def _shipment(ev: dict[str, Any]) -> str:
    transactions = [t for t in ev.get("bizTransactionList") or [] if isinstance(t, dict)]
    for wanted in SHIPMENT_TRANSACTIONS:
        for t in transactions:
            if cbv_word(t.get("type"), "btt") == wanted and t.get("bizTransaction"):
                return identifier(str(t["bizTransaction"]), "bt")
    if isinstance(ev.get("parentID"), str):
        return identifier(ev["parentID"], "parent")
    ssccs = [e for e in _epcs(ev, "epcList", "childEPCs") if e.startswith(SSCC)]
    if len(ssccs) == 1:
        return identifier(ssccs[0], "sscc")
    raise MappingError(
        "cannot tell which shipment: no bizTransaction of type bol or desadv, no parentID, "
        f"and {len(ssccs)} SSCCs among the EPCs (exactly one is needed)"
    )


def _weight_kg(ev: dict[str, Any]) -> float | None:
    for element in ev.get("sensorElementList") or []:
        for report in (element or {}).get("sensorReport") or []:
            if report.get("type") in MASS_TYPES and "value" in report:
                factor = KG_PER_UOM.get(report.get("uom", "KGM"))
                if factor is None:
                    raise MappingError(f"weight unit {report.get('uom')!r} is not supported")
                return round(float(report["value"]) * factor, 3)
    return None


def _goods(quantities: object, count: int) -> list[dict[str, Any]]:
    goods = [
        {
            "category": "other",
            "quantity": q["quantity"],
            "unit": str(q.get("uom", "EA")),
            "description": str(q.get("epcClass", ""))[:500],
        }
        for q in quantities or []  # type: ignore[attr-defined]
        if isinstance(q, dict) and "quantity" in q
    ]
    return goods or [{"category": "other", "quantity": max(count, 1), "unit": "EA"}]


def _transfers(ev: dict[str, Any], base: dict[str, Any]) -> list[dict[str, Any]]:
    if ev["type"] == "TransformationEvent":
        sources = [e for e in _epcs(ev, "inputEPCList") if e.startswith(SSCC)]
        targets = [e for e in _epcs(ev, "outputEPCList") if e.startswith(SSCC)]
        quantities = ev.get("inputQuantityList")
    else:
        sources = [e for e in _epcs(ev, "childEPCs") if e.startswith(SSCC)]
        targets = [ev["parentID"]] if isinstance(ev.get("parentID"), str) else []
        quantities = ev.get("childQuantityList")
    if not sources or not targets:
        raise MappingError(f"{ev['type']} does not move logistic units (SSCCs) between shipments")
    to = identifier(targets[0], "sscc")
    goods = _goods(quantities, len(_epcs(ev, "childEPCs", "inputEPCList")))
    return [
        {
            **base,
            "event_id": f"{base['event_id']}.{n}" if len(sources) > 1 else base["event_id"],
            "event_type": "cargo.transferred",
            "shipment_id": identifier(source, "sscc"),
            "to_shipment_id": to,
            "goods": goods,
        }
        for n, source in enumerate(sources)
        if identifier(source, "sscc") != to
    ]


def _corrections(
    ev: dict[str, Any],
    error: dict[str, Any],
    tz: timezone,
    checkpoint: str,
    locations: dict[str, str],
) -> list[dict[str, Any]]:
    """An error declaration repeats the erroneous event: retract whatever it mapped to."""
    reason = ERROR_REASONS.get(cbv_word(error.get("reason"), "er") or "")
    if reason is None:
        raise MappingError(f"error reason {error.get('reason')!r} has no counterpart")
    corrective = [identifier(str(c), "eid") for c in error.get("correctiveEventIDs") or []]
    declared = _time(error.get("declarationTime"), tz, "declarationTime")
    original = map_event({k: v for k, v in ev.items() if k != "errorDeclaration"}, locations)
    return [
        {
            "event_id": f"{mapped['event_id']}.error",
            "event_type": "event.corrected",
            "occurred_at": declared,
            "checkpoint_id": checkpoint,
            "shipment_id": mapped["shipment_id"],
            "corrected_event_id": mapped["event_id"],
            "reason": reason,
            "corrective_event_ids": corrective,
            "note": "EPCIS errorDeclaration",
        }
        for mapped in original
    ]


def map_event(ev: dict[str, Any], locations: dict[str, str]) -> list[dict[str, Any]]:
    """Contract-v1 event dicts (not yet validated) for one EPCIS event; MappingError when it
    cannot be mapped."""
    kind = ev.get("type")
    if kind not in MAPPED_TYPES:
        raise MappingError(f"{kind or 'an event without a type'} is not mapped to contract v1")
    tz = _offset(ev.get("eventTimeZoneOffset"))
    event_id = event_id_of(ev)
    checkpoint = _checkpoint(ev, locations)
    step = cbv_word(ev.get("bizStep"), "bizstep")
    base: dict[str, Any] = {
        "event_id": event_id,
        "occurred_at": _time(ev.get("eventTime"), tz, "eventTime"),
        "checkpoint_id": checkpoint,
    }
    error = ev.get("errorDeclaration")
    if isinstance(error, dict):
        return _corrections(ev, error, tz, checkpoint, locations)
    if kind == "TransformationEvent" or (kind == "AggregationEvent" and step in TRANSFER_STEPS):
        return _transfers(ev, base)
    if step in SCAN_STEPS:
        scan = {**base, "event_type": "checkpoint.scanned", "shipment_id": _shipment(ev),
                "direction": SCAN_STEPS[step]}  # fmt: skip
        weight = _weight_kg(ev)
        if weight is not None:
            scan["observed_weight_kg"] = weight
        return [scan]
    if step == INSPECTING:
        disposition = cbv_word(ev.get("disposition"), "disp")
        if disposition not in INSPECTION_DISPOSITIONS:
            raise MappingError(
                f"inspecting with disposition {ev.get('disposition')!r} is not mapped"
            )
        outcome, finding = INSPECTION_DISPOSITIONS[disposition]
        inspection = {**base, "event_type": "inspection.recorded", "shipment_id": _shipment(ev),
                      "outcome": outcome}  # fmt: skip
        if finding:
            inspection["findings"] = [
                {"kind": finding, "description": f"EPCIS disposition {disposition}"}
            ]
        weight = _weight_kg(ev)
        if weight is not None:
            inspection["measured_weight_kg"] = weight
        return [inspection]
    raise MappingError(f"bizStep {ev.get('bizStep')!r} has no counterpart in contract v1")


def map_document(events: list[dict[str, Any]], locations: dict[str, str]) -> ImportResult:
    """Map and validate every event; collect what cannot be mapped with the reason."""
    result = ImportResult()
    for index, ev in enumerate(events):
        eid = ev.get("eventID") if isinstance(ev.get("eventID"), str) else None
        try:
            mapped = [validate_event(m) for m in map_event(ev, locations)]
        except MappingError as exc:
            result.rejects.append(Reject(index, eid, str(exc), ev))
            continue
        except InvalidEventError as exc:
            result.rejects.append(
                Reject(index, eid, f"mapped event breaks contract v1: {exc.reason}", ev)
            )
            continue
        result.events.extend(mapped)
    return result
